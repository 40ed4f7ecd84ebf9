package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/blobmark/blobmark/azureblob"
)

// checkStorageTransport lets tests reach their emulator; nil in production.
var checkStorageTransport policy.Transporter

// checkStorageBody is the connection in the storage API's body shape: the
// connection fields plus container and prefix. Other API fields are ignored.
type checkStorageBody struct {
	azureblob.Config
	Container string `json:"container"`
	Prefix    string `json:"prefix"`
}

// runCheckStorage diagnoses one storage connection and prints a table of
// what works and the fix for what does not. It exits 0 only when every check
// needed for --use passes, 1 when one fails, 2 on bad usage.
func runCheckStorage(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-storage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var file, use, container, prefix *string
	var timeout *time.Duration
	s, _, err := parseSettings("check-storage", fs, args, func(fs *flag.FlagSet) {
		file = fs.String("file", "", "read the connection JSON from this file instead of stdin")
		use = fs.String("use", "source", "what the storage is for: source (import, media) or target (export)")
		container = fs.String("container", "", "container to check (overrides the JSON's container)")
		prefix = fs.String("prefix", "", "prefix to check (overrides the JSON's prefix)")
		timeout = fs.Duration("timeout", 60*time.Second, "give up after this long")
		fs.Usage = func() {
			fmt.Fprintln(stderr, "usage: blobmark check-storage [--use source|target] [--file conn.json] [--container C] [--prefix P]")
			fmt.Fprintln(stderr, "The connection is JSON in the storage API's shape, e.g.")
			fmt.Fprintln(stderr, `  {"auth_type":"managed_identity","account_name":"myaccount","container":"images","prefix":"batch1/"}`)
			fs.PrintDefaults()
		}
	})
	if err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	logger, err := newLogger(s, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "check-storage: %v\n", err)
		return 2
	}
	if *use != string(azureblob.UseSource) && *use != string(azureblob.UseTarget) {
		fmt.Fprintf(stderr, "check-storage: --use must be source or target, not %q\n", *use)
		return 2
	}
	in := stdin
	if *file != "" {
		f, err := os.Open(*file)
		if err != nil {
			fmt.Fprintf(stderr, "check-storage: %v\n", err)
			return 2
		}
		defer f.Close()
		in = f
	}
	var body checkStorageBody
	if err := json.NewDecoder(in).Decode(&body); err != nil {
		fmt.Fprintf(stderr, "check-storage: the connection is not valid JSON: %v\n", err)
		return 2
	}
	if *container != "" {
		body.Container = *container
	}
	if *prefix != "" {
		body.Prefix = *prefix
	}
	if body.Container == "" {
		fmt.Fprintln(stderr, "check-storage: a container is required (\"container\" in the JSON or --container)")
		return 2
	}
	logger.Debug("checking storage", "connection", body.Config, "container", body.Container, "prefix", body.Prefix, "use", *use)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	allowPrivate, err := s.Bool("allow-private-network")
	if err != nil {
		fmt.Fprintf(stderr, "check-storage: %v\n", err)
		return 2
	}
	// The operator running this command owns the identity it runs as, so
	// the server identity allow-list admits the endpoint being checked.
	allow := []string{"*"}
	if body.Config.Endpoint != "" {
		allow = append(allow, strings.TrimSuffix(body.Config.Endpoint, "/")+"/*")
	}
	conn := azureblob.NewConnector(azureblob.Options{Transport: checkStorageTransport, IdentityTransport: checkStorageTransport,
		AllowPrivateNetwork: allowPrivate, ServerIdentityAllow: allow})
	report := azureblob.Diagnose(ctx, conn, body.Config, body.Container, body.Prefix, azureblob.Use(*use))
	if origin := s.String("public-url"); origin != "" && report.Use == azureblob.UseSource && report.OK() {
		report.Checks = append(report.Checks, azureblob.DiagnoseCORS(ctx, conn, body.Config, body.Container, origin))
	}
	if err := report.WriteTable(stdout); err != nil {
		return 1
	}
	if !report.OK() {
		return 1
	}
	return 0
}
