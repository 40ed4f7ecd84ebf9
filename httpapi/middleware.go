package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/blobmark/blobmark"
)

// statusRecorder remembers what a handler answered, for the access log and
// for panic recovery (which may only write when nothing was written yet).
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusRecorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer (flushing,
// deadlines) through the recorder.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessLog logs one line per request: method, route pattern (not the raw
// path, so ids and query strings stay out), status, size and duration.
// Headers and bodies are never logged: they carry tokens and user data.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		// ServeMux records the matched pattern on the request it was given.
		route := r.Pattern
		if route == "" || route == "/" {
			route = "unmatched"
		}
		s.logger().LogAttrs(r.Context(), slog.LevelInfo, "http request",
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Int64("bytes", rec.bytes),
			slog.Duration("duration", time.Since(start)),
		)
	})
}

// recoverPanics turns a handler panic into a logged 500 instead of a
// dropped connection.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			err := fmt.Errorf("panic: %v\n%s", v, debug.Stack())
			if rec, ok := w.(*statusRecorder); ok && rec.status != 0 {
				// Too late for an error body; log it and drop the connection.
				s.logger().ErrorContext(r.Context(), "request failed", "method", r.Method, "route", r.Pattern, "err", err)
				panic(http.ErrAbortHandler)
			}
			s.writeError(w, r, err)
		}()
		next.ServeHTTP(w, r)
	})
}

// limitBody caps every request body at MaxBodyBytes. A declared length over
// the limit is refused before anything is read.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := s.maxBodyBytes()
		if r.ContentLength > limit {
			s.writeError(w, r, bodyTooLarge(limit))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

// authenticator finds the user a request speaks for. It returns (nil, nil)
// when the request carries none of its kind of credentials, so the next
// authenticator may try; an error means credentials were given but are bad.
type authenticator func(r *http.Request) (*blobmark.User, error)

// authenticators lists the ways a caller may prove who it is, tried in
// order: the API token and the personal access token's access token
// (tokens.go) first, so a request that carries one is never subject to the
// session cookie's CSRF checks.
func (s *Server) authenticators() []authenticator {
	auths := []authenticator{s.authenticateToken, s.authenticateSession}
	if s.Tokens != nil {
		auths = slices.Insert(auths, 1, s.authenticateBearer)
	}
	return auths
}

// requireUser lets a request through only when an authenticator vouches for
// it, the user's role is active, and it grants the route's permission; the
// user goes in the request context. The user and its role are read afresh
// on every request, so deactivating someone or changing their role takes
// effect on their next one, on every replica.
func (s *Server) requireUser(needs blobmark.Permission, next http.Handler) http.Handler {
	auths := s.authenticators()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, auth := range auths {
			u, err := auth(r)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			if u == nil {
				continue
			}
			if err := permit(u, needs); err != nil {
				s.writeError(w, r, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(blobmark.NewContextWithUser(r.Context(), u)))
			return
		}
		if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); scheme != "" {
			s.writeError(w, r, blobmark.Errorf(blobmark.EUNAUTHORIZED,
				"Unsupported authorization scheme %q; send a legacy API token as \"Authorization: Token <key>\" or a personal access token's access token as \"Authorization: Bearer <access token>\".", scheme))
			return
		}
		s.writeError(w, r, blobmark.Errorf(blobmark.EUNAUTHORIZED, "Authentication credentials were not provided."))
	})
}

// permit refuses a user whose role is not active (401, Django REST
// framework's message, as its credentials no longer count) or does not
// grant p (403, naming the role).
func permit(u *blobmark.User, p blobmark.Permission) error {
	if !u.Role.Active() {
		return errInactive()
	}
	if !u.Role.Can(p) {
		return blobmark.Errorf(blobmark.EFORBIDDEN, "You do not have permission to perform this action: the %s role cannot %s.", u.Role.Name(), permissionVerb[p])
	}
	return nil
}

func errInactive() error {
	return blobmark.Errorf(blobmark.EUNAUTHORIZED, "User inactive or deleted.")
}

// permissionVerb says what each permission allows, for refusals.
var permissionVerb = map[blobmark.Permission]string{
	blobmark.PermLabel:                "label",
	blobmark.PermReview:               "see or change other members' annotations",
	blobmark.PermManageProjects:       "create, change, import into or export projects",
	blobmark.PermStorages:             "manage storages, webhooks or event settings",
	blobmark.PermHostIdentityStorages: "set up storages that use the server's own identity",
	blobmark.PermManageMembers:        "manage members, roles or organization settings",
}

