#!/usr/bin/env bash
# Copies the Label Studio Frontend editor bundle from node_modules (installed
# by `npm ci` from the pinned package-lock.json) into ui/static/vendor, where
# `go build` embeds it. The files are checked against the hashes of the
# published 1.4.0 release, so a changed package cannot slip in unnoticed.
set -euo pipefail
cd "$(dirname "$0")/.."

version=1.4.0
src=node_modules/@heartexlabs/label-studio
dst=ui/static/vendor/lsf/$version

if [ ! -f "$src/package.json" ]; then
  echo "ui/build.sh: $src is missing; run \`npm ci\` first" >&2
  exit 1
fi
got=$(node -p "require('./$src/package.json').version")
if [ "$got" != "$version" ]; then
  echo "ui/build.sh: $src is version $got, want $version" >&2
  exit 1
fi

sha256sum --check --quiet - <<SUMS
231219b8ed42826185320d13d907615cc1e3f16755b6a5af62117611453a39ef  $src/build/static/js/main.js
818ed51653bd39069e2fe0204fb84aa7095a5e47db27cae8fad7490bf59c88a8  $src/build/static/css/main.css
SUMS

mkdir -p "$dst"
cp "$src/build/static/js/main.js" "$src/build/static/js/main.js.LICENSE.txt" "$src/LICENSE" "$dst/"
# The stylesheet's global reset is confined to the editor's container
# (label.js gives it the class lsf-editor), so the rest of the page keeps
# blobmark's own look.
node ui/scope-editor-css.mjs .lsf-editor <"$src/build/static/css/main.css" >"$dst/main.css"
