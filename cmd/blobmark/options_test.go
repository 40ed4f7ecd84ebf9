package main

import (
	"flag"
	"io"
	"os"
	"strings"
	"testing"
)

var updateREADME = flag.Bool("update-readme", false, "rewrite README.md's configuration table from the option declarations")

// TestREADMEConfigTable keeps the README's configuration table equal to the
// option declarations: after editing `options`, run
// go test ./cmd/blobmark -run TestREADMEConfigTable -update-readme.
func TestREADMEConfigTable(t *testing.T) {
	const path, begin, end = "../../README.md", "<!-- config-table -->\n", "<!-- /config-table -->"
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the %q … %q markers", begin, end)
	}
	want := configTable()
	if got := text[i+len(begin) : j]; got != want {
		if *updateREADME {
			if err := os.WriteFile(path, []byte(text[:i+len(begin)]+want+text[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Fatalf("README.md's configuration table is out of date; run with -update-readme, or replace it with:\n\n%s", want)
	}
}

func TestSettingsPrecedence(t *testing.T) {
	t.Setenv("BLOBMARK_ADDR", "127.0.0.1:9999")
	t.Setenv("BLOBMARK_DATA_DIR", "/from/env")

	s, rest, err := parseSettings("serve", flag.NewFlagSet("t", flag.ContinueOnError), []string{"--data-dir", "/from/flag", "extra"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.String("addr"); got != "127.0.0.1:9999" {
		t.Errorf("addr = %q, want the environment's value", got)
	}
	if got := s.String("data-dir"); got != "/from/flag" {
		t.Errorf("data-dir = %q, want the flag to win over the environment", got)
	}
	if got := s.String("log-level"); got != "info" {
		t.Errorf("log-level = %q, want the default", got)
	}
	if len(rest) != 1 || rest[0] != "extra" {
		t.Errorf("positional args = %q", rest)
	}
}

func TestSettingsRejectUnknownFlagAndBadValues(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, _, err := parseSettings("migrate", fs, []string{"--addr", "x"}, nil); err == nil {
		t.Error("migrate accepted --addr, which only serve takes")
	}
	s, _, err := parseSettings("serve", flag.NewFlagSet("t", flag.ContinueOnError), []string{"--max-body-bytes", "lots", "--shutdown-timeout", "soon"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Int64("max-body-bytes"); err == nil || !strings.Contains(err.Error(), "--max-body-bytes") {
		t.Errorf("Int64 error = %v, want one naming the option", err)
	}
	if _, err := s.Duration("shutdown-timeout"); err == nil || !strings.Contains(err.Error(), "--shutdown-timeout") {
		t.Errorf("Duration error = %v, want one naming the option", err)
	}
}

func TestSecretOptionsHaveNoDefaultShown(t *testing.T) {
	for _, o := range options {
		if o.Secret && o.Default != "" {
			t.Errorf("secret option %s has a default, which the README table would show", o.Name)
		}
	}
}

func TestSyncChunkFilesOption(t *testing.T) {
	for _, c := range []struct {
		args []string
		want int
	}{
		{nil, 0}, // the database's default
		{[]string{"--sync-chunk-files", "0"}, -1},
		{[]string{"--sync-chunk-files", "250"}, 250},
	} {
		s, _, err := parseSettings("worker", flag.NewFlagSet("t", flag.ContinueOnError), c.args, nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := serverConfig(s)
		if err != nil || cfg.SyncChunkFiles != c.want {
			t.Errorf("%q: SyncChunkFiles = %d, %v; want %d", c.args, cfg.SyncChunkFiles, err, c.want)
		}
	}
	s, _, err := parseSettings("serve", flag.NewFlagSet("t", flag.ContinueOnError), []string{"--sync-chunk-files", "-5"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := serverConfig(s); err == nil || !strings.Contains(err.Error(), "--sync-chunk-files") {
		t.Errorf("a negative chunk size: %v, want an error naming the option", err)
	}
}

// TestNetworkOptions: private networks stay closed unless the operator
// opens them, and a malformed allow-list entry stops the server at start
// with the option named.
func TestNetworkOptions(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{{nil, false}, {[]string{"--allow-private-network"}, true}, {[]string{"--allow-private-network=false"}, false}} {
		s, _, err := parseSettings("serve", flag.NewFlagSet("t", flag.ContinueOnError), c.args, nil)
		if err != nil {
			t.Fatal(err)
		}
		if cfg, err := serverConfig(s); err != nil || cfg.AllowPrivateNetwork != c.want {
			t.Errorf("%q: AllowPrivateNetwork = %v, %v", c.args, cfg.AllowPrivateNetwork, err)
		}
	}
	s, _, err := parseSettings("serve", flag.NewFlagSet("t", flag.ContinueOnError),
		[]string{"--server-identity-allow", "Acme=myacct/images, https://pe.example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := serverConfig(s); err == nil || !strings.Contains(err.Error(), "--server-identity-allow") || !strings.Contains(err.Error(), "https://pe.example.com") {
		t.Errorf("a malformed entry: %v, want an error naming the option and the entry", err)
	}
}

func TestTrustedProxiesOption(t *testing.T) {
	s, _, err := parseSettings("serve", flag.NewFlagSet("t", flag.ContinueOnError), []string{"--trusted-proxies", "10.0.0.0/8, 127.0.0.1,fd00::/8"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := serverConfig(s)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range cfg.TrustedProxies {
		got = append(got, p.String())
	}
	if want := "10.0.0.0/8 127.0.0.1/32 fd00::/8"; strings.Join(got, " ") != want {
		t.Errorf("TrustedProxies = %q, want %q", got, want)
	}
	s, _, err = parseSettings("serve", flag.NewFlagSet("t", flag.ContinueOnError), []string{"--trusted-proxies", "10.0.0.0/8,proxy.local"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := serverConfig(s); err == nil || !strings.Contains(err.Error(), "--trusted-proxies") || !strings.Contains(err.Error(), "proxy.local") {
		t.Errorf("a host name among the proxies: %v, want an error naming the option and the entry", err)
	}
}

// TestDatabasePoolOptions: the pool bound and the job polling reach the
// server's configuration, and a bad bound names its option.
func TestDatabasePoolOptions(t *testing.T) {
	for _, c := range []struct {
		args     []string
		conns    int
		pollOnly bool
	}{
		{nil, 0, false}, // the store's defaults: a bound by CPUs, workers listen
		{[]string{"--database-max-conns", "25", "--job-poll-only"}, 25, true},
	} {
		s, _, err := parseSettings("worker", flag.NewFlagSet("t", flag.ContinueOnError), c.args, nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := serverConfig(s)
		if err != nil || cfg.DatabaseMaxConns != c.conns || cfg.JobPollOnly != c.pollOnly {
			t.Errorf("%q: DatabaseMaxConns %d, JobPollOnly %v, %v; want %d, %v", c.args, cfg.DatabaseMaxConns, cfg.JobPollOnly, err, c.conns, c.pollOnly)
		}
	}
	s, _, err := parseSettings("serve", flag.NewFlagSet("t", flag.ContinueOnError), []string{"--database-max-conns", "many"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := serverConfig(s); err == nil || !strings.Contains(err.Error(), "--database-max-conns") {
		t.Errorf("a bound that is not a number: %v, want an error naming the option", err)
	}
}
