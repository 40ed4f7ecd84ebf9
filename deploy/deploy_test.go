package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// deployDir is this package's directory, found from the source file so the
// tests work whatever directory go test runs them from.
func deployDir(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test's source file")
	}
	return filepath.Dir(file)
}

// tools maps each tool's name to its executable. The tools module
// (deploy/tools) declares chart (helm lint and helm template through Helm's
// own library, without the minutes of building the whole helm command) and
// yamltojson with go tool directives; the first `go -C deploy/tools tool -n
// NAME` builds one and every later call, in this run or the next, returns
// go's cached executable, so the tests that run in parallel share one build.
var tools struct {
	once      sync.Once
	path      map[string]string
	buildErr  error
	buildLogs string
}

// tool returns the executable of a tools-module tool, building it on first
// use. Failing to build fails the test: a chart check that silently skips is
// no check.
func tool(t *testing.T, name string) string {
	t.Helper()
	tools.once.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		tools.path = map[string]string{}
		for _, n := range []string{"chart", "yamltojson"} {
			cmd := exec.Command(goBin, "-C", filepath.Join(deployDir(t), "tools"), "tool", "-n", n)
			cmd.Env = append(os.Environ(), "GOWORK=off")
			var out, errOut bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			if err := cmd.Run(); err != nil {
				tools.buildErr = fmt.Errorf("go -C deploy/tools tool -n %s: %w", n, err)
				tools.buildLogs = errOut.String()
				return
			}
			tools.path[n] = strings.TrimSpace(out.String())
		}
	})
	if tools.buildErr != nil {
		t.Fatalf("%v\n%s", tools.buildErr, tools.buildLogs)
	}
	return tools.path[name]
}

// runTool runs one of the built tools with stdin, and returns its stdout and
// stderr.
func runTool(t *testing.T, stdin []byte, name string, args ...string) (stdout []byte, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(tool(t, name), args...)
	var out, errOut bytes.Buffer
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.Bytes(), errOut.String(), err
}

