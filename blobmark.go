// Package blobmark holds the domain of a data-labeling server whose data
// lives in Azure Blob Storage: users, projects, tasks, annotations and
// predictions, and the service interfaces the adapters implement.
//
// It imports only the standard library. Adapters (the SQL store, the Azure
// connector, the HTTP API) depend on it and never on each other, so each can
// be read, tested and replaced on its own.
package blobmark

import (
	"context"
	"time"
)

// Page selects a window of a list. Limit <= 0 means the adapter's default.
type Page struct {
	Offset int
	Limit  int
}

// Clock is how the domain reads time, so tests and stores agree on "now".
type Clock func() time.Time

// userContextKey is the context key of the authenticated user.
type userContextKey struct{}

// NewContextWithUser returns ctx carrying the authenticated user, so services
// can stamp created_by/completed_by without a parameter on every call.
func NewContextWithUser(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, userContextKey{}, u)
}

// UserFromContext returns the authenticated user carried by ctx, or nil.
func UserFromContext(ctx context.Context) *User {
	u, _ := ctx.Value(userContextKey{}).(*User)
	return u
}

// UserIDFromContext returns the authenticated user's id, or 0 when none.
func UserIDFromContext(ctx context.Context) int64 {
	if u := UserFromContext(ctx); u != nil {
		return u.ID
	}
	return 0
}
