package storetest

import (
	"context"
	"encoding/json"
	"errors"

	"fmt"
	"testing"

	"github.com/blobmark/blobmark"
)

// Store is everything the suite exercises: the services a blobmark store
// provides to the HTTP API.
type Store interface {
	blobmark.UserService
	blobmark.ProjectService
	blobmark.TaskService
	blobmark.AnnotationService
	blobmark.OrganizationService
	blobmark.ProjectAuthorizer
	blobmark.MemberService
	blobmark.TokenService
	blobmark.InviteService
	blobmark.PredictionService
	blobmark.LabelStreamService
}

// Open returns a fresh, empty store for one test, and arranges (with
// t.Cleanup) for it to be closed.
type Open func(t *testing.T) Store

// Run runs the whole suite as subtests of t, each on a store of its own.
func Run(t *testing.T, open Open) {
	t.Run("Users", func(t *testing.T) { testUsers(t, open) })
	t.Run("Projects", func(t *testing.T) { testProjects(t, open) })
	t.Run("Tasks", func(t *testing.T) { testTasks(t, open) })
	t.Run("Annotations", func(t *testing.T) { testAnnotations(t, open) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, open) })
	t.Run("Organizations", func(t *testing.T) { testOrganizations(t, open) })
	t.Run("Members", func(t *testing.T) { testMembers(t, open) })
	t.Run("PersonalTokens", func(t *testing.T) { testPersonalTokens(t, open) })
	t.Run("MemberLists", func(t *testing.T) { testMemberLists(t, open) })
}

// wantCode fails the test unless err carries the blobmark error code want.
func wantCode(t *testing.T, err error, want string) {
	t.Helper()
	if got := blobmark.ErrorCode(err); got != want {
		t.Fatalf("error code = %q (%v), want %q", got, err, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// asUser returns a context carrying a freshly created user, as the HTTP
// layer's authentication would.
func asUser(t *testing.T, s Store, email string) (context.Context, *blobmark.User) {
	t.Helper()
	u, _, err := s.CreateUser(t.Context(), email, "secret password")
	must(t, err)
	return blobmark.NewContextWithUser(t.Context(), u), u
}

func newProject(t *testing.T, ctx context.Context, s Store, title string) *blobmark.Project {
	t.Helper()
	p := &blobmark.Project{Title: title, LabelConfig: "<View></View>"}
	must(t, s.CreateProject(ctx, p))
	return p
}

// tasksOf returns n simple task imports with data {"i": k}.
func tasksOf(n int) []*blobmark.TaskImport {
	out := make([]*blobmark.TaskImport, n)
	for i := range out {
		out[i] = &blobmark.TaskImport{Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}
	}
	return out
}

func jsonEqual(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("invalid JSON %q: %v", got, err)
	}
	must(t, json.Unmarshal([]byte(want), &w))
	if fmt.Sprint(g) != fmt.Sprint(w) {
		t.Fatalf("JSON = %s, want %s", got, want)
	}
}

func asError(err error, target **blobmark.Error) bool { return errors.As(err, target) }

// wantField fails unless err is an EINVALID error naming field.
func wantField(t *testing.T, err error, field string) {
	t.Helper()
	var e *blobmark.Error
	if !errors.As(err, &e) || e.Code != blobmark.EINVALID || e.Field != field {
		t.Fatalf("error %v, want EINVALID on %q", err, field)
	}
}
