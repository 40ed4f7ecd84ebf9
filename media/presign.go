package media

import (
	"net/http"
	"strconv"
	"time"

	"github.com/blobmark/blobmark"
)

// Presign TTL bounds, in minutes.
const (
	// DefaultPresignTTLMinutes keeps a leaked URL short-lived yet outlasts
	// the time an annotator spends on one task.
	DefaultPresignTTLMinutes = 15
	// MinPresignTTLMinutes is the shortest TTL; anything less expires before
	// a slow browser has fetched the media.
	MinPresignTTLMinutes = 1
	// MaxPresignTTLMinutes is 7 days, the longest a user-delegation SAS may live.
	MaxPresignTTLMinutes = 7 * 24 * 60
)

// ValidateTTL checks a storage's presign_ttl (minutes) and reports a
// problem as an EINVALID error on field presign_ttl, the shape Label
// Studio's validation_errors expects.
func ValidateTTL(minutes int) error {
	if minutes < MinPresignTTLMinutes || minutes > MaxPresignTTLMinutes {
		return blobmark.FieldErrorf("presign_ttl", "presign_ttl must be between %d and %d minutes (7 days)", MinPresignTTLMinutes, MaxPresignTTLMinutes)
	}
	return nil
}

// PresignTTL is the lifetime of a URL presigned for a storage whose
// presign_ttl is minutes: the default when it is unset (0), else minutes
// held within the bounds, so that a value a database kept from before the
// bounds still signs a URL Azure accepts.
func PresignTTL(minutes int) time.Duration {
	if minutes == 0 {
		minutes = DefaultPresignTTLMinutes
	}
	return time.Duration(min(max(minutes, MinPresignTTLMinutes), MaxPresignTTLMinutes)) * time.Minute
}

// Redirect sends the browser to a presigned URL with 303 See Other, as Label
// Studio does. Cache-Control keeps shared caches from storing the answer,
// while max-age matches the URL's lifetime for clients that reuse it.
func Redirect(w http.ResponseWriter, sasURL string, ttl time.Duration) {
	h := w.Header()
	h.Set("Location", sasURL)
	h.Set("Cache-Control", "no-store, max-age="+strconv.FormatInt(int64(ttl/time.Second), 10))
	w.WriteHeader(http.StatusSeeOther)
}

// Mode is the operator's policy for serving media, for every storage.
type Mode string

// The operator's choices.
const (
	// ModeAuto follows each storage's presign flag.
	ModeAuto Mode = "auto"
	// ModeProxy streams everything through blobmark, for accounts behind a
	// firewall or private endpoint that browsers cannot reach.
	ModeProxy Mode = "proxy"
	// ModePresignOnly never streams, for operators who do not want blob
	// bytes through their server.
	ModePresignOnly Mode = "presign-only"
)

// ParseMode reads the operator setting; empty means ModeAuto.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case "":
		return ModeAuto, nil
	case ModeAuto, ModeProxy, ModePresignOnly:
		return m, nil
	}
	return "", blobmark.Errorf(blobmark.EINVALID, "media mode must be %q, %q or %q", ModeAuto, ModeProxy, ModePresignOnly)
}

// Delivery is how one resolve request is answered.
type Delivery int

// The deliveries.
const (
	// DeliverPresigned answers with Redirect to a presigned URL.
	DeliverPresigned Delivery = iota + 1
	// DeliverProxied answers with the bytes, streamed by ServeBlob.
	DeliverProxied
)

// MayPresign reports whether a storage's media may be delivered presigned
// under mode, before knowing whether its credential can sign: only then
// does the account's CORS configuration matter.
func MayPresign(presign bool, mode Mode) bool {
	return mode == ModePresignOnly || mode != ModeProxy && presign
}

// Choose decides how to deliver a blob from the storage's presign flag,
// whether its credential can sign URLs at all (a SAS-token storage cannot
// mint new ones), and the operator's mode. In ModeAuto a storage that asks
// for presigning but cannot sign is proxied rather than broken. In
// ModePresignOnly a storage that cannot sign has no permitted way to serve
// and gets an ENOTIMPLEMENTED error.
func Choose(presign, canSign bool, mode Mode) (Delivery, error) {
	switch mode {
	case ModeProxy:
		return DeliverProxied, nil
	case ModePresignOnly:
		if !canSign {
			return 0, blobmark.Errorf(blobmark.ENOTIMPLEMENTED, "this storage cannot presign URLs and the server does not proxy media")
		}
		return DeliverPresigned, nil
	case ModeAuto, "":
		if presign && canSign {
			return DeliverPresigned, nil
		}
		return DeliverProxied, nil
	}
	return 0, blobmark.Errorf(blobmark.EINVALID, "unknown media mode %q", mode)
}
