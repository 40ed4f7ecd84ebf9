package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// option declares one setting once: its flag, environment variable, default,
// help and secrecy all derive from this entry, and so does the README's
// configuration table (checked by a test), so they cannot drift apart.
type option struct {
	Name     string   // flag name, e.g. "data-dir"; env is BLOBMARK_DATA_DIR
	Default  string   // default value as text; "" means unset
	Help     string   // one sentence for --help and the README
	Secret   bool     // never printed, logged or shown in the table's default column
	Commands []string // subcommands that take it
}

// Env returns the environment variable that sets the option.
func (o option) Env() string {
	return "BLOBMARK_" + strings.ToUpper(strings.ReplaceAll(o.Name, "-", "_"))
}

var (
	dbCommands    = []string{"serve", "worker", "migrate", "user create", "user set-role", "token"}
	serveCommands = []string{"serve", "worker"}
	allCommands   = []string{"serve", "worker", "migrate", "user create", "user set-role", "token", "check-storage"}
)

// options is the one list of blobmark's settings.
var options = []option{
	{Name: "addr", Default: "127.0.0.1:8080", Help: "Address (host:port) the HTTP server listens on.", Commands: serveCommands},
	{Name: "metrics-addr", Help: "Address (host:port) of a listener that serves /metrics alone, e.g. 127.0.0.1:9090 or a cluster-internal port; /metrics is then no longer served on --addr. Empty serves it on --addr. Metrics need no authentication: keep them off the internet.", Commands: serveCommands},
	{Name: "data-dir", Default: "./data", Help: "Directory for the embedded SQLite database and the server's generated keys.", Commands: dbCommands},
	{Name: "database-url", Help: "PostgreSQL URL (postgres://…); empty means embedded SQLite in the data directory.", Secret: true, Commands: dbCommands},
	{Name: "max-body-bytes", Default: "67108864", Help: "Largest request body the API accepts, in bytes (task imports are the big ones).", Commands: serveCommands},
	{Name: "max-concurrent-imports", Default: "2", Help: "Task imports with a body over 1 MiB that run at once (each is spooled to a temporary file and written in batches); more wait 2 s, then get 429 with Retry-After.", Commands: []string{"serve"}},
	{Name: "shutdown-timeout", Default: "30s", Help: "How long SIGTERM waits for in-flight requests and jobs before releasing them.", Commands: serveCommands},
	{Name: "secret-key", Help: "Server key (32 bytes, base64 or hex); the keys that seal secrets at rest and sign sessions are derived from it. Empty means a key generated into the data directory. Replicas must share it: the database records it (as a check value) and refuses another.", Secret: true, Commands: serveCommands},
	{Name: "secret-key-previous", Help: "Comma-separated keys that sealed secrets before a rotation; they still open, and new writes use --secret-key.", Secret: true, Commands: serveCommands},
	{Name: "server-identity-allow", Help: "Comma-separated entries where storages may use an Azure identity attached to the server (auth types server_identity, managed_identity, workload_identity): account/container-glob (that account's own blob host in the storage's cloud), https://host[:port]/container-glob (exactly that endpoint), either prefixed with ORG= for one organization; empty refuses them.", Commands: serveCommands},
	{Name: "allow-private-network", Default: "false", Help: "Let storage endpoints, event queues and webhooks reach loopback and private network addresses (private endpoints, Azurite); link-local and cloud metadata addresses are refused regardless.", Commands: []string{"serve", "worker", "check-storage"}},
	{Name: "database-azure-auth", Default: "false", Help: "Log in to PostgreSQL (Azure Database for PostgreSQL) with an Entra ID access token of the server's identity instead of a password; the token is renewed before it expires.", Commands: dbCommands},
	{Name: "database-max-conns", Help: "Most connections this process's store opens to PostgreSQL (besides up to 5 more of a worker's job queue, its LISTEN among them, and 2 that take task numbers for imports; on SQLite: its readers); empty means 4 per CPU, at least 10 (SQLite: 1 per CPU, at least 4). The sum over replicas must stay under the server's max_connections, or PgBouncer's pool size.", Commands: serveCommands},
	{Name: "database-managed-identity-client-id", Help: "Client id of the user-assigned managed identity --database-azure-auth logs in as; empty means the server's identity chain (AZURE_CLIENT_ID selects a user-assigned identity there too).", Commands: dbCommands},
	{Name: "job-poll-only", Default: "false", Help: "On PostgreSQL, find new jobs by polling every 200 ms instead of being notified (LISTEN/NOTIFY) when they are enqueued; for a database reached through PgBouncer's transaction pooling, where LISTEN does not work.", Commands: serveCommands},
	{Name: "job-rescue-after", Default: "1h", Help: "How long a job may run before another replica presumes its process dead and takes it over; syncs are bounded to 80% of it. A single process on SQLite resumes the jobs a killed predecessor left at start.", Commands: serveCommands},
	{Name: "sync-chunk-files", Help: "Task files per chunk a Tasks-mode sync hands to the job workers of every replica; empty means 100 on PostgreSQL and none on SQLite (one process reads them faster itself), 0 never.", Commands: serveCommands},
	{Name: "public-url", Help: "Scheme and host written before /tasks/{id}/resolve/ in task data (Label Studio's HOST); empty gives relative URLs. Its origin is the one presigned media loads from, whose CORS rule on the storage account check-storage checks.", Commands: []string{"serve", "check-storage"}},
	{Name: "trusted-proxies", Help: "Comma-separated addresses or CIDR ranges of the reverse proxies in front of blobmark; their X-Forwarded-For names the client that failed sign-ins and API tokens are counted against. Empty ignores the header, so every client behind a proxy counts as the proxy.", Commands: []string{"serve"}},
	{Name: "media-mode", Default: "auto", Help: "Media delivery: auto (each storage's presign flag), proxy (stream everything, for accounts behind a firewall), presign-only (never stream).", Commands: []string{"serve"}},
	{Name: "no-jobs", Default: "false", Help: "Serve HTTP only and run no background jobs (scale the API apart from workers).", Commands: []string{"serve"}},
	{Name: "log-level", Default: "info", Help: "Log level: debug, info, warn or error.", Commands: allCommands},
	{Name: "log-format", Default: "text", Help: "Log format: text or json.", Commands: allCommands},
}

