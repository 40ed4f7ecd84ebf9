// Command chart lints and renders a Helm chart the way `helm lint` and
// `helm template` do, through the same Helm library functions those
// commands call, for the deployment tests in the main module:
//
//	chart lint [--strict] [--namespace NS] [--set K=V]... DIR
//	chart template [--namespace NS] [--set K=V]... RELEASE DIR
//
// It exists because building the helm command from source takes minutes on
// a machine that never built it (its Kubernetes client, registry and
// plugin code is three quarters of the build), and the tests need none of
// that: linting and client-only rendering use Helm's chart loader,
// template engine, values, lint rules and manifest sorter, which this
// command links alone.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/strvals"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

// sets collects repeated --set flags, parsed as helm parses them.
type sets map[string]any

func (s sets) String() string     { return "" }
func (s sets) Set(v string) error { return strvals.ParseInto(v, s) }

func run(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: chart lint|template [flags] ...")
	}
	fs := flag.NewFlagSet("chart "+args[0], flag.ContinueOnError)
	vals := sets{}
	fs.Var(vals, "set", "a value, as helm --set takes it (repeatable)")
	namespace := fs.String("namespace", "default", "the release namespace")
	strict := fs.Bool("strict", false, "lint: fail on warnings too")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch {
	case args[0] == "lint" && fs.NArg() == 1:
		return lintChart(out, fs.Arg(0), vals, *namespace, *strict)
	case args[0] == "template" && fs.NArg() == 2:
		return template(out, fs.Arg(0), fs.Arg(1), vals, *namespace)
	}
	return fmt.Errorf("usage: chart lint [flags] DIR | chart template [flags] RELEASE DIR (got %q)", args)
}

// lintChart is `helm lint`: every message printed, and a failure for an
// error (or, with strict, a warning), as action.Lint decides.
func lintChart(out io.Writer, dir string, vals map[string]any, namespace string, strict bool) error {
	if _, err := os.Stat(dir + "/Chart.yaml"); err != nil {
		return fmt.Errorf("unable to check Chart.yaml file in chart: %w", err)
	}
	lowest := support.ErrorSev
	if strict {
		lowest = support.WarningSev
	}
	linter := lint.AllWithKubeVersionAndSchemaValidation(dir, vals, namespace, nil, false)
	failed := 0
	fmt.Fprintf(out, "==> Linting %s\n", dir)
	for _, m := range linter.Messages {
		fmt.Fprintln(out, m)
		if m.Severity >= lowest {
			failed = 1
		}
	}
	fmt.Fprintf(out, "\n1 chart(s) linted, %d chart(s) failed\n", failed)
	if failed > 0 {
		return errors.New("1 chart(s) failed linting")
	}
	return nil
}

// template is `helm template` (client-only install rendering): values
// coalesced and checked against the schema, templates rendered, NOTES.txt
// left out, manifests parsed and printed in install order, then hooks.
func template(out io.Writer, release, dir string, vals map[string]any, namespace string) error {
	ch, err := loader.Load(dir)
	if err != nil {
		return err
	}
	if err := chartutil.ProcessDependenciesWithMerge(ch, vals); err != nil {
		return err
	}
	caps := chartutil.DefaultCapabilities.Copy()
	if ch.Metadata.KubeVersion != "" && !chartutil.IsCompatibleRange(ch.Metadata.KubeVersion, caps.KubeVersion.String()) {
		return fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", ch.Metadata.KubeVersion, caps.KubeVersion.String())
	}
	values, err := chartutil.ToRenderValuesWithSchemaValidation(ch, vals,
		chartutil.ReleaseOptions{Name: release, Namespace: namespace, Revision: 1, IsInstall: true}, caps, false)
	if err != nil {
		return err
	}
	files, err := engine.Render(ch, values)
	if err != nil {
		return err
	}
	for name := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return err
	}
	for _, m := range manifests {
		fmt.Fprintf(out, "---\n# Source: %s\n%s\n", m.Name, m.Content)
	}
	for _, h := range hooks {
		fmt.Fprintf(out, "---\n# Source: %s\n%s\n", h.Path, h.Manifest)
	}
	return nil
}