// helm runs `chart` (helm lint or helm template) and fails the test if it
// does not succeed.
func helm(t *testing.T, args ...string) []byte {
	t.Helper()
	out, stderr, err := runTool(t, nil, "chart", args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s\n%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

func chartDir(t *testing.T) string { return filepath.Join(deployDir(t), "helm", "blobmark") }

// manifest is one rendered Kubernetes object, as decoded JSON.
type manifest map[string]any

// get walks a path of map keys and list indexes ("spec", "containers", 0).
func (m manifest) get(path ...any) any {
	var cur any = map[string]any(m)
	for _, p := range path {
		switch k := p.(type) {
		case string:
			mm, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = mm[k]
		case int:
			l, ok := cur.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			cur = l[k]
		}
	}
	return cur
}

func (m manifest) kind() string { s, _ := m.get("kind").(string); return s }
func (m manifest) name() string { s, _ := m.get("metadata", "name").(string); return s }

// parseYAML converts a YAML stream to manifests with the tools module's
// converter.
func parseYAML(t *testing.T, yamlText []byte) []manifest {
	t.Helper()
	out, stderr, err := runTool(t, yamlText, "yamltojson")
	if err != nil {
		t.Fatalf("yamltojson: %v\n%s", err, stderr)
	}
	var docs []manifest
	if err := json.Unmarshal(out, &docs); err != nil {
		t.Fatalf("yamltojson output is not a JSON array: %v", err)
	}
	return docs
}

// render runs helm template with --set values and parses the result.
func render(t *testing.T, sets ...string) []manifest {
	t.Helper()
	args := []string{"template", "--namespace", "labeling"}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	docs := parseYAML(t, helm(t, append(args, "rel", chartDir(t))...))
	if len(docs) == 0 {
		t.Fatal("helm template rendered no objects")
	}
	return docs
}

func find(t *testing.T, docs []manifest, kind, name string) manifest {
	t.Helper()
	for _, d := range docs {
		if d.kind() == kind && d.name() == name {
			return d
		}
	}
	var have []string
	for _, d := range docs {
		have = append(have, d.kind()+"/"+d.name())
	}
	t.Fatalf("no %s/%s among the rendered objects: %s", kind, name, strings.Join(have, ", "))
	return nil
}

func count(docs []manifest, kind string) int {
	n := 0
	for _, d := range docs {
		if d.kind() == kind {
			n++
		}
	}
	return n
}

// equal fails the test when the value at path differs from want (compared
// after JSON decoding: numbers are float64).
func equal(t *testing.T, m manifest, want any, path ...any) {
	t.Helper()
	if got := m.get(path...); got != want {
		t.Errorf("%s/%s %v = %#v, want %#v", m.kind(), m.name(), path, got, want)
	}
}

// workloadIdentityValues is a several-replica AKS deployment: PostgreSQL with
// Entra ID auth, workload identity, a worker Deployment and a ServiceMonitor.
var workloadIdentityValues = []string{
	"database.url=postgres://blobmark-id@pg.postgres.database.azure.com:5432/blobmark?sslmode=require",
	"database.azureAuth=true",
	"secretKey.value=c2VjcmV0LWtleS1zZWNyZXQta2V5LXNlY3JldC1rZXk=",
	"workloadIdentity.enabled=true",
	"workloadIdentity.clientId=00000000-1111-2222-3333-444444444444",
	"serviceAccount.name=blobmark",
	"worker.enabled=true",
	"serviceMonitor.enabled=true",
	"config.serverIdentityAllow={acct/images,acct/labels}",
}

func TestHelmLintAcceptsTheChart(t *testing.T) {
	t.Parallel()
	for name, sets := range map[string][]string{
		"sqlite defaults":             nil,
		"workload identity, postgres": workloadIdentityValues,
		"metrics on their own port":   append([]string{"metricsPort=9090", "config.trustedProxies={10.0.0.0/8}"}, workloadIdentityValues...),
	} {
		args := []string{"lint", "--strict"}
		for _, s := range sets {
			args = append(args, "--set", s)
		}
		out := helm(t, append(args, chartDir(t))...)
		if !bytes.Contains(out, []byte("0 chart(s) failed")) {
			t.Errorf("%s: helm lint output does not report success:\n%s", name, out)
		}
	}
}

func TestHelmTemplateWorkloadIdentity(t *testing.T) {
	t.Parallel()
	docs := render(t, workloadIdentityValues...)
	const clientID = "00000000-1111-2222-3333-444444444444"

	sa := find(t, docs, "ServiceAccount", "blobmark")
	equal(t, sa, clientID, "metadata", "annotations", "azure.workload.identity/client-id")

	api := find(t, docs, "Deployment", "rel-blobmark")
	worker := find(t, docs, "Deployment", "rel-blobmark-worker")
	equal(t, api, 2.0, "spec", "replicas")
	for _, d := range []manifest{api, worker} {
		pod := func(path ...any) []any { return append([]any{"spec", "template", "spec"}, path...) }
		equal(t, d, "true", "spec", "template", "metadata", "labels", "azure.workload.identity/use")
		equal(t, d, "blobmark", pod("serviceAccountName")...)
		equal(t, d, true, pod("securityContext", "runAsNonRoot")...)
		equal(t, d, "RuntimeDefault", pod("securityContext", "seccompProfile", "type")...)
		c := pod("containers", 0)
		equal(t, d, "/healthz", append(c, "livenessProbe", "httpGet", "path")...)
		equal(t, d, "/readyz", append(c, "readinessProbe", "httpGet", "path")...)
		equal(t, d, true, append(c, "securityContext", "runAsNonRoot")...)
		equal(t, d, true, append(c, "securityContext", "readOnlyRootFilesystem")...)
		equal(t, d, false, append(c, "securityContext", "allowPrivilegeEscalation")...)
		equal(t, d, "ALL", append(c, "securityContext", "capabilities", "drop", 0)...)
		equal(t, d, "RuntimeDefault", append(c, "securityContext", "seccompProfile", "type")...)
		if d.get(append(c, "resources", "requests")...) == nil || d.get(append(c, "resources", "limits")...) == nil {
			t.Errorf("%s: container has no resource requests and limits", d.name())
		}
		// The data directory is writable although the root filesystem is not.
		equal(t, d, "/var/lib/blobmark", append(c, "volumeMounts", 0, "mountPath")...)
		if d.get(pod("volumes", 0, "emptyDir")...) == nil {
			t.Errorf("%s: with PostgreSQL the data directory should be an emptyDir, got %v", d.name(), d.get(pod("volumes", 0)...))
		}
		// The database URL and the secret key come from the Secret, never the ConfigMap.
		env := map[string]any{}
		envList, _ := d.get(append(c, "env")...).([]any)
		for _, e := range envList {
			e := e.(map[string]any)
			env[e["name"].(string)] = manifest(e).get("valueFrom", "secretKeyRef", "name")
		}
		for _, name := range []string{"BLOBMARK_DATABASE_URL", "BLOBMARK_SECRET_KEY"} {
			if env[name] != "rel-blobmark" {
				t.Errorf("%s: %s should come from Secret rel-blobmark, got %v", d.name(), name, env[name])
			}
		}
	}
	equal(t, api, "serve", "spec", "template", "spec", "containers", 0, "args", 0)
	equal(t, worker, "worker", "spec", "template", "spec", "containers", 0, "args", 0)

	cm := find(t, docs, "ConfigMap", "rel-blobmark")
	equal(t, cm, "true", "data", "BLOBMARK_DATABASE_AZURE_AUTH")
	equal(t, cm, "acct/images,acct/labels", "data", "BLOBMARK_SERVER_IDENTITY_ALLOW")
	equal(t, cm, ":8080", "data", "BLOBMARK_ADDR")
	for k := range cm.get("data").(map[string]any) {
		if k == "BLOBMARK_DATABASE_URL" || k == "BLOBMARK_SECRET_KEY" {
			t.Errorf("ConfigMap holds the secret %s", k)
		}
	}
	secret := find(t, docs, "Secret", "rel-blobmark")
	for _, k := range []string{"database-url", "secret-key"} {
		if secret.get("data", k) == nil {
			t.Errorf("Secret has no %s", k)
		}
	}

	sm := find(t, docs, "ServiceMonitor", "rel-blobmark")
	equal(t, sm, "/metrics", "spec", "endpoints", 0, "path")
	equal(t, sm, "http", "spec", "endpoints", 0, "port")
	if _, ok := cm.get("data", "BLOBMARK_METRICS_ADDR").(string); ok {
		t.Error("without metricsPort the ConfigMap moves /metrics off the API port")
	}
	if n := count(docs, "PersistentVolumeClaim"); n != 0 {
		t.Errorf("PostgreSQL mode rendered %d PersistentVolumeClaims, want none", n)
	}
	find(t, docs, "PodDisruptionBudget", "rel-blobmark")
}

// TestHelmTemplateMetricsPort checks that metricsPort serves /metrics on a
// port of its own that the ServiceMonitor scrapes and the API Service (and
// so the ingress) does not expose, and that trustedProxies reach the pods.
func TestHelmTemplateMetricsPort(t *testing.T) {
	t.Parallel()
	docs := render(t, append([]string{"metricsPort=9090", "ingress.enabled=true", "config.trustedProxies={10.244.0.0/16}"},
		workloadIdentityValues...)...)

	cm := find(t, docs, "ConfigMap", "rel-blobmark")
	equal(t, cm, ":9090", "data", "BLOBMARK_METRICS_ADDR")
	equal(t, cm, ":8080", "data", "BLOBMARK_ADDR")
	equal(t, cm, "10.244.0.0/16", "data", "BLOBMARK_TRUSTED_PROXIES")
	for _, name := range []string{"rel-blobmark", "rel-blobmark-worker"} {
		d := find(t, docs, "Deployment", name)
		ports := []any{"spec", "template", "spec", "containers", 0, "ports"}
		equal(t, d, "http", append(ports, 0, "name")...)
		equal(t, d, "metrics", append(ports, 1, "name")...)
		equal(t, d, 9090.0, append(ports, 1, "containerPort")...)
	}
	sm := find(t, docs, "ServiceMonitor", "rel-blobmark")
	equal(t, sm, "metrics", "spec", "endpoints", 0, "port")
	equal(t, sm, "/metrics", "spec", "endpoints", 0, "path")
	scraped := find(t, docs, "Service", "rel-blobmark-metrics")
	equal(t, scraped, "metrics", "spec", "ports", 0, "name")
	equal(t, scraped, 9090.0, "spec", "ports", 0, "port")
	equal(t, scraped, "metrics", "spec", "ports", 0, "targetPort")

	// The Service the ingress routes to exposes the API port only.
	api := find(t, docs, "Service", "rel-blobmark")
	ports, _ := api.get("spec", "ports").([]any)
	if len(ports) != 1 || manifest(ports[0].(map[string]any)).get("targetPort") != "http" {
		t.Errorf("the API Service exposes %v, want the http port alone", ports)
	}
	equal(t, find(t, docs, "Ingress", "rel-blobmark"), "http", "spec", "rules", 0, "http", "paths", 0, "backend", "service", "port", "name")
}

func TestHelmTemplateSQLiteIsOneReplicaOnAVolume(t *testing.T) {
	t.Parallel()
	docs := render(t)
	api := find(t, docs, "Deployment", "rel-blobmark")
	equal(t, api, 1.0, "spec", "replicas")
	equal(t, api, "Recreate", "spec", "strategy", "type")
	equal(t, api, "rel-blobmark-data", "spec", "template", "spec", "volumes", 0, "persistentVolumeClaim", "claimName")
	equal(t, api, nil, "spec", "template", "metadata", "labels", "azure.workload.identity/use")
	equal(t, api, "/healthz", "spec", "template", "spec", "containers", 0, "livenessProbe", "httpGet", "path")
	equal(t, api, "/readyz", "spec", "template", "spec", "containers", 0, "readinessProbe", "httpGet", "path")
	find(t, docs, "PersistentVolumeClaim", "rel-blobmark-data")
	sa := find(t, docs, "ServiceAccount", "rel-blobmark")
	equal(t, sa, nil, "metadata", "annotations")
	for _, kind := range []string{"Secret", "PodDisruptionBudget", "ServiceMonitor"} {
		if n := count(docs, kind); n != 0 {
			t.Errorf("SQLite defaults rendered %d %s objects, want none", n, kind)
		}
	}
	if n := count(docs, "Deployment"); n != 1 {
		t.Errorf("SQLite defaults rendered %d Deployments, want 1 (no worker)", n)
	}
}

// TestHelmTemplateRefusesBrokenSettings checks that settings which would
// start a broken deployment fail the render with the fix in the message.
func TestHelmTemplateRefusesBrokenSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		sets []string
		want string
	}{
		{"sqlite with two replicas", []string{"replicaCount=2"}, "embedded SQLite runs exactly one replica"},
		{"postgres without a secret key", []string{"database.url=postgres://h/db"}, "share one secret key"},
		{"worker without postgres", []string{"worker.enabled=true"}, "worker.enabled needs PostgreSQL"},
		{"no-jobs on sqlite", []string{"noJobs=true"}, "noJobs needs PostgreSQL"},
		{"azure auth without a database", []string{"database.azureAuth=true"}, "database.azureAuth needs database.url"},
		{"workload identity without a client id", []string{"workloadIdentity.enabled=true"}, "workloadIdentity.clientId"},
	} {
		args := []string{"template"}
		for _, s := range tc.sets {
			args = append(args, "--set", s)
		}
		out, stderr, err := runTool(t, nil, "chart", append(args, "rel", chartDir(t))...)
		if err == nil {
			t.Errorf("%s: helm template succeeded, want a failure:\n%s", tc.name, out)
			continue
		}
		if !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: helm template failed without %q:\n%s", tc.name, tc.want, stderr)
		}
	}
}

