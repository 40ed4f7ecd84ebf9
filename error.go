package blobmark

import (
	"errors"
	"fmt"
)

// Error codes are the small, closed set of failure kinds every adapter maps
// foreign errors onto. The HTTP layer turns each into one status code, so a
// new code is a deliberate API change.
const (
	ECONFLICT       = "conflict"        // the request conflicts with current state
	EINTERNAL       = "internal"        // a bug or an unexpected outside failure
	EINVALID        = "invalid"         // the caller sent something wrong
	ENOTFOUND       = "not_found"       // the thing does not exist (or is hidden)
	EUNAUTHORIZED   = "unauthorized"    // no or wrong credentials
	EFORBIDDEN      = "forbidden"       // authenticated but not allowed
	EUNAVAILABLE    = "unavailable"     // an outside service is down or throttling; retry later
	ETOOLARGE       = "too_large"       // the body or file exceeds a configured limit
	ENOTIMPLEMENTED = "not_implemented" // the operation is not possible for this configuration
	ERATELIMITED    = "rate_limited"    // the caller failed too often and must wait before trying again
	EBUSY           = "busy"            // the server is at a configured limit of concurrent work; retry later
)

// Error is blobmark's one error type. Message is safe to show to a client:
// it never contains a secret. Field names the input at fault, when there is
// one, so the HTTP layer can report it in Label Studio's validation_errors.
type Error struct {
	Code    string
	Message string
	Field   string
	// Fields carries several field problems at once (validation reports every
	// problem in one answer, not the first one only).
	Fields map[string][]string
	// Err is the underlying cause, kept for logs, never shown to clients.
	Err error
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("blobmark error: code=%s field=%s message=%s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("blobmark error: code=%s message=%s", e.Code, e.Message)
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an EINVALID *Error about one input field.
func FieldErrorf(field, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	return &Error{Code: EINVALID, Field: field, Message: msg, Fields: map[string][]string{field: {msg}}}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err: the message of the
// first *Error in its chain, or "internal error" for anything else.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrorField returns the field the first *Error in err's chain names, ""
// when there is none.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}
