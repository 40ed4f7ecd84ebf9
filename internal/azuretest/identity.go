package azuretest

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// ManagedIdentity is an identity the fake managed-identity endpoint can
// issue tokens for. The system-assigned identity has no ids to ask for.
type ManagedIdentity struct {
	ClientID, ResourceID, ObjectID string
	// TokenLifetime defaults to one hour. The SDK caches managed identity
	// tokens per process, so tests that count token requests use fresh identities.
	TokenLifetime time.Duration
}

// fakeIdentity serves the App Service managed identity protocol (what
// IDENTITY_ENDPOINT + IDENTITY_HEADER select) and the IMDS protocol (reached
// through the test transport, which rewrites 169.254.169.254 to it).
type fakeIdentity struct {
	header   string
	tenantID string
	counts   *counters
	mu       sync.Mutex
	system   *ManagedIdentity // nil: no system-assigned identity on this "host"
	imdsSys  bool             // whether IMDS offers the system-assigned identity
	users    []*ManagedIdentity
}

func (f *fakeIdentity) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /msi/token", func(w http.ResponseWriter, r *http.Request) {
		f.counts.add("mi")
		if r.Header.Get("X-IDENTITY-HEADER") != f.header {
			writeJSON(w, 401, map[string]any{"error": "unauthorized", "error_description": "wrong X-IDENTITY-HEADER"})
			return
		}
		q := r.URL.Query()
		f.issue(w, q.Get("resource"), q.Get("client_id"), q.Get("mi_res_id"), q.Get("object_id"), true)
	})
	mux.HandleFunc("GET /metadata/identity/oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		f.counts.add("imds")
		if r.Header.Get("Metadata") != "true" {
			writeJSON(w, 400, map[string]any{"error": "invalid_request", "error_description": "Required metadata header not specified"})
			return
		}
		q := r.URL.Query()
		f.issue(w, q.Get("resource"), q.Get("client_id"), q.Get("msi_res_id"), q.Get("object_id"), f.imdsSys)
	})
	return mux
}

func (f *fakeIdentity) issue(w http.ResponseWriter, resource, clientID, resID, objID string, systemOK bool) {
	f.mu.Lock()
	var id *ManagedIdentity
	if clientID == "" && resID == "" && objID == "" {
		if systemOK {
			id = f.system
		}
	} else {
		for _, u := range f.users {
			if clientID != "" && u.ClientID == clientID || resID != "" && u.ResourceID == resID || objID != "" && u.ObjectID == objID {
				id = u
			}
		}
	}
	f.mu.Unlock()
	if id == nil {
		writeJSON(w, 400, map[string]any{"error": "invalid_request", "error_description": "Identity not found"})
		return
	}
	life := id.TokenLifetime
	if life == 0 {
		life = time.Hour
	}
	now := time.Now()
	tok := MintToken(TokenClaims{Audience: resource, TenantID: f.tenantID, ObjectID: id.ObjectID, AppID: id.ClientID, IssuedAt: now, Lifetime: life})
	writeJSON(w, 200, map[string]any{
		"access_token": tok, "expires_on": strconv.FormatInt(now.Add(life).Unix(), 10),
		"expires_in": strconv.FormatInt(int64(life/time.Second), 10),
		"resource":   resource, "token_type": "Bearer", "client_id": id.ClientID,
	})
}
