package httpapi

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/blobmark/blobmark"
)

// API tokens, at Label Studio's paths (wire §2):
//
//	GET  /api/token/            the caller's live personal access tokens, redacted
//	POST /api/token/            create one (201 {token, created_at, expires_at}, shown once)
//	POST /api/token/refresh/    {refresh} → 200 {access}; no Authorization needed
//	POST /api/token/blacklist/  {refresh} revokes one of the caller's tokens
//	POST /api/token/rotate/     {refresh} → {refresh}: a new token; the old is revoked
//	DELETE /api/token/{id}/     revokes one of the caller's tokens by the id the
//	                            list shows (a blobmark extension)
//	GET, POST /api/jwt/settings the organization's token settings
//	GET  /api/current-user/token         the legacy key cannot be shown (stored hashed)
//	POST /api/current-user/reset-token/  a new legacy key, shown once
//
// A personal access token (PAT) is a JWT refresh token (jwt.go) whose jti is
// the only thing stored. Scripts exchange it for an access token that lives
// accessTokenTTL and send that as "Authorization: Bearer <access>". Every
// request with one reads the PAT's record and its owner in one query, so
// revoking the PAT, deactivating the user or turning API tokens off works
// on the next request, on every replica, however young the access token.

// accessTokenTTL is how long an access token lives: SimpleJWT's default.
const accessTokenTTL = 5 * time.Minute

// redactedTokenLen is how much of a token's jti its listing shows.
const redactedTokenLen = 8

func (s *Server) tokenRoutes() []route {
	if s.Tokens == nil {
		return nil
	}
	return []route{
		{"GET /api/token/{$}", s.handleListTokens, label},
		{"POST /api/token/{$}", s.handleCreateToken, label},
		{"POST /api/token/refresh/{$}", s.handleRefreshToken, public},
		{"POST /api/token/blacklist/{$}", s.handleBlacklistToken, label},
		{"POST /api/token/rotate/{$}", s.handleRotateToken, label},
		{"DELETE /api/token/{id}/{$}", s.handleRevokeTokenByID, label},
		{"GET /api/jwt/settings", s.handleGetTokenSettings, label},
		{"POST /api/jwt/settings", s.handleUpdateTokenSettings, manageMembers},
		{"GET /api/current-user/token", s.handleGetLegacyToken, label},
		{"POST /api/current-user/reset-token/{$}", s.handleResetLegacyToken, label},
	}
}

// now reads Server.Clock.
func (s *Server) now() time.Time {
	if s.Clock != nil {
		return s.Clock()
	}
	return time.Now()
}

// tokenKey returns Server.TokenKey, or a random key made once per process
// when none is configured.
func (s *Server) tokenKey() []byte {
	s.tokens.once.Do(func() {
		s.tokens.key = s.TokenKey
		if len(s.tokens.key) == 0 {
			s.tokens.key = make([]byte, 32)
			_, _ = rand.Read(s.tokens.key)
		}
	})
	return s.tokens.key
}

// signPAT returns the personal access token of a record.
func (s *Server) signPAT(pt *blobmark.PersonalToken) string {
	return signJWT(s.tokenKey(), tokenClaims{TokenType: refreshTokenType, Exp: pt.ExpiresAt.Unix(),
		Iat: pt.CreatedAt.Unix(), JTI: pt.JTI, UserID: pt.UserID})
}

