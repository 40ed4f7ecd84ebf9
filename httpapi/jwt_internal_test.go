package httpapi

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// TestParseJWTAcceptsOnlyOurHeader signs tokens under other headers with
// the right key: the signature checks out, and the header alone must
// refuse them (a confused verifier would read "alg" from the token).
func TestParseJWTAcceptsOnlyOurHeader(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	c := tokenClaims{TokenType: accessTokenType, Exp: time.Now().Add(time.Hour).Unix(), JTI: "j", UserID: 1, PAT: "p"}
	good := signJWT(key, c)
	if got, err := parseJWT(key, good); err != nil || got != c {
		t.Fatalf("control: our own token parses as %+v, %v", got, err)
	}
	payload := good[len(jwtHeader)+1 : len(good)-len(jwtSignature(key, "x"))-1]
	for _, header := range []string{
		`{"alg":"none","typ":"JWT"}`,
		`{"alg":"HS512","typ":"JWT"}`,
		`{"alg":"HS256","typ":"JWT","kid":"../other"}`,
		`{"typ":"JWT","alg":"HS256"}`,
		`{"alg":"HS256"}`,
	} {
		unsigned := b64.EncodeToString([]byte(header)) + "." + payload
		if _, err := parseJWT(key, unsigned+"."+jwtSignature(key, unsigned)); !errors.Is(err, errTokenNotOurs) {
			t.Errorf("header %s: %v, want errTokenNotOurs", header, err)
		}
	}
	if _, err := parseJWT(bytes.Repeat([]byte{8}, 32), good); !errors.Is(err, errTokenNotOurs) {
		t.Errorf("a token signed under another key: %v", err)
	}
	// A signed token with claims missing is not ours either.
	if _, err := parseJWT(key, signJWT(key, tokenClaims{TokenType: accessTokenType, JTI: "j", UserID: 1})); !errors.Is(err, errTokenNotOurs) {
		t.Errorf("a token without exp: %v", err)
	}
}
