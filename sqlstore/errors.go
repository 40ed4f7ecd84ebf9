package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/blobmark/blobmark"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// translate maps a driver error onto blobmark's codes at the store boundary.
// The message is client-safe; the driver error, which may quote SQL, stays in
// Err for the logs. op names what the store was doing, for those logs.
func translate(op string, err error) error {
	var be *blobmark.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &be):
		return err
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &blobmark.Error{Code: blobmark.EUNAVAILABLE, Message: "request cancelled or timed out", Err: fmt.Errorf("%s: %w", op, err)}
	case errors.Is(err, sql.ErrNoRows):
		return &blobmark.Error{Code: blobmark.ENOTFOUND, Message: "not found", Err: fmt.Errorf("%s: %w", op, err)}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505": // unique_violation
			return &blobmark.Error{Code: blobmark.ECONFLICT, Message: "already exists", Err: fmt.Errorf("%s: %w", op, err)}
		case "23503": // foreign_key_violation
			return &blobmark.Error{Code: blobmark.ECONFLICT, Message: "conflicts with related data", Err: fmt.Errorf("%s: %w", op, err)}
		case "40001", "40P01", "53300", "57P03": // serialization, deadlock, too many connections, starting up
			return &blobmark.Error{Code: blobmark.EUNAVAILABLE, Message: "database busy, retry later", Err: fmt.Errorf("%s: %w", op, err)}
		}
	}
	var sqliteErr *sqlite.Error
	if errors.As(err, &sqliteErr) {
		switch sqliteErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return &blobmark.Error{Code: blobmark.ECONFLICT, Message: "already exists", Err: fmt.Errorf("%s: %w", op, err)}
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return &blobmark.Error{Code: blobmark.ECONFLICT, Message: "conflicts with related data", Err: fmt.Errorf("%s: %w", op, err)}
		}
		if c := sqlitePrimaryCode(sqliteErr); c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED {
			return &blobmark.Error{Code: blobmark.EUNAVAILABLE, Message: "database busy, retry later", Err: fmt.Errorf("%s: %w", op, err)}
		}
	}
	return wrapInternal(op, err)
}

// lostToAConcurrentWriter reports whether PostgreSQL aborted err's
// transaction for another's sake, a deadlock or a serialization failure:
// the same transaction run again may well succeed.
func lostToAConcurrentWriter(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}

// sqlitePrimaryCode is the primary result code of a SQLite error: extended
// result codes keep it in the low byte.
func sqlitePrimaryCode(err *sqlite.Error) int { return err.Code() & 0xff }

// isSQLiteBusy reports whether err is SQLite's "database is locked".
func isSQLiteBusy(err error) bool {
	var sqliteErr *sqlite.Error
	return errors.As(err, &sqliteErr) && sqlitePrimaryCode(sqliteErr) == sqlite3.SQLITE_BUSY
}

func wrapInternal(op string, err error) error {
	return &blobmark.Error{Code: blobmark.EINTERNAL, Message: "internal error", Err: fmt.Errorf("%s: %w", op, err)}
}

func wrapUnavailable(op string, err error) error {
	return &blobmark.Error{Code: blobmark.EUNAVAILABLE, Message: "database unavailable", Err: fmt.Errorf("%s: %w", op, err)}
}

// notFound is the ENOTFOUND answer for a row that is missing or hidden by a
// soft delete; the two are indistinguishable to clients on purpose.
func notFound(what string) error {
	return blobmark.Errorf(blobmark.ENOTFOUND, "%s not found", what)
}
