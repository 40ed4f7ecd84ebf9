package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/sqlstore"
)

// openStore opens the database named by the data-dir and database-url
// options, applying migrations, as every database command does first.
func openStore(ctx context.Context, s *settings, logger *slog.Logger) (*sqlstore.DB, error) {
	cfg := sqlstore.Config{
		DatabaseURL: s.String("database-url"),
		DataDir:     s.String("data-dir"),
		Logger:      logger,
	}
	azureAuth, err := s.Bool("database-azure-auth")
	if err != nil {
		return nil, err
	}
	if azureAuth {
		src, err := azureblob.NewDatabaseTokenSource(azureblob.Options{}, s.String("database-managed-identity-client-id"))
		if err != nil {
			return nil, err
		}
		cfg.PasswordFunc = src.Password
	}
	return sqlstore.Open(ctx, cfg)
}

// runMigrate applies the database migrations and exits, for operators who
// migrate before rolling out new replicas.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	s, _, err := parseSettings("migrate", newFlagSet("migrate", stderr), args, nil)
	if err != nil {
		return err
	}
	logger, err := newLogger(s, stderr)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, s, logger)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintln(stdout, "migrations applied")
	return nil
}

// runUserCreate creates a user and prints its API token alone on the last
// line of stdout, so scripts can take it with `tail -n1`. The user joins the
// organization --organization names, created when missing; without it, the
// default organization, whose members see each other's projects.
func runUserCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var email, password, organization string
	s, _, err := parseSettings("user create", newFlagSet("user create", stderr), args, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the new user's email (required)")
		fs.StringVar(&password, "password", "", "the new user's password (required)")
		fs.StringVar(&organization, "organization", "", "the organization the user joins, by title, created when missing (default: the default organization)")
	})
	if err != nil {
		return err
	}
	if email == "" || password == "" {
		return fmt.Errorf("user create: --email and --password are both required")
	}
	logger, err := newLogger(s, stderr)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, s, logger)
	if err != nil {
		return err
	}
	defer db.Close()
	u, token, err := db.CreateUserInOrganization(ctx, email, password, organization)
	if err != nil {
		return err
	}
	org, err := db.FindOrganizationByID(ctx, u.OrganizationID)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created user %d <%s> in organization %d %q; API token:\n%s\n", u.ID, u.Email, org.ID, org.Title, token)
	return nil
}

// runToken shows which token a user has (its prefix: tokens are stored
// hashed, so the full token exists only when it is made) or rotates it.
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "show" && args[0] != "rotate") {
		return fmt.Errorf("usage: blobmark token show|rotate --email E")
	}
	action := args[0]
	var email string
	s, _, err := parseSettings("token", newFlagSet("token "+action, stderr), args[1:], func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the user's email (required)")
	})
	if err != nil {
		return err
	}
	if email == "" {
		return fmt.Errorf("token %s: --email is required", action)
	}
	logger, err := newLogger(s, stderr)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, s, logger)
	if err != nil {
		return err
	}
	defer db.Close()
	u, err := db.FindUserByEmail(ctx, email)
	if err != nil {
		return err
	}
	if action == "show" {
		fmt.Fprintf(stdout, "user %d <%s> has a token starting %s… (tokens are stored hashed; `token rotate` makes a new one)\n", u.ID, u.Email, u.TokenPrefix)
		return nil
	}
	token, err := db.RotateToken(ctx, u.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "new API token for <%s> (the old one no longer works):\n%s\n", u.Email, token)
	return nil
}
