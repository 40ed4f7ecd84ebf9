# blobmark container image: one static binary with the web UI embedded, on a
# distroless base, running as the nonroot user (UID 65532) the Helm chart
# expects. Build from the repository root:
#
#   docker build -t blobmark:dev --build-arg VERSION=dev .
#
# The chart passes `serve` or `worker` as arguments and sets BLOBMARK_*
# variables; the defaults below serve on :8080 with data in /data.

# The annotator bundle comes from npm (pinned by package-lock.json) and is
# checked against the release's hashes by ui/build.sh.
FROM node:20-bookworm AS ui
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY ui/build.sh ui/build.sh
RUN bash ui/build.sh

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
COPY --from=ui /src/ui/static/vendor ui/static/vendor
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/blobmark ./cmd/blobmark \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/blobmark /usr/local/bin/blobmark
# The SQLite data directory; mount a volume here (the chart does).
COPY --from=build --chown=65532:65532 /out/data /data
ENV BLOBMARK_ADDR=:8080 \
    BLOBMARK_DATA_DIR=/data
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["blobmark"]
CMD ["serve"]