// unitDirectives reads a systemd unit into directive → values.
func unitDirectives(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("unit line %q is not KEY=VALUE", line)
			continue
		}
		d[k] = append(d[k], v)
	}
	return d
}

func TestSystemdUnitIsHardened(t *testing.T) {
	t.Parallel()
	d := unitDirectives(t, filepath.Join(deployDir(t), "systemd", "blobmark.service"))
	for k, want := range map[string]string{
		"ExecStart":              "/usr/local/bin/blobmark serve",
		"EnvironmentFile":        "-/etc/blobmark/blobmark.env",
		"User":                   "blobmark",
		"StateDirectory":         "blobmark",
		"NoNewPrivileges":        "yes",
		"ProtectSystem":          "strict",
		"ProtectHome":            "yes",
		"PrivateTmp":             "yes",
		"PrivateDevices":         "yes",
		"CapabilityBoundingSet":  "",
		"RestrictSUIDSGID":       "yes",
		"MemoryDenyWriteExecute": "yes",
		"TimeoutStopSec":         "45",
		"WantedBy":               "multi-user.target",
	} {
		if !slices.Contains(d[k], want) {
			t.Errorf("%s = %q, want %q", k, d[k], want)
		}
	}
	if !slices.Contains(d["Environment"], "BLOBMARK_DATA_DIR=%S/blobmark") {
		t.Errorf("the data directory should be the StateDirectory; Environment = %q", d["Environment"])
	}
	// IMDS (the managed identity) and outbound HTTPS must stay reachable.
	for _, k := range []string{"PrivateNetwork", "IPAddressDeny"} {
		if len(d[k]) > 0 {
			t.Errorf("%s = %q would cut the managed identity endpoint or Azure off", k, d[k])
		}
	}
}

