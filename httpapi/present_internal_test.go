package httpapi

import (
	"context"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
)

func TestTimeSince(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0 minutes"},
		{30 * time.Second, "0 minutes"},
		{time.Minute, "1 minute"},
		{3*time.Hour + 2*time.Minute, "3 hours, 2 minutes"},
		{3 * time.Hour, "3 hours"},
		{24*time.Hour + 5*time.Minute, "1 day"},
		{9 * 24 * time.Hour, "1 week, 2 days"},
		{400 * 24 * time.Hour, "1 year, 1 month"},
	}
	for _, tt := range tests {
		if got := timeSince(tt.d); got != tt.want {
			t.Errorf("timeSince(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestErrorStatusCoversEveryCode(t *testing.T) {
	for code, want := range map[string]int{
		blobmark.EINVALID: 400, blobmark.EUNAUTHORIZED: 401, blobmark.EFORBIDDEN: 403,
		blobmark.ENOTFOUND: 404, blobmark.ECONFLICT: 409, blobmark.ETOOLARGE: 413,
		blobmark.EINTERNAL: 500, blobmark.ENOTIMPLEMENTED: 501, blobmark.EUNAVAILABLE: 503,
		"a code added later": 500,
	} {
		if got := errorStatus(code); got != want {
			t.Errorf("errorStatus(%q) = %d, want %d", code, got, want)
		}
	}
}

// userReads counts the users a presenter reads from the store.
type userReads struct {
	blobmark.UserService
	read []int64
}

func (u *userReads) FindUserByID(ctx context.Context, id int64) (*blobmark.User, error) {
	u.read = append(u.read, id)
	return &blobmark.User{ID: id, Email: "other@example.com"}, nil
}

// TestPresenterKnowsTheRequestsUser: an annotation of the user who sent
// the request names it without reading it again; another user's is read.
func TestPresenterKnowsTheRequestsUser(t *testing.T) {
	reads := &userReads{}
	s := &Server{Users: reads}
	me := &blobmark.User{ID: 7, Email: "ada@example.com", FirstName: "Ada"}
	p := s.presenter(blobmark.NewContextWithUser(context.Background(), me))
	if got := p.annotationJSON(&blobmark.Annotation{ID: 1, CompletedBy: 7}).fields.CreatedUsername; got != "Ada ada@example.com, 7" {
		t.Errorf("own annotation's created_username = %q", got)
	}
	if got := p.annotationJSON(&blobmark.Annotation{ID: 2, CompletedBy: 8}).fields.CreatedUsername; got != "other@example.com, 8" {
		t.Errorf("another's annotation's created_username = %q", got)
	}
	if len(reads.read) != 1 || reads.read[0] != 8 {
		t.Errorf("users read from the store: %v, want [8]", reads.read)
	}
}
