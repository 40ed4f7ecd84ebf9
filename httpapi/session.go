package httpapi

import (
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/blobmark/blobmark"
)

// The web UI signs in with a session cookie; scripts keep using API tokens.
//
// The session cookie is stateless: it carries the user id, a random session
// id and an expiry, signed with HMAC-SHA256 under the server's session key,
// and is HttpOnly and SameSite=Lax. Signing out revokes the session id in
// memory until it would have expired anyway.
//
// Cookies are sent by the browser on its own, so a state-changing request
// authenticated by the cookie must also prove it comes from our pages
// (CSRF): it must carry the header X-CSRFToken (Django's name, as Label
// Studio's front end sends it) equal to the session's CSRF token, which the
// server derives from the session id and hands to the page in the readable
// cookie blobmark_csrf (the double-submit pattern, bound to the session so a
// cookie planted by a sibling subdomain does not help). An Origin or
// Sec-Fetch-Site header naming another site is refused as well. Requests
// authenticated with "Authorization: Token" are exempt: a browser never
// adds that header by itself.
const (
	sessionCookie = "blobmark_session"
	csrfCookie    = "blobmark_csrf"
	csrfHeader    = "X-CSRFToken"
	// DefaultSessionTTL is how long a session lasts when Server.SessionTTL is
	// zero: two weeks, Django's default session age.
	DefaultSessionTTL = 14 * 24 * time.Hour
)

// sessionState is the server's session key and its revoked session ids.
type sessionState struct {
	once    sync.Once
	key     []byte
	mu      sync.Mutex
	revoked map[string]time.Time // session id → its expiry
}

// sessionKey returns Server.SessionKey, or a random key made once per
// process when none is configured.
func (s *Server) sessionKey() []byte {
	s.sessions.once.Do(func() {
		if len(s.SessionKey) > 0 {
			s.sessions.key = s.SessionKey
			return
		}
		s.sessions.key = make([]byte, 32)
		_, _ = rand.Read(s.sessions.key)
	})
	return s.sessions.key
}

func (s *Server) sessionTTL() time.Duration {
	if s.SessionTTL > 0 {
		return s.SessionTTL
	}
	return DefaultSessionTTL
}

// session is the signed content of the session cookie.
type session struct {
	UserID  int64  `json:"u"`
	ID      string `json:"s"`
	Expires int64  `json:"e"` // Unix seconds
}

func (s *Server) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, s.sessionKey())
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

var b64 = base64.RawURLEncoding

// encodeSession returns the cookie value of ss: payload.signature.
func (s *Server) encodeSession(ss session) string {
	payload, _ := json.Marshal(ss)
	p := b64.EncodeToString(payload)
	return p + "." + b64.EncodeToString(s.mac("session", p))
}

// decodeSession returns the session of a cookie value, or false when the
// value is forged, expired or revoked.
func (s *Server) decodeSession(value string, now time.Time) (session, bool) {
	p, sig, ok := strings.Cut(value, ".")
	if !ok {
		return session{}, false
	}
	got, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac("session", p)) {
		return session{}, false
	}
	raw, err := b64.DecodeString(p)
	if err != nil {
		return session{}, false
	}
	var ss session
	if json.Unmarshal(raw, &ss) != nil || ss.UserID == 0 || ss.ID == "" || now.Unix() >= ss.Expires {
		return session{}, false
	}
	s.sessions.mu.Lock()
	_, revoked := s.sessions.revoked[ss.ID]
	s.sessions.mu.Unlock()
	return ss, !revoked
}

// csrfToken is the CSRF token of a session.
func (s *Server) csrfToken(sessionID string) string {
	return b64.EncodeToString(s.mac("csrf", sessionID))
}

func (s *Server) revokeSession(ss session, now time.Time) {
	s.sessions.mu.Lock()
	defer s.sessions.mu.Unlock()
	if s.sessions.revoked == nil {
		s.sessions.revoked = map[string]time.Time{}
	}
	for id, exp := range s.sessions.revoked {
		if now.Unix() >= exp.Unix() {
			delete(s.sessions.revoked, id)
		}
	}
	s.sessions.revoked[ss.ID] = time.Unix(ss.Expires, 0)
}

// safeMethod reports whether a method only reads (RFC 9110 §9.2.1).
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// sameOrigin refuses requests a browser marks as coming from another site:
// Sec-Fetch-Site cross-site, or an Origin whose host is not ours. A request
// with neither header (not from a browser, or an old one) passes; the CSRF
// token check is what protects it.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

