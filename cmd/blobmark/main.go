// Command blobmark is a data-labeling server whose data lives in Azure Blob
// Storage. Its REST API speaks Label Studio's wire protocol.
//
// Usage:
//
//	blobmark serve [--addr HOST:PORT] [--data-dir DIR] [--database-url URL] [--no-jobs]
//	blobmark worker [--addr HOST:PORT] [--database-url URL]
//	blobmark migrate
//	blobmark user create --email E --password P [--organization NAME] [--role R]
//	blobmark user set-role --email E --role R
//	blobmark token show|rotate --email E
//	blobmark check-storage [--use source|target] [--file conn.json]
//	blobmark version
//
// It builds the server through package server and may import any blobmark
// package; nothing imports it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches a subcommand and returns the process exit code; it is the
// whole CLI behind a function so tests can drive it without a subprocess.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "serve", "worker":
		err = runServe(ctx, cmd, rest, stderr)
	case "migrate":
		err = runMigrate(ctx, rest, stdout, stderr)
	case "user":
		switch {
		case len(rest) > 0 && rest[0] == "create":
			err = runUserCreate(ctx, rest[1:], stdout, stderr)
		case len(rest) > 0 && rest[0] == "set-role":
			err = runUserSetRole(ctx, rest[1:], stdout, stderr)
		default:
			fmt.Fprintln(stderr, "usage: blobmark user create --email E --password P [--organization NAME] [--role R]\n       blobmark user set-role --email E --role R")
			return 2
		}
	case "token":
		err = runToken(ctx, rest, stdout, stderr)
	case "check-storage":
		return runCheckStorage(ctx, rest, stdin, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "blobmark", version)
		return 0
	case "help", "--help", "-h":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "blobmark: unknown command %q\n", cmd)
		usage(stderr)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "blobmark:", err)
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprint(w, `blobmark — label data that lives in Azure Blob Storage.

Commands:
  serve           run the HTTP server and the job workers
  worker          run only the job workers (health probes on --addr)
  migrate         apply database migrations and exit
  user create     create a user (prints its role, and its API token on the last line)
  user set-role   change a user's role (OW AD MA RE AN; DI deactivates)
  token           show or rotate a user's API token
  check-storage   diagnose an Azure storage connection (JSON on stdin or --file)
  version         print the version

Run "blobmark COMMAND --help" for a command's options.
`)
}

// newFlagSet returns a FlagSet whose errors and help go to stderr and whose
// parse errors come back as values, so run decides the exit code.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("blobmark "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// newLogger builds the process logger from the log-level and log-format options.
func newLogger(s *settings, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(s.String("log-level"))); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", s.String("log-level"))
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(s.String("log-format")) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format: %q is not text or json", s.String("log-format"))
	}
}
