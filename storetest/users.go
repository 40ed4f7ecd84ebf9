package storetest

import (
	"strings"
	"testing"

	"github.com/blobmark/blobmark"
)

func testUsers(t *testing.T, open Open) {
	t.Run("CreateAndFind", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		u, token, err := s.CreateUser(ctx, "Ada@Example.com", "correct horse")
		must(t, err)
		if u.ID == 0 || u.Email != "Ada@Example.com" || u.DateJoined.IsZero() {
			t.Fatalf("created user = %+v", u)
		}
		if len(token) < 32 || !strings.HasPrefix(token, u.TokenPrefix) || u.TokenPrefix == "" {
			t.Fatalf("token %q with prefix %q", token, u.TokenPrefix)
		}
		byID, err := s.FindUserByID(ctx, u.ID)
		must(t, err)
		if byID.Email != u.Email || !byID.DateJoined.Equal(u.DateJoined) {
			t.Fatalf("FindUserByID = %+v, want %+v", byID, u)
		}
		byEmail, err := s.FindUserByEmail(ctx, "ada@example.COM")
		must(t, err)
		if byEmail.ID != u.ID {
			t.Fatalf("FindUserByEmail ignores case: got id %d, want %d", byEmail.ID, u.ID)
		}
		_, err = s.FindUserByID(ctx, u.ID+1000)
		wantCode(t, err, blobmark.ENOTFOUND)
		_, err = s.FindUserByEmail(ctx, "nobody@example.com")
		wantCode(t, err, blobmark.ENOTFOUND)
	})

	t.Run("DuplicateEmailConflicts", func(t *testing.T) {
		s := open(t)
		_, _, err := s.CreateUser(t.Context(), "ada@example.com", "pw one")
		must(t, err)
		_, _, err = s.CreateUser(t.Context(), "ADA@example.com", "pw two")
		wantCode(t, err, blobmark.ECONFLICT)
		if msg := blobmark.ErrorMessage(err); strings.Contains(strings.ToLower(msg), "insert") || strings.Contains(msg, "users") {
			t.Fatalf("conflict message leaks SQL: %q", msg)
		}
	})

	t.Run("InvalidInput", func(t *testing.T) {
		s := open(t)
		for _, tc := range []struct{ email, password, field string }{
			{"not-an-email", "pw", "email"},
			{"", "pw", "email"},
			{"Ada <ada@example.com>", "pw", "email"},
			{"ada@example.com", "", "password"},
			{"ada@example.com", strings.Repeat("x", 73), "password"},
		} {
			_, _, err := s.CreateUser(t.Context(), tc.email, tc.password)
			wantCode(t, err, blobmark.EINVALID)
			var e *blobmark.Error
			if !asError(err, &e) || e.Field != tc.field {
				t.Fatalf("CreateUser(%q, %q): error %v, want field %q", tc.email, tc.password, err, tc.field)
			}
		}
	})

	t.Run("PasswordAuth", func(t *testing.T) {
		s := open(t)
		u, _, err := s.CreateUser(t.Context(), "ada@example.com", "correct horse")
		must(t, err)
		got, err := s.AuthenticatePassword(t.Context(), "ADA@example.com", "correct horse")
		must(t, err)
		if got.ID != u.ID {
			t.Fatalf("authenticated user %d, want %d", got.ID, u.ID)
		}
		_, err = s.AuthenticatePassword(t.Context(), "ada@example.com", "wrong horse")
		wantCode(t, err, blobmark.EUNAUTHORIZED)
		_, errUnknown := s.AuthenticatePassword(t.Context(), "bob@example.com", "correct horse")
		wantCode(t, errUnknown, blobmark.EUNAUTHORIZED)
		if blobmark.ErrorMessage(err) != blobmark.ErrorMessage(errUnknown) {
			t.Fatalf("wrong password and unknown email answer differently: %q vs %q", blobmark.ErrorMessage(err), blobmark.ErrorMessage(errUnknown))
		}
	})

	t.Run("TokenAuthAndRotation", func(t *testing.T) {
		s := open(t)
		u, token, err := s.CreateUser(t.Context(), "ada@example.com", "pw")
		must(t, err)
		_, other, err := s.CreateUser(t.Context(), "bob@example.com", "pw")
		must(t, err)
		if token == other {
			t.Fatal("two users got the same token")
		}
		got, err := s.AuthenticateToken(t.Context(), token)
		must(t, err)
		if got.ID != u.ID {
			t.Fatalf("token owner %d, want %d", got.ID, u.ID)
		}
		for _, bad := range []string{"", "nope", token + "x", strings.ToUpper(token)} {
			_, err = s.AuthenticateToken(t.Context(), bad)
			wantCode(t, err, blobmark.EUNAUTHORIZED)
		}
		rotated, err := s.RotateToken(t.Context(), u.ID)
		must(t, err)
		if rotated == token {
			t.Fatal("rotation returned the same token")
		}
		_, err = s.AuthenticateToken(t.Context(), token)
		wantCode(t, err, blobmark.EUNAUTHORIZED)
		got, err = s.AuthenticateToken(t.Context(), rotated)
		must(t, err)
		if got.ID != u.ID || !strings.HasPrefix(rotated, got.TokenPrefix) {
			t.Fatalf("rotated token owner %+v", got)
		}
		_, err = s.RotateToken(t.Context(), u.ID+1000)
		wantCode(t, err, blobmark.ENOTFOUND)
	})
}
