package azuretest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// signingKey signs the fake tokens. Azurite never checks the signature, but a
// well-formed HS256 token keeps the tokens realistic.
var signingKey = func() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}()

// TokenClaims are the claims of an access token the fakes issue.
type TokenClaims struct {
	Audience string
	TenantID string
	ObjectID string
	AppID    string
	// IssuedAt defaults to now; Lifetime to one hour.
	IssuedAt time.Time
	Lifetime time.Duration
}

// MintToken returns a JWT that Azurite accepts as an Entra ID access token:
// issuer https://sts.windows.net/<tenant>/ (Azurite rejects any other), the
// requested audience, iat/nbf/exp, and oid/tid (needed for user delegation keys).
func MintToken(c TokenClaims) string {
	if c.IssuedAt.IsZero() {
		c.IssuedAt = time.Now()
	}
	if c.Lifetime == 0 {
		c.Lifetime = time.Hour
	}
	iat := c.IssuedAt.Add(-time.Minute).Unix()
	claims := map[string]any{
		"aud": c.Audience, "iss": "https://sts.windows.net/" + c.TenantID + "/",
		"iat": iat, "nbf": iat, "exp": c.IssuedAt.Add(c.Lifetime).Unix(),
		"oid": c.ObjectID, "tid": c.TenantID, "sub": c.ObjectID,
	}
	if c.AppID != "" {
		claims["appid"] = c.AppID
	}
	head := b64json(map[string]any{"alg": "HS256", "typ": "JWT"})
	body := b64json(claims)
	mac := hmac.New(sha256.New, signingKey)
	mac.Write([]byte(head + "." + body))
	return head + "." + body + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func b64json(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeJWT splits a JWT into its header, claims and signed part.
func decodeJWT(tok string) (header, claims map[string]any, signed string, sig []byte, err error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, nil, "", nil, fmt.Errorf("not a JWT")
	}
	dec := func(s string, v any) error {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, v)
	}
	if err = dec(parts[0], &header); err != nil {
		return
	}
	if err = dec(parts[1], &claims); err != nil {
		return
	}
	sig, err = base64.RawURLEncoding.DecodeString(parts[2])
	return header, claims, parts[0] + "." + parts[1], sig, err
}

// audienceOf turns an OAuth scope or resource into a token audience.
func audienceOf(scopeOrResource string) string {
	for _, s := range strings.Fields(scopeOrResource) {
		if strings.HasSuffix(s, "/.default") {
			return strings.TrimSuffix(s, "/.default")
		}
	}
	return strings.TrimSuffix(scopeOrResource, "/.default")
}
