package media

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
)

func TestRedirect(t *testing.T) {
	const sas = "https://acct.blob.core.windows.net/images/a%20b.png?sv=2024-08-04&sr=b&sp=r&sig=abc%3D"
	w := httptest.NewRecorder()
	Redirect(w, sas, 15*time.Minute)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("status = %d, want 303", w.Code)
	}
	if got := w.Header().Get("Location"); got != sas {
		t.Fatalf("Location = %q, want the SAS URL unchanged", got)
	}
	if got := w.Header().Get("Cache-Control"); got != "no-store, max-age=900" {
		t.Fatalf("Cache-Control = %q", got)
	}
}

func TestValidateTTL(t *testing.T) {
	for minutes, ok := range map[int]bool{
		-1: false, 0: false, 1: true, DefaultPresignTTLMinutes: true, 10080: true, 10081: false, 1 << 20: false,
	} {
		err := ValidateTTL(minutes)
		if ok != (err == nil) {
			t.Errorf("ValidateTTL(%d) = %v, want ok=%v", minutes, err, ok)
			continue
		}
		if err != nil {
			var e *blobmark.Error
			if blobmark.ErrorCode(err) != blobmark.EINVALID || !errors.As(err, &e) || e.Field != "presign_ttl" || len(e.Fields["presign_ttl"]) != 1 {
				t.Errorf("ValidateTTL(%d) = %#v, want EINVALID on presign_ttl", minutes, err)
			}
		}
	}
}

// TestPresignTTL: an unset presign_ttl signs for the default, and one a
// database kept from before the bounds is held within them.
func TestPresignTTL(t *testing.T) {
	for minutes, want := range map[int]time.Duration{
		0: 15 * time.Minute, 1: time.Minute, 60: time.Hour, 10080: 7 * 24 * time.Hour,
		32767: 7 * 24 * time.Hour, 1 << 40: 7 * 24 * time.Hour, -5: time.Minute,
	} {
		if got := PresignTTL(minutes); got != want {
			t.Errorf("PresignTTL(%d) = %s, want %s", minutes, got, want)
		}
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": ModeAuto, "auto": ModeAuto, "proxy": ModeProxy, "presign-only": ModePresignOnly} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"Proxy", "presign", "off"} {
		if _, err := ParseMode(in); blobmark.ErrorCode(err) != blobmark.EINVALID {
			t.Errorf("ParseMode(%q) error = %v, want EINVALID", in, err)
		}
	}
}

func TestChoose(t *testing.T) {
	tests := []struct {
		presign, canSign bool
		mode             Mode
		want             Delivery
		code             string
	}{
		{true, true, ModeAuto, DeliverPresigned, ""},
		{true, false, ModeAuto, DeliverProxied, ""},
		{false, true, ModeAuto, DeliverProxied, ""},
		{false, false, ModeAuto, DeliverProxied, ""},
		{true, true, "", DeliverPresigned, ""},
		{true, true, ModeProxy, DeliverProxied, ""},
		{false, false, ModeProxy, DeliverProxied, ""},
		{true, true, ModePresignOnly, DeliverPresigned, ""},
		{false, true, ModePresignOnly, DeliverPresigned, ""},
		{true, false, ModePresignOnly, 0, blobmark.ENOTIMPLEMENTED},
		{true, true, Mode("weird"), 0, blobmark.EINVALID},
	}
	for _, tt := range tests {
		got, err := Choose(tt.presign, tt.canSign, tt.mode)
		if got != tt.want || blobmark.ErrorCode(err) != tt.code {
			t.Errorf("Choose(presign=%v, canSign=%v, %q) = %v, %v; want %v, code %q", tt.presign, tt.canSign, tt.mode, got, err, tt.want, tt.code)
		}
	}
}
