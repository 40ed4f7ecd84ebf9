package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// runCLI runs the CLI in-process and returns its exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestUserCreatePrintsTokenOnLastLineAndTokenRotate(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runCLI(t, "user", "create", "--data-dir", dir, "--email", "a@example.com", "--password", "pw-123456")
	if code != 0 {
		t.Fatalf("user create exit %d: %s", code, errOut)
	}
	token := lastLine(out)
	if len(token) < 20 || strings.ContainsAny(token, " :") {
		t.Fatalf("last line %q is not a bare token", token)
	}
	code, out, _ = runCLI(t, "token", "show", "--data-dir", dir, "--email", "a@example.com")
	if code != 0 || !strings.Contains(out, token[:4]) || strings.Contains(out, token) {
		t.Errorf("token show = %d %q: want the token's prefix, not the whole token", code, out)
	}
	code, out, _ = runCLI(t, "token", "rotate", "--data-dir", dir, "--email", "a@example.com")
	if code != 0 || lastLine(out) == token || len(lastLine(out)) < 20 {
		t.Errorf("token rotate = %d %q: want a new token on the last line", code, out)
	}
	if code, _, errOut := runCLI(t, "user", "create", "--data-dir", dir, "--email", "a@example.com", "--password", "x"); code == 0 {
		t.Error("a second user with the same email was created")
	} else if errOut == "" {
		t.Error("duplicate user failed without a message")
	}
}

func TestCLIUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"nope"}, {"user"}, {"user", "create", "--email", "x@example.com"}, {"token", "show"}, {"serve", "--log-level", "loud"}} {
		if code, _, errOut := runCLI(t, args...); code == 0 || errOut == "" {
			t.Errorf("%q: exit %d, stderr %q; want a failure with a message", args, code, errOut)
		}
	}
	if code, out, _ := runCLI(t, "version"); code != 0 || !strings.HasPrefix(out, "blobmark ") {
		t.Errorf("version: %d %q", code, out)
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServeHealthAndGracefulShutdown starts serve on embedded SQLite, checks
// /healthz, /readyz and token auth on /api, then cancels its context (what
// SIGTERM does) and expects a clean exit.
func TestServeHealthAndGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	_, out, _ := runCLI(t, "user", "create", "--data-dir", dir, "--email", "s@example.com", "--password", "pw-123456")
	token := lastLine(out)
	addr := freeAddr(t)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", addr, "--data-dir", dir, "--log-level", "warn"}, strings.NewReader(""), io.Discard, io.Discard)
	}()
	get := func(path, tok string) int {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Token "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := 0; i < 100 && get("/healthz", "") != 200; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
		if got := get(path, ""); got != want {
			t.Errorf("GET %s = %d, want %d", path, got, want)
		}
	}
	if got := get("/api/projects/", ""); got != 401 {
		t.Errorf("GET /api/projects/ without token = %d, want 401", got)
	}
	if got := get("/api/projects/", token); got != 200 {
		t.Errorf("GET /api/projects/ with token = %d, want 200", got)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited %d after shutdown, want 0", code)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop after its context was cancelled")
	}
}

// TestWorkerServesProbesOnly starts the worker mode: it answers the health
// probes on --addr and none of the API.
func TestWorkerServesProbesOnly(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errOut bytes.Buffer // read only after done
	go func() {
		done <- run(ctx, []string{"worker", "--addr", addr, "--data-dir", dir, "--log-level", "warn"}, strings.NewReader(""), io.Discard, &errOut)
	}()
	status := func(path string) int {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := 0; i < 100 && status("/healthz") != 200; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if got := status("/readyz"); got != 200 {
		t.Errorf("worker /readyz = %d, want 200", got)
	}
	if got := status("/api/projects/"); got != 404 {
		t.Errorf("worker /api/projects/ = %d, want 404: a worker serves no API", got)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("worker exited %d: %s", code, errOut.String())
	}
}

func TestUserCreateOrganization(t *testing.T) {
	dir := t.TempDir()
	create := func(email string, extra ...string) string {
		t.Helper()
		args := append([]string{"user", "create", "--data-dir", dir, "--email", email, "--password", "pw-123456"}, extra...)
		code, out, errOut := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%q: exit %d: %s", args, code, errOut)
		}
		if token := lastLine(out); len(token) < 20 || strings.ContainsAny(token, " :") {
			t.Fatalf("last line %q is not a bare token", token)
		}
		return out
	}
	if out := create("a@example.com"); !strings.Contains(out, `organization 1 "default"`) {
		t.Errorf("without --organization: %q, want the default organization", out)
	}
	if out := create("b@example.com", "--organization", "Acme"); !strings.Contains(out, `organization 2 "Acme"`) {
		t.Errorf("--organization Acme: %q, want a new organization 2", out)
	}
	if out := create("c@example.com", "--organization", "Acme"); !strings.Contains(out, `organization 2 "Acme"`) {
		t.Errorf("--organization Acme again: %q, want the same organization 2", out)
	}
	if out := create("d@example.com", "--organization", "default"); !strings.Contains(out, `organization 1 "default"`) {
		t.Errorf("--organization default: %q, want organization 1", out)
	}
	if code, _, errOut := runCLI(t, "user", "create", "--data-dir", dir, "--email", "e@example.com", "--password", "pw-123456",
		"--organization", strings.Repeat("x", 1001)); code == 0 || !strings.Contains(errOut, "organization") {
		t.Errorf("an over-long organization: exit %d, stderr %q", code, errOut)
	}
}