func csrfFailed() error {
	return blobmark.Errorf(blobmark.EFORBIDDEN,
		"CSRF Failed: CSRF token missing or incorrect. Reload the page, or send an API token with \"Authorization: Token <key>\".")
}

// authenticateSession accepts the web UI's session cookie. A state-changing
// request must also pass the CSRF checks.
func (s *Server) authenticateSession(r *http.Request) (*blobmark.User, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	ss, ok := s.decodeSession(c.Value, time.Now())
	if !ok {
		return nil, blobmark.Errorf(blobmark.EUNAUTHORIZED, "Your session has expired. Sign in again.")
	}
	if !safeMethod(r.Method) {
		want := s.csrfToken(ss.ID)
		got := r.Header.Get(csrfHeader)
		if !sameOrigin(r) || got == "" || !hmac.Equal([]byte(got), []byte(want)) {
			return nil, csrfFailed()
		}
	}
	u, err := s.Users.FindUserByID(r.Context(), ss.UserID)
	if blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
		return nil, blobmark.Errorf(blobmark.EUNAUTHORIZED, "Your session has expired. Sign in again.")
	} else if err != nil {
		return nil, err
	}
	return u, nil
}

// secureRequest reports whether the browser reached us over HTTPS, directly
// or through a proxy that says so; cookies are then marked Secure.
func secureRequest(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (s *Server) setSessionCookies(w http.ResponseWriter, r *http.Request, ss session) {
	exp := time.Unix(ss.Expires, 0)
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: s.encodeSession(ss), Path: "/", Expires: exp,
		HttpOnly: true, Secure: secureRequest(r), SameSite: http.SameSiteLaxMode,
	})
	// Readable by the page's scripts, which echo it in X-CSRFToken.
	http.SetCookie(w, &http.Cookie{
		Name: csrfCookie, Value: s.csrfToken(ss.ID), Path: "/", Expires: exp,
		Secure: secureRequest(r), SameSite: http.SameSiteStrictMode,
	})
}

func clearSessionCookies(w http.ResponseWriter, r *http.Request) {
	for _, name := range []string{sessionCookie, csrfCookie} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1,
			HttpOnly: name == sessionCookie, Secure: secureRequest(r), SameSite: http.SameSiteLaxMode})
	}
}

// userJSON is a user as Label Studio's API shows one.
type userJSON struct {
	ID                 int64            `json:"id"`
	Email              string           `json:"email"`
	Username           string           `json:"username"`
	FirstName          string           `json:"first_name"`
	LastName           string           `json:"last_name"`
	Initials           string           `json:"initials"`
	Avatar             *string          `json:"avatar"`
	Phone              string           `json:"phone"`
	Joined             time.Time        `json:"date_joined"`
	LastActivity       time.Time        `json:"last_activity"`
	ActiveOrganization int64            `json:"active_organization"`
	OrgMembership      []membershipJSON `json:"org_membership"`
}

// membershipJSON is a user's role in an organization, as the user object's
// org_membership lists it.
type membershipJSON struct {
	Role           blobmark.Role `json:"role"`
	Active         bool          `json:"active"`
	OrganizationID int64         `json:"organization_id"`
	UserType       string        `json:"user_type"`
}

// currentUserJSON is the signed-in user as whoami shows it: the user, and
// the permissions of its role (blobmark.Permissions' names), which the web
// UI reads to show only what the user may do. Roles, an extra key, is the
// list of roles with their names, so the UI keeps no copy of its own.
type currentUserJSON struct {
	userJSON
	Role        blobmark.Role         `json:"role"`
	Permissions []blobmark.Permission `json:"permissions"`
	Roles       []roleJSON            `json:"roles"`
}

// roleJSON is a role as whoami lists it. Assignable tells whether the
// caller may give the role to a member who is not an owner
// (blobmark.Role.CanAssign): all of them for an owner, all but Owner for
// an administrator, none for the rest.
type roleJSON struct {
	Code       blobmark.Role `json:"code"`
	Name       string        `json:"name"`
	Assignable bool          `json:"assignable"`
}