// TestAlertRules checks the sample rules parse, are complete, and use only
// the metric names the deployment guide documents.
func TestAlertRules(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(deployDir(t), "prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := parseYAML(t, raw)
	if len(docs) != 1 {
		t.Fatalf("alerts.yaml holds %d documents, want 1", len(docs))
	}
	guide, err := os.ReadFile(filepath.Join(deployDir(t), "..", "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	metric := regexp.MustCompile(`\bblobmark_[a-z_]+`)
	used := map[string]bool{}
	groups, _ := docs[0].get("groups").([]any)
	if len(groups) == 0 {
		t.Fatal("alerts.yaml has no groups")
	}
	for _, g := range groups {
		rules, _ := manifest(g.(map[string]any)).get("rules").([]any)
		if len(rules) == 0 {
			t.Errorf("group %v has no rules", g)
		}
		for _, r := range rules {
			rule := manifest(r.(map[string]any))
			name, _ := rule.get("alert").(string)
			expr, _ := rule.get("expr").(string)
			if name == "" || expr == "" {
				t.Errorf("rule %v lacks alert or expr", r)
			}
			for _, f := range [][]any{{"labels", "severity"}, {"annotations", "summary"}, {"annotations", "description"}} {
				if s, _ := rule.get(f...).(string); s == "" {
					t.Errorf("rule %s has no %v", name, f)
				}
			}
			for _, m := range metric.FindAllString(expr, -1) {
				used[m] = true
			}
		}
	}
	for _, m := range []string{"blobmark_export_lag_seconds", "blobmark_export_failures_total", "blobmark_sync_failures_total"} {
		if !used[m] {
			t.Errorf("no rule uses %s", m)
		}
	}
	for m := range used {
		if !bytes.Contains(guide, []byte("`"+m+"`")) {
			t.Errorf("alerts.yaml uses %s, which docs/deploy.md does not document", m)
		}
	}
}

// TestGuidesDocumentEverySetting keeps the chart, the unit and the guides in
// step: every BLOBMARK_* variable they set is in docs/deploy.md's settings
// table, and every relative link in the guides points at a file.
func TestGuidesDocumentEverySetting(t *testing.T) {
	t.Parallel()
	root := filepath.Join(deployDir(t), "..")
	guide, err := os.ReadFile(filepath.Join(root, "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	envVar := regexp.MustCompile(`BLOBMARK_[A-Z_]+[A-Z]`)
	files, _ := filepath.Glob(filepath.Join(deployDir(t), "helm", "blobmark", "templates", "*"))
	files = append(files, filepath.Join(deployDir(t), "helm", "blobmark", "values.yaml"),
		filepath.Join(deployDir(t), "systemd", "blobmark.service"))
	seen := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range envVar.FindAllString(string(b), -1) {
			seen++
			if !bytes.Contains(guide, []byte("`"+v+"`")) {
				t.Errorf("%s sets %s, which docs/deploy.md's settings table does not list", filepath.Base(f), v)
			}
		}
	}
	if seen == 0 {
		t.Error("found no BLOBMARK_* variables in the chart and unit")
	}

	guides, _ := filepath.Glob(filepath.Join(root, "docs", "deploy*.md"))
	if len(guides) < 4 {
		t.Errorf("found %d deployment guides, want deploy.md and one per platform", len(guides))
	}
	link := regexp.MustCompile(`\]\(([^)#:]+)(#[^)]*)?\)`)
	for _, g := range guides {
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			if _, err := os.Stat(filepath.Join(filepath.Dir(g), m[1])); err != nil {
				t.Errorf("%s links to %s, which does not exist", filepath.Base(g), m[1])
			}
		}
	}
}