// settings holds the parsed values of one subcommand's options.
type settings struct {
	values map[string]string
}

// parseSettings registers the options that command takes on fs, parses args,
// and fills each option from its flag, else its environment variable, else
// its default. It returns the positional arguments left over.
func parseSettings(command string, fs *flag.FlagSet, args []string, extra func(*flag.FlagSet)) (*settings, []string, error) {
	s := &settings{values: map[string]string{}}
	flagged := map[string]*string{}
	for _, o := range options {
		if !slices.Contains(o.Commands, command) {
			continue
		}
		help := o.Help + " (env " + o.Env() + ")"
		if o.Default == "true" || o.Default == "false" {
			p := new(string)
			fs.Var(switchValue{p}, o.Name, help)
			flagged[o.Name] = p
		} else {
			flagged[o.Name] = fs.String(o.Name, "", help)
		}
		if o.Default != "" {
			fs.Lookup(o.Name).DefValue = o.Default
		}
	}
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, o := range options {
		p, ok := flagged[o.Name]
		if !ok {
			continue
		}
		switch env, inEnv := os.LookupEnv(o.Env()); {
		case set[o.Name]:
			s.values[o.Name] = *p
		case inEnv:
			s.values[o.Name] = env
		default:
			s.values[o.Name] = o.Default
		}
	}
	return s, fs.Args(), nil
}

// switchValue is the flag of a true/false option: given alone
// (--allow-private-network) it means true, as Go's boolean flags do, and
// --name=false still turns it off.
type switchValue struct{ s *string }

func (v switchValue) String() string {
	if v.s == nil {
		return ""
	}
	return *v.s
}
func (v switchValue) Set(x string) error { *v.s = x; return nil }
func (v switchValue) IsBoolFlag() bool   { return true }

// String returns the value of a declared option.
func (s *settings) String(name string) string { return s.values[name] }

// Int64 returns an integer option, or an error naming the option and its env.
func (s *settings) Int64(name string) (int64, error) {
	n, err := strconv.ParseInt(s.values[name], 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("--%s: %q is not a non-negative whole number", name, s.values[name])
	}
	return n, nil
}

// Bool returns a true/false option, or an error naming the option.
func (s *settings) Bool(name string) (bool, error) {
	b, err := strconv.ParseBool(s.values[name])
	if err != nil {
		return false, fmt.Errorf("--%s: %q is not true or false", name, s.values[name])
	}
	return b, nil
}

// Duration returns a duration option, or an error naming the option.
func (s *settings) Duration(name string) (time.Duration, error) {
	d, err := time.ParseDuration(s.values[name])
	if err != nil || d < 0 {
		return 0, fmt.Errorf("--%s: %q is not a duration such as 30s or 2m", name, s.values[name])
	}
	return d, nil
}

// configTable renders the options as the README's Markdown table.
func configTable() string {
	var b strings.Builder
	b.WriteString("| flag | environment | default | commands | description |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, o := range options {
		def := "`" + o.Default + "`"
		if o.Default == "" {
			def = "(none)"
		}
		help := o.Help
		if o.Secret {
			help += " Secret: never logged."
		}
		fmt.Fprintf(&b, "| `--%s` | `%s` | %s | %s | %s |\n", o.Name, o.Env(), def, strings.Join(o.Commands, ", "), help)
	}
	return b.String()
}
