package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/lswire"
)

// readBody reads the whole request body, which limitBody has capped.
func (s *Server) readBody(r *http.Request) ([]byte, error) {
	if err := refuseMultipart(r); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, bodyReadError(err)
	}
	return body, nil
}

// refuseMultipart answers a file upload: the API takes JSON bodies only.
func refuseMultipart(r *http.Request) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil && strings.HasPrefix(mt, "multipart/") {
			return blobmark.Errorf(blobmark.EINVALID,
				"Unsupported media type %q: file uploads are not supported, send JSON with Content-Type: application/json.", mt)
		}
	}
	return nil
}

// bodyReadError is the client's error for a body that could not be read:
// over the limit limitBody set, or cut off.
func bodyReadError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return bodyTooLarge(tooLarge.Limit)
	}
	return blobmark.Errorf(blobmark.EINVALID, "Could not read the request body: %v.", err)
}

func bodyTooLarge(limit int64) error {
	return blobmark.Errorf(blobmark.ETOOLARGE, "The request body is larger than the limit of %s.", formatBytes(limit))
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB (%d bytes)", n>>20, n)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB (%d bytes)", n>>10, n)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

// decodeJSON reads a JSON object body into v. An empty body counts as {}
// (DRF sees no fields); unknown fields are ignored, as DRF does.
func (s *Server) decodeJSON(r *http.Request, v any) error {
	body, err := s.readBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if k := jsonKind(body); k != "an object" {
		return blobmark.Errorf(blobmark.EINVALID, "Expected a JSON object in the request body, got %s.", k)
	}
	return jsonError(json.Unmarshal(body, v), "")
}

// jsonError turns an encoding/json error into a client error naming where
// the problem is: the byte offset of a syntax error, the field and expected
// type of a type error. prefix, when set, says which part of a larger body
// the field belongs to ("Task 3, annotation 0: ").
func jsonError(err error, prefix string) error {
	if err == nil {
		return nil
	}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		// Offset counts the bytes read, the offending one included.
		return blobmark.Errorf(blobmark.EINVALID, "%sJSON parse error - %s (at byte offset %d).", prefix, syntax.Error(), max(syntax.Offset-1, 0))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return blobmark.Errorf(blobmark.EINVALID, "%sJSON parse error - unexpected end of input.", prefix)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return blobmark.Errorf(blobmark.EINVALID, "%sExpected %s, got %s.", prefix, typeName(typ.Type), typ.Value)
		}
		if prefix != "" {
			return blobmark.Errorf(blobmark.EINVALID, "%s%q must be %s, got %s.", prefix, field, typeName(typ.Type), typ.Value)
		}
		return blobmark.FieldErrorf(field, "Expected %s, got %s.", typeName(typ.Type), typ.Value)
	}
	return err
}

// typeName describes a Go type the way a JSON client thinks of it.
func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return t.String()
}

// jsonKind names the kind of JSON value raw starts with ("an object",
// "an array", ...), for messages, in the import format's words.
func jsonKind(raw []byte) string { return lswire.JSONKind(raw) }

// pathID returns the positive integer id in path wildcard name. Anything
// else is ENOTFOUND, as Django's <int:pk> route would not match it.
func pathID(r *http.Request, name string) (int64, error) {
	return parseID(r.PathValue(name))
}

func parseID(s string) (int64, error) {
	if s == "" || len(s) > 19 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, notFound()
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, notFound()
	}
	return id, nil
}