// tokenJSON is a personal access token as the token list shows it. In the
// answer that creates it Token is the token itself; in the list, where the
// token cannot be shown again, it is the first characters of its jti
// claim and an ellipsis, enough to recognise it. ID, an extra key on
// Label Studio's wire, is what DELETE /api/token/{id}/ takes.
type tokenJSON struct {
	ID        int64     `json:"id"`
	Token     string    `json:"token"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Server) handleCreateToken(w http.ResponseWriter, r *http.Request) {
	u := blobmark.UserFromContext(r.Context())
	pt, err := s.Tokens.CreatePersonalToken(r.Context(), u.ID, s.now())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, tokenJSON{ID: pt.ID, Token: s.signPAT(pt), CreatedAt: pt.CreatedAt, ExpiresAt: pt.ExpiresAt})
}

// tokenOrderings are the ?ordering= values of the token list.
var tokenOrderings = map[string]func(a, b *blobmark.PersonalToken) int{
	"created_at": func(a, b *blobmark.PersonalToken) int { return a.CreatedAt.Compare(b.CreatedAt) },
	"expires_at": func(a, b *blobmark.PersonalToken) int { return a.ExpiresAt.Compare(b.ExpiresAt) },
}

func (s *Server) handleListTokens(w http.ResponseWriter, r *http.Request) {
	ordering := r.URL.Query().Get("ordering")
	field, desc := strings.TrimPrefix(ordering, "-"), strings.HasPrefix(ordering, "-")
	cmpTokens, ok := tokenOrderings[cmp.Or(field, "created_at")]
	if !ok {
		s.writeError(w, r, blobmark.FieldErrorf("ordering", "Order by created_at or expires_at, with - for descending; got %q.", ordering))
		return
	}
	u := blobmark.UserFromContext(r.Context())
	list, err := s.Tokens.ListPersonalTokens(r.Context(), u.ID, s.now())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	slices.SortStableFunc(list, func(a, b *blobmark.PersonalToken) int {
		if desc {
			return cmpTokens(b, a)
		}
		return cmpTokens(a, b)
	})
	out := make([]tokenJSON, len(list))
	for i, pt := range list {
		out[i] = tokenJSON{ID: pt.ID, Token: pt.JTI[:min(redactedTokenLen, len(pt.JTI))] + "…", CreatedAt: pt.CreatedAt, ExpiresAt: pt.ExpiresAt}
	}
	writeJSON(w, http.StatusOK, out)
}

// refreshBody is the body of the routes that take a personal access token.
type refreshBody struct {
	Refresh string `json:"refresh"`
}

// readRefresh reads the {refresh} body.
func (s *Server) readRefresh(r *http.Request) (string, error) {
	var in refreshBody
	if err := s.decodeJSON(r, &in); err != nil {
		return "", err
	}
	if strings.TrimSpace(in.Refresh) == "" {
		return "", blobmark.FieldErrorf("refresh", "This field is required.")
	}
	return strings.TrimSpace(in.Refresh), nil
}

// handleRefreshToken exchanges a personal access token for an access
// token. It is public: the SDK posts it without Authorization. Only status
// 200 is accepted by the SDK. Tokens this server did not sign count as
// failed credentials against the client's address, as invalid legacy keys
// do; a signed token cannot be guessed, so its other refusals (expired,
// revoked) do not.
func (s *Server) handleRefreshToken(w http.ResponseWriter, r *http.Request) {
	refresh, err := s.readRefresh(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	u, pat, err := s.authenticateJWT(r, refresh, refreshTokenType)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !u.Role.Active() {
		s.writeError(w, r, errInactive())
		return
	}
	now := s.now()
	var id [16]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
	access := signJWT(s.tokenKey(), tokenClaims{TokenType: accessTokenType, Exp: now.Add(accessTokenTTL).Unix(),
		Iat: now.Unix(), JTI: hex.EncodeToString(id[:]), UserID: u.ID, PAT: pat})
	writeJSON(w, http.StatusOK, map[string]string{"access": access})
}

// authenticateBearer accepts "Authorization: Bearer <access token>".
func (s *Server) authenticateBearer(r *http.Request) (*blobmark.User, error) {
	token, ok, err := authorizationCredentials(r, "Bearer")
	if !ok || err != nil {
		return nil, err
	}
	if !strings.Contains(token, ".") {
		// Not a JWT at all: a legacy key under the wrong scheme, which can
		// never pass, so it is no guess either.
		return nil, blobmark.Errorf(blobmark.EUNAUTHORIZED,
			"Bearer takes an access token (a JSON Web Token from POST /api/token/refresh/); send a legacy API key as \"Authorization: Token <key>\".")
	}
	u, _, err := s.authenticateJWT(r, token, accessTokenType)
	return u, err
}

// authenticateJWT checks a token of type want (signature, type, age) and
// returns the owner of the personal access token behind it, read afresh,
// and that token's jti. Forged tokens are throttled (handleRefreshToken).
func (s *Server) authenticateJWT(r *http.Request, token, want string) (*blobmark.User, string, error) {
	address := s.addressKeyOf(r)
	if wait := s.limiter().admit(address); wait > 0 {
		return nil, "", tooManyFailures("invalid tokens from this address", wait)
	}
	c, err := parseJWT(s.tokenKey(), token)
	if err != nil {
		s.failedCredentials(r, "jwt", address)
		return nil, "", err
	}
	s.limiter().succeeded(address)
	now := s.now()
	if err := checkClaims(c, want, now); err != nil {
		return nil, "", err
	}
	pat := c.JTI
	if want == accessTokenType {
		pat = c.PAT
	}
	u, err := s.Tokens.AuthenticatePersonalToken(r.Context(), pat, now)
	if err != nil {
		return nil, "", err
	}
	if u.ID != c.UserID {
		return nil, "", errTokenNotOurs
	}
	return u, pat, nil
}

// ownPAT reads the {refresh} body of blacklist and rotate: a personal
// access token this server signed. Whose it is, the store decides.
func (s *Server) ownPAT(r *http.Request) (tokenClaims, error) {
	refresh, err := s.readRefresh(r)
	if err != nil {
		return tokenClaims{}, err
	}
	c, err := parseJWT(s.tokenKey(), refresh)
	if err != nil {
		return tokenClaims{}, blobmark.FieldErrorf("refresh", "%s", blobmark.ErrorMessage(err))
	}
	if c.TokenType != refreshTokenType {
		return tokenClaims{}, blobmark.FieldErrorf("refresh", "Token has wrong type: send a personal access token (a refresh token), not an access token.")
	}
	return c, nil
}

// handleBlacklistToken revokes one of the caller's personal access tokens
// (again, or once expired, is fine); another user's is not found, whether
// or not it exists.
func (s *Server) handleBlacklistToken(w http.ResponseWriter, r *http.Request) {
	c, err := s.ownPAT(r)
	if err == nil {
		err = s.Tokens.RevokePersonalToken(r.Context(), blobmark.UserFromContext(r.Context()).ID, c.JTI, s.now())
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleRevokeTokenByID revokes one of the caller's live personal access
// tokens by the id its listing shows. Blacklist needs the token itself,
// which a user who lost it (or a page listing tokens) no longer has. A
// token of another user, a revoked or an expired one is not found: only
// what the caller's list shows can be revoked here.
func (s *Server) handleRevokeTokenByID(w http.ResponseWriter, r *http.Request) {
	userID := blobmark.UserFromContext(r.Context()).ID
	serveDelete(s, w, r, func(r *http.Request) (*blobmark.PersonalToken, error) {
		id, err := pathID(r, "id")
		if err != nil {
			return nil, err
		}
		list, err := s.Tokens.ListPersonalTokens(r.Context(), userID, s.now())
		if err != nil {
			return nil, err
		}
		if i := slices.IndexFunc(list, func(pt *blobmark.PersonalToken) bool { return pt.ID == id }); i >= 0 {
			return list[i], nil
		}
		return nil, notFound()
	}, func(ctx context.Context, pt *blobmark.PersonalToken) error {
		return s.Tokens.RevokePersonalToken(ctx, userID, pt.JTI, s.now())
	})
}

// handleRotateToken replaces one of the caller's live personal access
// tokens with a new one, of the organization's current lifetime.
func (s *Server) handleRotateToken(w http.ResponseWriter, r *http.Request) {
	c, err := s.ownPAT(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pt, err := s.Tokens.RotatePersonalToken(r.Context(), blobmark.UserFromContext(r.Context()).ID, c.JTI, s.now())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"refresh": s.signPAT(pt)})
}

func (s *Server) handleGetTokenSettings(w http.ResponseWriter, r *http.Request) {
	set, err := s.Tokens.TokenSettings(r.Context(), blobmark.UserFromContext(r.Context()).OrganizationID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, set)
}

// handleUpdateTokenSettings changes the settings: api_token_ttl_days is
// required, as in Label Studio; a flag left out keeps its value.
func (s *Server) handleUpdateTokenSettings(w http.ResponseWriter, r *http.Request) {
	var in struct {
		TTLDays       *int  `json:"api_token_ttl_days"`
		Enabled       *bool `json:"api_tokens_enabled"`
		LegacyEnabled *bool `json:"legacy_api_tokens_enabled"`
	}
	if err := s.decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if in.TTLDays == nil {
		s.writeError(w, r, blobmark.FieldErrorf("api_token_ttl_days", "This field is required."))
		return
	}
	orgID := blobmark.UserFromContext(r.Context()).OrganizationID
	set, err := s.Tokens.TokenSettings(r.Context(), orgID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	set.APITokenTTLDays = *in.TTLDays
	set.APITokensEnabled = *cmp.Or(in.Enabled, &set.APITokensEnabled)
	set.LegacyAPITokensEnabled = *cmp.Or(in.LegacyEnabled, &set.LegacyAPITokensEnabled)
	if set, err = s.Tokens.UpdateTokenSettings(r.Context(), orgID, *set); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, set)
}

// handleGetLegacyToken answers users.get_token. Label Studio shows the key
// ({"token"}, read by its legacy client; the SDK's model has "detail"), but
// blobmark stores only its hash, so neither can hold it: token is empty,
// and detail says which key it is and how to get a new one. Making a new
// key here would silently break every script using the old one.
func (s *Server) handleGetLegacyToken(w http.ResponseWriter, r *http.Request) {
	u := blobmark.UserFromContext(r.Context())
	writeJSON(w, http.StatusOK, map[string]string{"token": "", "detail": "Your API token (it begins with " + u.TokenPrefix +
		") is stored hashed and cannot be shown again; POST /api/current-user/reset-token/ makes a new one, shown once, and the old one stops working."})
}

// handleResetLegacyToken makes a new legacy key (Label Studio: 201 {token}).
// The old key stops working at once.
func (s *Server) handleResetLegacyToken(w http.ResponseWriter, r *http.Request) {
	u := blobmark.UserFromContext(r.Context())
	set, err := s.Tokens.TokenSettings(r.Context(), u.OrganizationID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !set.LegacyAPITokensEnabled {
		s.writeError(w, r, &blobmark.Error{Code: blobmark.EFORBIDDEN, Message: blobmark.ErrLegacyTokensDisabled.Message})
		return
	}
	token, err := s.Users.RotateToken(r.Context(), u.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"token": token})
}

// tokensState is the server's token key, made once.
type tokensState struct {
	once sync.Once
	key  []byte
}
