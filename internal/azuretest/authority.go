package azuretest

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// App is an app registration known to the fake Entra ID authority. Exactly
// one of Secret, Certificate or FederatedToken says how it authenticates.
type App struct {
	ClientID string
	TenantID string
	ObjectID string
	// Secret is the client secret; SecretExpired makes the authority answer
	// as Entra does for an expired secret (AADSTS7000222).
	Secret        string
	SecretExpired bool
	// Certificate is checked against client assertions: thumbprint and signature.
	Certificate *x509.Certificate
	// FederatedToken is the exact assertion accepted from workload identity
	// (the projected service account token).
	FederatedToken string
	// Audience overrides the token audience (a token "for another resource"
	// is how tests simulate an identity that storage does not accept).
	Audience string
	// TokenLifetime defaults to one hour; a negative value issues tokens that
	// are already expired.
	TokenLifetime time.Duration // AccessToken, when set, is issued verbatim instead of a freshly minted
	// token, for tests that must know the token in advance (a database role
	// whose password is the token).
	AccessToken string
}

// fakeAuthority speaks the parts of the Entra ID v2 protocol the Azure SDK
// uses: OpenID discovery and the token endpoint for client secrets, client
// certificates (signed assertions) and federated assertions.
type fakeAuthority struct {
	base   string // https://127.0.0.1:PORT
	counts *counters
	mu     sync.Mutex
	apps   map[string]*App
}

func (a *fakeAuthority) register(app App) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.apps[app.ClientID] = &app
}

func (a *fakeAuthority) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		a.counts.add("discovery")
		t := r.PathValue("tenant")
		writeJSON(w, 200, map[string]any{
			"token_endpoint":                        a.base + "/" + t + "/oauth2/v2.0/token",
			"authorization_endpoint":                a.base + "/" + t + "/oauth2/v2.0/authorize",
			"issuer":                                a.base + "/" + t + "/v2.0",
			"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt"},
		})
	})
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", a.token)
	return mux
}

func (a *fakeAuthority) token(w http.ResponseWriter, r *http.Request) {
	a.counts.add("token")
	if err := r.ParseForm(); err != nil {
		oauthError(w, 400, "invalid_request", "AADSTS900144: malformed body")
		return
	}
	clientID := r.PostForm.Get("client_id")
	a.counts.add("token:" + clientID)
	a.mu.Lock()
	app := a.apps[clientID]
	a.mu.Unlock()
	tenant := r.PathValue("tenant")
	switch {
	case r.PostForm.Get("grant_type") != "client_credentials":
		oauthError(w, 400, "unsupported_grant_type", "AADSTS70003: only client_credentials is supported here")
		return
	case app == nil:
		oauthError(w, 400, "unauthorized_client", "AADSTS700016: Application with identifier '"+clientID+"' was not found in the directory")
		return
	case app.TenantID != "" && app.TenantID != tenant:
		oauthError(w, 400, "invalid_request", "AADSTS90002: Tenant '"+tenant+"' not found")
		return
	}
	if secret := r.PostForm.Get("client_secret"); secret != "" || app.Secret != "" {
		switch {
		case app.Secret == "" || secret != app.Secret:
			oauthError(w, 401, "invalid_client", "AADSTS7000215: Invalid client secret provided")
			return
		case app.SecretExpired:
			oauthError(w, 401, "invalid_client", "AADSTS7000222: The provided client secret keys for app '"+clientID+"' are expired")
			return
		}
	} else {
		assertion := r.PostForm.Get("client_assertion")
		if r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" || assertion == "" {
			oauthError(w, 401, "invalid_client", "AADSTS7000216: client_assertion, client_secret or client_certificate is required")
			return
		}
		if app.Certificate != nil && !verifyAssertion(assertion, app.Certificate) {
			oauthError(w, 401, "invalid_client", "AADSTS700027: Client assertion failed signature validation")
			return
		}
		if app.FederatedToken != "" && assertion != app.FederatedToken {
			oauthError(w, 400, "invalid_client", "AADSTS70021: No matching federated identity record found for presented assertion")
			return
		}
	}
	aud := app.Audience
	if aud == "" {
		aud = audienceOf(r.PostForm.Get("scope"))
	}
	life := app.TokenLifetime
	if life == 0 {
		life = time.Hour
	}
	tok := MintToken(TokenClaims{Audience: aud, TenantID: tenant, ObjectID: app.ObjectID, AppID: clientID, Lifetime: life})
	if app.AccessToken != "" {
		tok = app.AccessToken
	}
	expiresIn := int64(life / time.Second)
	if expiresIn <= 0 {
		expiresIn = 3600 // the SDK must still try the token, so storage can reject it
	}
	writeJSON(w, 200, map[string]any{"token_type": "Bearer", "expires_in": expiresIn, "ext_expires_in": expiresIn, "access_token": tok})
}

// verifyAssertion checks a certificate credential's client assertion as
// Entra does: the header's thumbprint names the certificate and the
// signature verifies with its public key (RS256 or PS256).
func verifyAssertion(assertion string, cert *x509.Certificate) bool {
	header, _, signed, sig, err := decodeJWT(assertion)
	if err != nil {
		return false
	}
	s1 := sha1.Sum(cert.Raw)
	s256 := sha256.Sum256(cert.Raw)
	x5t, _ := header["x5t"].(string)
	x5tS256, _ := header["x5t#S256"].(string)
	if !bytes.Equal(decodeThumbprint(x5t), s1[:]) && !bytes.Equal(decodeThumbprint(x5tS256), s256[:]) {
		return false
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return false
	}
	digest := sha256.Sum256([]byte(signed))
	switch header["alg"] {
	case "RS256":
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) == nil
	case "PS256":
		return rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, nil) == nil
	}
	return false
}

// decodeThumbprint accepts the base64 flavours MSAL and other clients use
// for x5t headers (URL-safe or standard, padded or not).
func decodeThumbprint(s string) []byte {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b
		}
	}
	return nil
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]any{"error": code, "error_description": desc, "error_codes": []int{}, "timestamp": time.Now().UTC().Format(time.DateTime)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
