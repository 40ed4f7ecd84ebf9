package httpapi

import (
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