// authenticateToken accepts "Authorization: Token <key>", as Label Studio
// (DRF's TokenAuthentication) does, with the same messages.
func (s *Server) authenticateToken(r *http.Request) (*blobmark.User, error) {
	key, ok, err := authorizationCredentials(r, "Token")
	if !ok || err != nil {
		return nil, err
	}
	// A token is 160 random bits, but an address that keeps sending wrong
	// ones is slowed down all the same (throttle.go).
	address := s.addressKeyOf(r)
	if wait := s.limiter().admit(address); wait > 0 {
		return nil, tooManyFailures("invalid tokens from this address", wait)
	}
	u, err := s.Users.AuthenticateToken(r.Context(), key)
	if errors.Is(err, blobmark.ErrLegacyTokensDisabled) {
		// The key is right: not a guess.
		s.limiter().succeeded(address)
		return nil, err
	} else if blobmark.ErrorCode(err) == blobmark.EUNAUTHORIZED || (err == nil && u == nil) {
		s.failedCredentials(r, "token", address)
		return nil, blobmark.Errorf(blobmark.EUNAUTHORIZED, "Invalid token.")
	} else if err != nil {
		return nil, err
	}
	s.limiter().succeeded(address)
	return u, nil
}

// authorizationCredentials returns the credentials of an Authorization
// header of the scheme given (case-insensitive); ok is false when the
// request has no such header. A header of the scheme without exactly one
// credential is refused with DRF's messages.
func authorizationCredentials(r *http.Request, scheme string) (credentials string, ok bool, err error) {
	fields := strings.Fields(r.Header.Get("Authorization"))
	if len(fields) == 0 || !strings.EqualFold(fields[0], scheme) {
		return "", false, nil
	}
	switch {
	case len(fields) == 1:
		return "", true, blobmark.Errorf(blobmark.EUNAUTHORIZED, "Invalid token header. No credentials provided.")
	case len(fields) > 2:
		return "", true, blobmark.Errorf(blobmark.EUNAUTHORIZED, "Invalid token header. Token string should not contain spaces.")
	}
	return fields[1], true, nil
}

// failedCredentials counts a failed sign-in or token against keys, and logs
// when that makes the client wait, so an operator sees guessing start. The
// log names the client address, never the credentials or the email.
func (s *Server) failedCredentials(r *http.Request, kind string, keys ...throttleKey) {
	if wait := s.limiter().failed(keys...); wait > 0 {
		s.logger().WarnContext(r.Context(), "repeated failed credentials; backing off",
			"kind", kind, "client", s.clientAddr(r).String(), "wait", wait)
	}
}

// unmatched answers requests no route claims, in the JSON envelope: 405
// with Allow when the path exists under other methods, else 404, with a
// hint when the same path with or without its trailing slash exists
// (Label Studio is strict about slashes, and so are we).
func (s *Server) unmatched(routable func(*http.Request) bool) http.Handler {
	methods := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
	allowed := func(r *http.Request, path string) []string {
		var out []string
		for _, m := range methods {
			u := *r.URL
			u.Path, u.RawPath = path, ""
			if routable(&http.Request{Method: m, Host: r.Host, URL: &u}) {
				out = append(out, m)
			}
		}
		return out
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ms := allowed(r, r.URL.Path); len(ms) > 0 {
			w.Header().Set("Allow", strings.Join(ms, ", "))
			writeJSON(w, http.StatusMethodNotAllowed, errorEnvelope{
				ID: newErrorID(), StatusCode: http.StatusMethodNotAllowed, Version: s.version(),
				Detail: fmt.Sprintf("Method %q not allowed.", r.Method),
			})
			return
		}
		other := r.URL.Path + "/"
		if strings.HasSuffix(r.URL.Path, "/") {
			other = strings.TrimSuffix(r.URL.Path, "/")
		}
		if other != "" && len(allowed(r, other)) > 0 {
			s.writeError(w, r, blobmark.Errorf(blobmark.ENOTFOUND,
				"Not found. This API serves %s (the trailing slash matters).", other))
			return
		}
		s.writeError(w, r, notFound())
	})
}
