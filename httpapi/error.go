package httpapi

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/blobmark/blobmark"
)

// errorStatus maps an error code to its HTTP status. It is the only place
// that does, so a new code means one new line here.
func errorStatus(code string) int {
	switch code {
	case blobmark.EINVALID:
		return http.StatusBadRequest
	case blobmark.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case blobmark.EFORBIDDEN:
		return http.StatusForbidden
	case blobmark.ENOTFOUND:
		return http.StatusNotFound
	case blobmark.ECONFLICT:
		return http.StatusConflict
	case blobmark.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case blobmark.ENOTIMPLEMENTED:
		return http.StatusNotImplemented
	case blobmark.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case blobmark.ERATELIMITED, blobmark.EBUSY:
		return http.StatusTooManyRequests
	default:
		return http.StatusInternalServerError
	}
}

// errorEnvelope is Label Studio's error body (its custom DRF exception
// handler): every error, whatever its status, has this shape.
type errorEnvelope struct {
	ID               string              `json:"id"`
	StatusCode       int                 `json:"status_code"`
	Version          string              `json:"version"`
	Detail           string              `json:"detail"`
	ExcInfo          *string             `json:"exc_info"`
	ValidationErrors map[string][]string `json:"validation_errors,omitempty"`
}

// writeError answers with err in Label Studio's envelope. Internal errors
// are logged in full and shown to the client as "internal error" only.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := blobmark.ErrorCode(err)
	status := errorStatus(code)
	env := errorEnvelope{
		ID:         newErrorID(),
		StatusCode: status,
		Version:    s.version(),
		Detail:     blobmark.ErrorMessage(err),
	}
	switch {
	case status >= 500:
		level := slog.LevelError
		if code == blobmark.EUNAVAILABLE {
			level = slog.LevelWarn
		}
		s.logger().Log(r.Context(), level, "request failed",
			"method", r.Method, "route", r.Pattern, "error_id", env.ID, "err", err)
		if code == blobmark.EINTERNAL {
			env.Detail = "internal error"
		}
	case code == blobmark.EINVALID:
		var e *blobmark.Error
		if errors.As(err, &e) {
			env.ValidationErrors = fieldErrors(e)
		}
		if len(env.ValidationErrors) > 0 {
			// Label Studio's own wording; the field messages say what is wrong.
			env.Detail = "Validation error"
		}
	case status == http.StatusUnauthorized:
		// One challenge per scheme the server takes (RFC 9110 §11.6.1), so
		// a client learns that Bearer works too when tokens are served.
		w.Header().Add("WWW-Authenticate", `Token realm="api"`)
		if s.Tokens != nil {
			w.Header().Add("WWW-Authenticate", `Bearer realm="api"`)
		}
	}
	var later *retryLater
	if errors.As(err, &later) {
		w.Header().Set("Retry-After", strconv.Itoa(later.seconds()))
	}
	writeJSON(w, status, env)
}

func fieldErrors(e *blobmark.Error) map[string][]string {
	if len(e.Fields) > 0 {
		return maps.Clone(e.Fields)
	}
	if e.Field != "" {
		return map[string][]string{e.Field: {e.Message}}
	}
	return nil
}

// newErrorID returns a random UUID (version 4) naming one error answer, so a
// user's report can be found in the log.
func newErrorID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// notFound is the answer for an unknown or malformed id, in DRF's words.
func notFound() error { return blobmark.Errorf(blobmark.ENOTFOUND, "Not found.") }

// invalidPage is DRF's answer for a page that does not exist.
func invalidPage() error { return blobmark.Errorf(blobmark.ENOTFOUND, "Invalid page.") }

// validation collects field problems so one answer reports all of them.
type validation map[string][]string

func (v validation) add(field, format string, args ...any) {
	v[field] = append(v[field], fmt.Sprintf(format, args...))
}

// err returns nil when nothing was added, else an EINVALID *Error whose
// message lists every problem (for logs and non-JSON readers).
func (v validation) err() error {
	if len(v) == 0 {
		return nil
	}
	var parts []string
	for _, f := range slices.Sorted(maps.Keys(v)) {
		parts = append(parts, f+": "+strings.Join(v[f], " "))
	}
	return &blobmark.Error{Code: blobmark.EINVALID, Message: strings.Join(parts, "; "), Fields: map[string][]string(v)}
}

// writeJSON answers with v as JSON. HTML characters stay as they are (label
// configs are XML), as in Label Studio's answers.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only a programming error gets here (an unsupported type).
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"detail":"internal error"}` + "\n"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