// TestMetricsAddrServesMetricsApart starts serve and worker with
// --metrics-addr: /metrics is then 404 on --addr and served on the metrics
// listener, which serves nothing else.
func TestMetricsAddrServesMetricsApart(t *testing.T) {
	for _, command := range []string{"serve", "worker"} {
		t.Run(command, func(t *testing.T) {
			dir := t.TempDir()
			addr, metricsAddr := freeAddr(t), freeAddr(t)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan int, 1)
			var errOut bytes.Buffer // read only after done
			go func() {
				done <- run(ctx, []string{command, "--addr", addr, "--metrics-addr", metricsAddr, "--data-dir", dir, "--log-level", "warn"},
					strings.NewReader(""), io.Discard, &errOut)
			}()
			get := func(hostPort, path string) (int, string) {
				resp, err := http.Get("http://" + hostPort + path)
				if err != nil {
					return 0, ""
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(body)
			}
			for i := 0; i < 100; i++ {
				if code, _ := get(addr, "/healthz"); code == 200 {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if code, body := get(addr, "/metrics"); code != 404 {
				t.Errorf("/metrics on --addr = %d, want 404:\n%.200s", code, body)
			}
			code, body := get(metricsAddr, "/metrics")
			if code != 200 || !strings.Contains(body, "blobmark_http_request_duration_seconds") {
				t.Errorf("/metrics on --metrics-addr = %d, want 200 with blobmark's metrics:\n%.300s", code, body)
			}
			// The main listener's requests are still measured.
			if !strings.Contains(body, `route="/healthz"`) {
				t.Errorf("the metrics do not count the /healthz requests served on --addr:\n%s", body)
			}
			if code, _ := get(metricsAddr, "/healthz"); code != 404 {
				t.Errorf("/healthz on --metrics-addr = %d, want 404: that listener serves /metrics only", code)
			}
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("%s exited %d: %s", command, code, errOut.String())
			}
		})
	}
}

func TestUserRoles(t *testing.T) {
	dir := t.TempDir()
	cli := func(args ...string) (int, string, string) {
		t.Helper()
		return runCLI(t, append(append([]string{"user"}, args...), "--data-dir", dir)...)
	}
	create := func(email string, extra ...string) string {
		t.Helper()
		code, out, errOut := cli(append([]string{"create", "--email", email, "--password", "pw-123456"}, extra...)...)
		if code != 0 {
			t.Fatalf("user create %s: exit %d: %s", email, code, errOut)
		}
		return out
	}
	if out := create("o@example.com"); !strings.Contains(out, "as Owner (OW)") {
		t.Errorf("the first user: %q, want owner", out)
	}
	if out := create("a@example.com"); !strings.Contains(out, "as Annotator (AN)") {
		t.Errorf("a later user: %q, want annotator", out)
	}
	if out := create("m@example.com", "--role", "ma"); !strings.Contains(out, "as Manager (MA)") {
		t.Errorf("--role ma: %q, want manager", out)
	}
	if code, _, errOut := cli("create", "--email", "x@example.com", "--password", "pw", "--role", "boss"); code == 0 || !strings.Contains(errOut, "--role") {
		t.Errorf("an unknown role: exit %d, stderr %q", code, errOut)
	}

	if code, out, errOut := cli("set-role", "--email", "a@example.com", "--role", "OW"); code != 0 || !strings.Contains(out, "is now Owner (OW)") {
		t.Errorf("set-role OW: exit %d, %q %q", code, out, errOut)
	}
	if code, out, errOut := cli("set-role", "--email", "o@example.com", "--role", "DI"); code != 0 || !strings.Contains(out, "Deactivated") {
		t.Errorf("deactivating one of two owners: exit %d, %q %q", code, out, errOut)
	}
	// The last owner stays.
	if code, _, errOut := cli("set-role", "--email", "a@example.com", "--role", "AD"); code == 0 || !strings.Contains(errOut, "last owner") {
		t.Errorf("demoting the last owner: exit %d, stderr %q", code, errOut)
	}
	for _, args := range [][]string{{"set-role", "--email", "a@example.com"}, {"set-role", "--email", "nobody@example.com", "--role", "AN"},
		{"set-role", "--email", "a@example.com", "--role", "XX"}, {"delete"}} {
		if code, _, errOut := cli(args...); code == 0 || errOut == "" {
			t.Errorf("%q: exit %d, stderr %q; want a failure with a message", args, code, errOut)
		}
	}
}
