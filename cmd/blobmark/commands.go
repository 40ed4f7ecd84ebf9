package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/blobmark/blobmark"
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

// openStoreLogging is openStore for the commands that log nothing else:
// their log goes to stderr at the level the options set.
func openStoreLogging(ctx context.Context, s *settings, stderr io.Writer) (*sqlstore.DB, error) {
	logger, err := newLogger(s, stderr)
	if err != nil {
		return nil, err
	}
	return openStore(ctx, s, logger)
}

// runMigrate applies the database migrations and exits, for operators who
// migrate before rolling out new replicas.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	s, _, err := parseSettings("migrate", newFlagSet("migrate", stderr), args, nil)
	if err != nil {
		return err
	}
	db, err := openStoreLogging(ctx, s, stderr)
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
// default organization. Without --role the first member of an organization
// becomes its owner and any later one an annotator; the role is printed.
func runUserCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var email, password, organization, role string
	s, _, err := parseSettings("user create", newFlagSet("user create", stderr), args, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the new user's email (required)")
		fs.StringVar(&password, "password", "", "the new user's password (required)")
		fs.StringVar(&organization, "organization", "", "the organization the user joins, by title, created when missing (default: the default organization)")
		fs.StringVar(&role, "role", "", "the user's role: "+roleCodes()+" (default: owner for an organization's first user, annotator after)")
	})
	if err != nil {
		return err
	}
	if email == "" || password == "" {
		return fmt.Errorf("user create: --email and --password are both required")
	}
	var r blobmark.Role
	if role != "" {
		if r, err = blobmark.ParseRole("role", role); err != nil {
			return fmt.Errorf("user create: --role: %s", blobmark.ErrorMessage(err))
		}
	}
	db, err := openStoreLogging(ctx, s, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	u, token, err := db.AddUser(ctx, blobmark.NewUser{Email: email, Password: password, Organization: organization, Role: r})
	if err != nil {
		return err
	}
	org, err := db.FindOrganizationByID(ctx, u.OrganizationID)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created user %d <%s> in organization %d %q as %s (%s); API token:\n%s\n", u.ID, u.Email, org.ID, org.Title, u.Role.Name(), u.Role, token)
	return nil
}

// roleCodes lists the role codes for flag help.
func roleCodes() string {
	codes := make([]string, len(blobmark.Roles))
	for i, r := range blobmark.Roles {
		codes[i] = string(r)
	}
	return strings.Join(codes, ", ")
}

// runUserSetRole changes a user's role in their organization. The operator
// may make any change, administrators and owners included, except leaving
// an organization without an active owner.
func runUserSetRole(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var email, role string
	s, _, err := parseSettings("user set-role", newFlagSet("user set-role", stderr), args, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the user's email (required)")
		fs.StringVar(&role, "role", "", "the new role: "+roleCodes()+" (required; DI deactivates)")
	})
	if err != nil {
		return err
	}
	if email == "" || role == "" {
		return fmt.Errorf("user set-role: --email and --role are both required")
	}
	r, err := blobmark.ParseRole("role", role)
	if err != nil {
		return fmt.Errorf("user set-role: --role: %s", blobmark.ErrorMessage(err))
	}
	db, err := openStoreLogging(ctx, s, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	u, err := db.FindUserByEmail(ctx, email)
	if err != nil {
		return fmt.Errorf("user set-role: no user has the email %s", email)
	}
	if u, err = db.SetRole(ctx, u.OrganizationID, u.ID, r, ""); err != nil {
		return fmt.Errorf("user set-role: %s", blobmark.ErrorMessage(err))
	}
	fmt.Fprintf(stdout, "user %d <%s> is now %s (%s) in organization %d\n", u.ID, u.Email, u.Role.Name(), u.Role, u.OrganizationID)
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
	db, err := openStoreLogging(ctx, s, stderr)
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