func presentCurrentUser(u *blobmark.User) currentUserJSON {
	perms := []blobmark.Permission{}
	for _, p := range blobmark.Permissions {
		if u.Role.Can(p) {
			perms = append(perms, p)
		}
	}
	roles := make([]roleJSON, len(blobmark.Roles))
	for i, r := range blobmark.Roles {
		roles[i] = roleJSON{Code: r, Name: r.Name(), Assignable: u.Role.CanAssign(blobmark.RoleAnnotator, r)}
	}
	return currentUserJSON{userJSON: presentUser(u), Role: u.Role, Permissions: perms, Roles: roles}
}

// presentUser shows a user. Usernames are optional here, as sign-in is by
// email, so a user without one shows its email there, which Label Studio's
// clients display.
func presentUser(u *blobmark.User) userJSON {
	initials := ""
	for _, n := range []string{u.FirstName, u.LastName} {
		if n != "" {
			initials += strings.ToUpper(n[:1])
		}
	}
	if initials == "" && u.Email != "" {
		initials = strings.ToUpper(u.Email[:1])
	}
	return userJSON{ID: u.ID, Email: u.Email, Username: cmp.Or(u.Username, u.Email), FirstName: u.FirstName,
		LastName: u.LastName, Initials: initials, Joined: u.DateJoined, LastActivity: u.DateJoined,
		ActiveOrganization: u.OrganizationID,
		OrgMembership:      []membershipJSON{{Role: u.Role, Active: u.Role.Active(), OrganizationID: u.OrganizationID, UserType: "standard"}}}
}

// credentials checks that an email and a password were given, as signing
// in, signing up and creating a member all need.
func credentials(email, password string) validation {
	v := validation{}
	if strings.TrimSpace(email) == "" {
		v.add("email", "This field is required.")
	}
	if password == "" {
		v.add("password", "This field is required.")
	}
	return v
}

// handleLogin checks an email and password and starts a session, for
// requests fromOurPages only.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if err := fromOurPages(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := s.decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := credentials(in.Email, in.Password).err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	keys := []throttleKey{accountKeyOf(in.Email), s.addressKeyOf(r)}
	if wait := s.limiter().admit(keys...); wait > 0 {
		s.writeError(w, r, tooManyFailures("failed sign-ins", wait))
		return
	}
	u, err := s.Users.AuthenticatePassword(r.Context(), strings.TrimSpace(in.Email), in.Password)
	if blobmark.ErrorCode(err) == blobmark.EUNAUTHORIZED || (err == nil && u == nil) {
		// The same answer whether or not the email exists; the store spends
		// as long on a password check either way.
		s.failedCredentials(r, "sign-in", keys...)
		s.writeError(w, r, blobmark.Errorf(blobmark.EUNAUTHORIZED, "The email or the password is wrong."))
		return
	} else if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.limiter().succeeded(keys...)
	if !u.Role.Active() {
		s.writeError(w, r, errInactive())
		return
	}
	s.startSession(w, r, u, http.StatusOK)
}

// fromOurPages refuses a request that starts a session unless its body is
// JSON, which a cross-site HTML form cannot send, and no browser marks it
// as coming from another site, so no one can sign a visitor in to an
// account of theirs.
func fromOurPages(r *http.Request) error {
	if !sameOrigin(r) {
		return csrfFailed()
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return blobmark.Errorf(blobmark.EINVALID, "Send the request as JSON with Content-Type: application/json.")
	}
	return nil
}

// startSession signs u in with a new session and answers status with u.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u *blobmark.User, status int) {
	id := make([]byte, 18)
	_, _ = rand.Read(id)
	ss := session{UserID: u.ID, ID: b64.EncodeToString(id), Expires: time.Now().Add(s.sessionTTL()).Unix()}
	s.setSessionCookies(w, r, ss)
	writeJSON(w, status, presentCurrentUser(u))
}

// handleLogout ends the session of the cookie, if any, and clears the
// cookies. Ending a live session needs the CSRF token, so another site
// cannot sign a visitor out.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if ss, ok := s.decodeSession(c.Value, time.Now()); ok {
			got := r.Header.Get(csrfHeader)
			if !sameOrigin(r) || !hmac.Equal([]byte(got), []byte(s.csrfToken(ss.ID))) {
				s.writeError(w, r, csrfFailed())
				return
			}
			s.revokeSession(ss, time.Now())
		}
	}
	clearSessionCookies(w, r)
	w.WriteHeader(http.StatusNoContent)
}

// handleWhoAmI answers the signed-in user (session or token), as Label
// Studio's /api/current-user/whoami does.
func (s *Server) handleWhoAmI(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, presentCurrentUser(blobmark.UserFromContext(r.Context())))
}
