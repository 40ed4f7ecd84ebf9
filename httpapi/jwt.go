package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"time"

	"github.com/blobmark/blobmark"
)

// Personal access tokens and their access tokens are JSON Web Tokens signed
// with HMAC-SHA256 under the server's token key, as Label Studio's
// (SimpleJWT) are, so its SDK can read their exp claim. Only tokens this
// server signed are accepted: the header must be byte for byte the one it
// writes, which rules out "alg": "none", any other algorithm and any header
// parameter an attacker might add, before the signature is even computed.

// jwtHeader is the encoded header of every token the server signs.
var jwtHeader = b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// The token_type claims, SimpleJWT's names.
const (
	refreshTokenType = "refresh"
	accessTokenType  = "access"
)

// tokenClaims are the claims of our tokens.
type tokenClaims struct {
	TokenType string `json:"token_type"`
	Exp       int64  `json:"exp"`
	Iat       int64  `json:"iat"`
	JTI       string `json:"jti"`
	UserID    int64  `json:"user_id"`
	// PAT is, in an access token, the jti of the personal access token it
	// was made from: revoking that one stops this one.
	PAT string `json:"pat_jti,omitempty"`
}

// errTokenNotOurs refuses a token this server did not sign: malformed,
// tampered with, or of another algorithm. It is the one refusal a guesser
// gets, so it alone counts against the client's address (throttle.go).
var errTokenNotOurs = blobmark.Errorf(blobmark.EUNAUTHORIZED,
	"Token is invalid: it is not a token issued by this server (only HS256 JSON Web Tokens it signed are accepted).")

// signJWT returns the signed token of c.
func signJWT(key []byte, c tokenClaims) string {
	payload, _ := json.Marshal(c) // plain fields: cannot fail
	unsigned := jwtHeader + "." + b64.EncodeToString(payload)
	return unsigned + "." + jwtSignature(key, unsigned)
}

func jwtSignature(key []byte, unsigned string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(unsigned))
	return b64.EncodeToString(m.Sum(nil))
}

// parseJWT returns the claims of a token the server signed under key,
// whatever its type and age (checkClaims judges those); errTokenNotOurs
// otherwise. The signature is compared in constant time, as its encoding,
// so no second spelling of it passes.
func parseJWT(key []byte, token string) (tokenClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] != jwtHeader {
		return tokenClaims{}, errTokenNotOurs
	}
	want := jwtSignature(key, parts[0]+"."+parts[1])
	if !hmac.Equal([]byte(parts[2]), []byte(want)) {
		return tokenClaims{}, errTokenNotOurs
	}
	raw, err := b64.DecodeString(parts[1])
	var c tokenClaims
	if err != nil || json.Unmarshal(raw, &c) != nil || c.JTI == "" || c.UserID <= 0 || c.Exp <= 0 {
		return tokenClaims{}, errTokenNotOurs
	}
	return c, nil
}

// checkClaims refuses a token of another type than want, or one expired at
// now, saying which token the caller should have sent.
func checkClaims(c tokenClaims, want string, now time.Time) error {
	switch {
	case c.TokenType != want && want == accessTokenType:
		return blobmark.Errorf(blobmark.EUNAUTHORIZED,
			"Token has wrong type: a personal access token is not sent as Bearer; exchange it at POST /api/token/refresh/ and send the access token it returns.")
	case c.TokenType != want:
		return blobmark.Errorf(blobmark.EUNAUTHORIZED, "Token has wrong type: send a personal access token (a refresh token), not an access token.")
	case now.Unix() >= c.Exp && want == accessTokenType:
		return blobmark.Errorf(blobmark.EUNAUTHORIZED, "Access token has expired; get a new one at POST /api/token/refresh/.")
	case now.Unix() >= c.Exp:
		return blobmark.Errorf(blobmark.EUNAUTHORIZED, "Token has expired; create a new personal access token.")
	}
	return nil
}
