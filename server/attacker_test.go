package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/internal/azuretest"
	"github.com/blobmark/blobmark/jobs"
	"github.com/blobmark/blobmark/media"
	"github.com/blobmark/blobmark/server"
)

// These tests play a signed-in user who wants the server's own identity,
// stored secrets or network. A real HTTPS listener on loopback stands for
// the attacker's host; the harness's dialler also sends every connection
// to the instance-metadata address there, so a request the egress guard
// let through would be seen. Whatever the attack, the listener must see
// no connection at all, not merely no token.

// attackTarget is an HTTPS listener that counts every connection made to it.
type attackTarget struct {
	srv   *httptest.Server
	conns atomic.Int64
	port  string
}

func newAttackTarget(t *testing.T, h http.Handler) *attackTarget {
	a := &attackTarget{}
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	}
	a.srv = httptest.NewUnstartedServer(h)
	a.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			a.conns.Add(1)
		}
	}
	a.srv.StartTLS()
	t.Cleanup(a.srv.Close)
	_, a.port, _ = net.SplitHostPort(a.srv.Listener.Addr().String())
	return a
}

// attackEnv is a blobmark server on SQLite over the Azure harness, with
// every metadata-address connection routed to the attacker.
type attackEnv struct {
	t        *testing.T
	az       *azuretest.Env
	srv      *server.Server
	api      *httptest.Server
	attacker *attackTarget
	// allowed is the one container the operator allows host identities
	// on (for every organization), scoped the one allowed for Acme only.
	allowed, scoped string
	// attackerURL is the attacker's host as a storage endpoint.
	attackerURL string
}

func newAttackEnv(t *testing.T) *attackEnv {
	az := azuretest.Start(t)
	e := &attackEnv{t: t, az: az, attacker: newAttackTarget(t, nil), allowed: az.NewContainer(t), scoped: az.NewContainer(t)}
	e.attackerURL = "https://attacker.localhost:" + e.attacker.port + "/"
	reroute := map[string]string{}
	for _, port := range []string{"80", "443"} {
		reroute[net.JoinHostPort("169.254.169.254", port)] = e.attacker.srv.Listener.Addr().String()
	}
	guarded := az.GuardedClient(true, reroute)
	opts := az.Options()
	opts.Transport = guarded
	opts.ServerIdentityAllow = []string{az.BlobEndpoint + e.allowed, "Acme=" + az.BlobEndpoint + e.scoped}
	srv, err := server.Open(context.Background(), server.Config{DataDir: t.TempDir(), Azure: opts, AllowPrivateNetwork: true,
		WebhookClient: jobs.NewWebhookClient(guarded.Transport), JobPollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.StartJobs(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	e.api = httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		e.api.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	return e
}

// newAttackProject is an attackEnv with a member of org, their token and
// a project of theirs.
func newAttackProject(t *testing.T, org string) (*attackEnv, string, int64) {
	e := newAttackEnv(t)
	token := e.user(org)
	return e, token, e.project(token)
}

// user signs up a member of org and returns their token.
func (e *attackEnv) user(org string) string {
	_, token, err := e.srv.DB.CreateUserInOrganization(context.Background(), fmt.Sprintf("%s-%d@example.com", strings.ToLower(org), time.Now().UnixNano()), "password-123", org)
	if err != nil {
		e.t.Fatal(err)
	}
	return token
}

// call sends a JSON request and returns the status and decoded body.
func (e *attackEnv) call(token, method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	status, header, raw := send(e.t, e.api.URL, token, method, path, body)
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	if status >= 300 && status < 400 {
		out["location"] = header.Get("Location")
	}
	return status, out
}

// send sends a JSON request with an API token ("" for none), redirects not
// followed, and returns the answer.
func send(t *testing.T, base, token, method, path string, body any) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Token "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, raw
}

func (e *attackEnv) mustCall(token, method, path string, body any, want int) map[string]any {
	e.t.Helper()
	status, out := e.call(token, method, path, body)
	if status != want {
		e.t.Fatalf("%s %s: %d %v, want %d", method, path, status, out, want)
	}
	return out
}

const attackLabelConfig = `<View><Image name="img" value="$image"/><Choices name="c" toName="img"><Choice value="a"/></Choices></View>`

func (e *attackEnv) project(token string) int64 {
	out := e.mustCall(token, "POST", "/api/projects/", map[string]any{"title": "p", "label_config": attackLabelConfig}, 201)
	return int64(out["id"].(float64))
}

// wantRefused checks a 400 whose validation errors name field.
func (e *attackEnv) wantRefused(what string, status int, out map[string]any, field string) {
	e.t.Helper()
	errs, _ := out["validation_errors"].(map[string]any)
	if status != 400 || errs[field] == nil {
		e.t.Errorf("%s: %d %v, want a 400 naming %s", what, status, out, field)
	}
}

// noContact fails the test if the attacker's listener saw any connection.
func (e *attackEnv) noContact(what string) {
	e.t.Helper()
	if n := e.attacker.conns.Load(); n != 0 {
		e.t.Fatalf("%s: the attacker's host received %d connections", what, n)
	}
}

// hostIdentities are the auth types that speak for the server. Each
// connection names the allowed container; the attack is in the endpoint
// or the extra fields.
func (e *attackEnv) hostIdentities() map[string]map[string]any {
	e.az.WorkloadIdentityConfig(e.t) // the server's own AKS variables
	return map[string]map[string]any{
		"managed_identity":  {"auth_type": "managed_identity"},
		"workload_identity": {"auth_type": "workload_identity"},
		"server_identity":   {"auth_type": "server_identity"},
	}
}

func with(base map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// TestAttackerCannotAimTheServersIdentity: for each host identity and each
// of validate, create and PATCH (source and target) and files preview, a
// storage pointed at the attacker's host, at the allowed host on the
// attacker's port, or at the metadata address, or carrying the Entra ID
// settings of its own, is a 400 and the attacker is never contacted.
func TestAttackerCannotAimTheServersIdentity(t *testing.T) {
	e, token, pid := newAttackProject(t, "Acme")
	attackerURL := e.attackerURL
	otherPort := "https://" + azuretest.AccountName + ".blob.localhost:" + e.attacker.port + "/"
	for name, id := range e.hostIdentities() {
		legit := with(id, "project", pid, "endpoint", e.az.BlobEndpoint, "container", e.allowed)
		src := e.mustCall(token, "POST", "/api/storages/azure/", legit, 201)
		srcID := int(src["id"].(float64))
		dst := e.mustCall(token, "POST", "/api/storages/export/azure", legit, 201)
		dstID := int(dst["id"].(float64))

		attacks := map[string]struct {
			body  map[string]any
			field string
		}{
			"attacker's host":         {with(legit, "endpoint", attackerURL), "endpoint"},
			"allowed host, its port":  {with(legit, "endpoint", otherPort), "endpoint"},
			"metadata address":        {with(legit, "endpoint", "https://169.254.169.254/"), "endpoint"},
			"metadata by name":        {with(legit, "endpoint", "https://blob"+azuretest.MetadataSuffix+"/"), "endpoint"},
			"an authority of its own": {with(legit, "authority_host", attackerURL), "authority_host"},
			"a token file of its own": {with(legit, "federated_token_file", "/proc/self/environ"), "federated_token_file"},
			"another container":       {with(legit, "container", e.scoped+"x"), "endpoint"},
		}
		for attack, a := range attacks {
			what := name + ", " + attack
			for _, path := range []string{"/api/storages/azure/validate", "/api/storages/export/azure/validate", "/api/storages/azure/", "/api/storages/export/azure", "/api/storages/azure/files"} {
				status, out := e.call(token, "POST", path, a.body)
				e.wantRefused(what+": POST "+path, status, out, a.field)
			}
			patch := with(a.body)
			delete(patch, "project")
			for _, path := range []string{fmt.Sprintf("/api/storages/azure/%d", srcID), fmt.Sprintf("/api/storages/export/azure/%d", dstID)} {
				status, out := e.call(token, "PATCH", path, patch)
				e.wantRefused(what+": PATCH "+path, status, out, a.field)
			}
			status, out := e.call(token, "POST", "/api/storages/azure/validate", with(patch, "id", srcID))
			e.wantRefused(what+": validate by id", status, out, a.field)
		}
	}
	e.noContact("validate, create, PATCH and files")
}

// TestAttackerCannotUseAStoredStorage: storages saved before the operator
// narrowed the allow-list (written to the store directly here) are refused
// at sync, media resolve and export alike.
func TestAttackerCannotUseAStoredStorage(t *testing.T) {
	e, token, _ := newAttackProject(t, "Acme")
	ctx := context.Background()
	endpoints := []string{e.attackerURL, "https://169.254.169.254/"}
	for name := range e.hostIdentities() {
		pid := e.project(token)
		for _, endpoint := range endpoints {
			what := name + " at " + endpoint
			conn := blobmark.Connection{"auth_type": name, "endpoint": endpoint}
			src := &blobmark.SourceStorage{ProjectID: pid, Type: "azure", Container: e.allowed, Presign: true, PresignTTL: 15, Synchronizable: true, Connection: conn}
			if err := e.srv.DB.CreateSourceStorage(ctx, src); err != nil {
				t.Fatal(err)
			}
			e.mustCall(token, "POST", fmt.Sprintf("/api/storages/azure/%d/sync", src.ID), nil, 200)
			st := e.waitStatus(token, fmt.Sprintf("/api/storages/azure/%d", src.ID))
			if st["status"] != blobmark.StatusFailed || !strings.Contains(fmt.Sprint(st["traceback"]), "not") {
				t.Errorf("%s: sync ended %v: %v", what, st["status"], st["traceback"])
			}
		}

		// Media: a task whose blob only these storages could serve. A
		// storage the server may not open reads no blob: the blob is not
		// found, as for a container no storage of the project reads.
		uri := "azure-blob://" + e.allowed + "/a.jpg"
		e.mustCall(token, "POST", fmt.Sprintf("/api/projects/%d/import", pid), []map[string]any{{"image": uri}}, 201)
		tasks := e.mustCall(token, "GET", fmt.Sprintf("/api/tasks/?project=%d", pid), nil, 200)
		taskID := int(tasks["tasks"].([]any)[0].(map[string]any)["id"].(float64))
		if status, out := e.call(token, "GET", fmt.Sprintf("/tasks/%d/resolve/?fileuri=%s", taskID, media.EncodeFileURI(uri)), nil); status != 404 {
			t.Errorf("%s: media resolve: %d %v, want a 404", name, status, out)
		}

		// Export: one annotation, for target storages aimed at each place.
		var targets []int64
		for _, endpoint := range endpoints {
			dst := &blobmark.TargetStorage{ProjectID: pid, Type: "azure", Container: e.allowed, Connection: blobmark.Connection{"auth_type": name, "endpoint": endpoint}}
			if err := e.srv.DB.CreateTargetStorage(ctx, dst, false); err != nil {
				t.Fatal(err)
			}
			targets = append(targets, dst.ID)
		}
		e.mustCall(token, "POST", fmt.Sprintf("/api/tasks/%d/annotations/", taskID), map[string]any{"result": []any{}}, 201)
		for i, id := range targets {
			if st := e.waitStatus(token, fmt.Sprintf("/api/storages/export/azure/%d", id)); st["status"] != blobmark.StatusFailed {
				t.Errorf("%s: export to %s: storage %v: %v", name, endpoints[i], st["status"], st["traceback"])
			}
		}
	}
	e.noContact("sync, media and export")
}

// waitStatus polls a storage until its sync state settles.
func (e *attackEnv) waitStatus(token, path string) map[string]any {
	e.t.Helper()
	var out map[string]any
	for range 400 {
		out = e.mustCall(token, "GET", path, nil, 200)
		switch out["status"] {
		case blobmark.StatusFailed, blobmark.StatusCompleted, blobmark.StatusCompletedWithErrors:
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("%s never settled: %v", path, out)
	return nil
}

// TestAttackerCannotReachTheMetadataAddress: every auth type, whether it
// names the metadata address in its endpoint, its SAS URL, its connection
// string or its authority, or a name that resolves there, is refused, and
// so is a webhook aimed there directly, by name or by a redirect.
func TestAttackerCannotReachTheMetadataAddress(t *testing.T) {
	e, token, pid := newAttackProject(t, "Beta")
	key := azuretest.AccountKey
	spc := e.az.ServicePrincipalConfig()
	sp := map[string]any{"auth_type": "service_principal", "tenant_id": spc.TenantID, "client_id": spc.ClientID, "client_secret": spc.ClientSecret}
	for _, host := range []string{"169.254.169.254", "blob" + azuretest.MetadataSuffix} {
		for what, c := range map[string]struct {
			body  map[string]any
			field string
		}{
			"account key":           {map[string]any{"auth_type": "account_key", "account_name": "acct", "account_key": key, "endpoint": "https://" + host + "/"}, "endpoint"},
			"anonymous":             {map[string]any{"auth_type": "anonymous", "endpoint": "http://" + host + "/acct"}, "endpoint"},
			"SAS URL":               {map[string]any{"auth_type": "sas_token", "sas_token": "https://" + host + "/c?sv=2024-01-01&sig=x"}, "sas_token"},
			"connection string":     {map[string]any{"auth_type": "connection_string", "connection_string": "AccountName=acct;AccountKey=" + key + ";BlobEndpoint=https://" + host + "/acct"}, "connection_string"},
			"service principal":     {with(sp, "account_name", "acct", "endpoint", "https://"+host+"/"), "endpoint"},
			"principal's authority": {with(sp, "endpoint", e.az.BlobEndpoint, "authority_host", "https://"+host+"/"), "authority_host"},
		} {
			status, out := e.call(token, "POST", "/api/storages/azure/validate", with(c.body, "project", pid, "container", e.allowed))
			e.wantRefused(what+" at "+host, status, out, c.field)
			if !strings.Contains(fmt.Sprint(out), "not allowed") {
				t.Errorf("%s at %s: %v, want the refusal's reason", what, host, out)
			}
		}
	}

	// Webhooks: a metadata literal is refused when saved; a name that
	// resolves there and a target that redirects there are refused when
	// delivered.
	status, out := e.call(token, "POST", "/api/webhooks/", map[string]any{"project": pid, "url": "http://169.254.169.254/latest/meta-data/"})
	e.wantRefused("webhook at the metadata address", status, out, "url")
	redirector := newAttackTarget(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/metadata/identity/oauth2/token", http.StatusFound)
	}))
	hooks := []string{"https://hook" + azuretest.MetadataSuffix + "/", "https://redirect.localhost:" + redirector.port + "/"}
	var ids []int
	for _, u := range hooks {
		h := e.mustCall(token, "POST", "/api/webhooks/", map[string]any{"project": pid, "url": u, "actions": []string{"TASKS_CREATED"}}, 201)
		ids = append(ids, int(h["id"].(float64)))
	}
	e.mustCall(token, "POST", fmt.Sprintf("/api/projects/%d/import", pid), []map[string]any{{"image": "x"}}, 201)
	for i, id := range ids {
		var deliveries []any
		for range 400 {
			req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/webhooks/%d/deliveries", e.api.URL, id), nil)
			req.Header.Set("Authorization", "Token "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = json.NewDecoder(resp.Body).Decode(&deliveries)
			resp.Body.Close()
			if len(deliveries) > 0 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if len(deliveries) == 0 || deliveries[0].(map[string]any)["success"] != false {
			t.Fatalf("webhook %s: deliveries %v, want a failed attempt", hooks[i], deliveries)
		}
	}
	if redirector.conns.Load() == 0 {
		t.Fatal("the redirecting webhook was never called: the test proves nothing")
	}
	e.noContact("metadata endpoints and webhooks")
}

// TestStoredSecretsStayWithTheirDestination: for every secret field, a
// PATCH, validate or files preview that moves a stored storage's endpoint
// or authority without sending the secret again is a 400 naming the
// secret, and the attacker's host hears nothing; sending it again (the
// user then owns where it goes) passes that check.
func TestStoredSecretsStayWithTheirDestination(t *testing.T) {
	e, token, pid := newAttackProject(t, "Acme")
	ctx := context.Background()
	attackerURL := e.attackerURL
	sp := e.az.ServicePrincipalConfig()
	stored := map[string]struct {
		conn    blobmark.Connection
		secrets blobmark.Secrets
		move    map[string]any
	}{
		"account_key": {blobmark.Connection{"auth_type": "account_key", "account_name": azuretest.AccountName, "endpoint": e.az.BlobEndpoint},
			blobmark.Secrets{"account_key": azuretest.AccountKey}, map[string]any{"endpoint": attackerURL}},
		"sas_token": {blobmark.Connection{"auth_type": "sas_token", "endpoint": e.az.BlobEndpoint},
			blobmark.Secrets{"sas_token": blobmark.Secret(e.az.ContainerSAS(t, e.allowed))}, map[string]any{"endpoint": attackerURL}},
		"connection_string": {blobmark.Connection{"auth_type": "connection_string"},
			blobmark.Secrets{"connection_string": blobmark.Secret(e.az.ConnectionStringConfig().ConnectionString)}, map[string]any{"auth_type": "connection_string", "cloud": "china"}},
		"client_secret": {blobmark.Connection{"auth_type": "service_principal", "endpoint": e.az.BlobEndpoint, "tenant_id": sp.TenantID, "client_id": sp.ClientID},
			blobmark.Secrets{"client_secret": blobmark.Secret(sp.ClientSecret)}, map[string]any{"authority_host": attackerURL}},
		"client_certificate": {blobmark.Connection{"auth_type": "service_principal", "endpoint": e.az.BlobEndpoint, "tenant_id": sp.TenantID, "client_id": sp.ClientID},
			blobmark.Secrets{"client_certificate": "-----BEGIN CERTIFICATE-----", "client_certificate_password": "pem-password"}, map[string]any{"tenant_id": "attacker-tenant"}},
	}
	for field, s := range stored {
		src := &blobmark.SourceStorage{ProjectID: pid, Type: "azure", Container: e.allowed, Presign: true, PresignTTL: 15,
			Synchronizable: true, Connection: s.conn, Secrets: s.secrets}
		if err := e.srv.DB.CreateSourceStorage(ctx, src); err != nil {
			t.Fatal(err)
		}
		dst := &blobmark.TargetStorage{ProjectID: pid, Type: "azure", Container: e.allowed, Connection: s.conn, Secrets: s.secrets}
		if err := e.srv.DB.CreateTargetStorage(ctx, dst, false); err != nil {
			t.Fatal(err)
		}
		for name, req := range map[string]struct {
			method, path string
			body         map[string]any
		}{
			"PATCH":               {"PATCH", fmt.Sprintf("/api/storages/azure/%d", src.ID), s.move},
			"PATCH target":        {"PATCH", fmt.Sprintf("/api/storages/export/azure/%d", dst.ID), s.move},
			"validate by id":      {"POST", "/api/storages/azure/validate", with(s.move, "id", src.ID)},
			"validate target":     {"POST", "/api/storages/export/azure/validate", with(s.move, "id", dst.ID)},
			"files preview by id": {"POST", "/api/storages/azure/files", with(s.move, "id", src.ID)},
		} {
			status, out := e.call(token, req.method, req.path, req.body)
			for secret := range s.secrets {
				e.wantRefused(field+", "+name+", "+secret, status, out, secret)
			}
		}
	}
	e.noContact("moved storages")

	// Sent again, the secret goes where its owner now says.
	src := &blobmark.SourceStorage{ProjectID: pid, Type: "azure", Container: e.allowed, Presign: true, PresignTTL: 15, Synchronizable: true,
		Connection: stored["account_key"].conn, Secrets: stored["account_key"].secrets}
	if err := e.srv.DB.CreateSourceStorage(ctx, src); err != nil {
		t.Fatal(err)
	}
	moved := e.mustCall(token, "PATCH", fmt.Sprintf("/api/storages/azure/%d", src.ID),
		map[string]any{"endpoint": e.az.IPEndpoint, "account_key": azuretest.AccountKey}, 200)
	if moved["endpoint"] != e.az.IPEndpoint {
		t.Fatalf("moved storage: %v", moved)
	}
}

// TestKeylessFlowsOnListedEndpoints: the keyless flows the allow-list is
// for keep working end to end, and a scoped entry admits its organization
// only.
func TestKeylessFlowsOnListedEndpoints(t *testing.T) {
	e := newAttackEnv(t)
	acme, beta := e.user("Acme"), e.user("Beta")
	pid := e.project(acme)
	ctx := context.Background()
	admin, err := e.srv.Connector.Container(ctx, e.az.AccountKeyConfig(), e.allowed)
	if err != nil {
		t.Fatal(err)
	}
	picture := []byte("not really a png")
	if _, err := admin.UploadBytes(ctx, "pics/a.png", picture, "image/png"); err != nil {
		t.Fatal(err)
	}

	// Managed identity: sync, a user-delegation SAS, export.
	mi := map[string]any{"auth_type": "managed_identity", "endpoint": e.az.BlobEndpoint, "project": pid, "container": e.allowed}
	src := e.mustCall(acme, "POST", "/api/storages/azure/", with(mi, "prefix", "pics/", "presign", true, "use_blob_urls", true), 201)
	e.mustCall(acme, "POST", fmt.Sprintf("/api/storages/azure/%d/sync", int(src["id"].(float64))), nil, 200)
	if st := e.waitStatus(acme, fmt.Sprintf("/api/storages/azure/%d", int(src["id"].(float64)))); st["status"] != blobmark.StatusCompleted {
		t.Fatalf("managed identity sync: %v", st)
	}
	tasks := e.mustCall(acme, "GET", fmt.Sprintf("/api/tasks/?project=%d", pid), nil, 200)["tasks"].([]any)
	if len(tasks) != 1 {
		t.Fatalf("tasks %v", tasks)
	}
	task := tasks[0].(map[string]any)
	resolve := task["data"].(map[string]any)["image"].(string)
	got := e.mustCall(acme, "GET", resolve, nil, http.StatusSeeOther)
	sasURL, _ := got["location"].(string)
	if !strings.Contains(sasURL, "skoid=") {
		t.Fatalf("resolve answered %v, want a user-delegation SAS", got)
	}
	resp, err := e.az.HTTPClient.Get(sasURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(body, picture) {
		t.Fatalf("the SAS URL answered %d %q", resp.StatusCode, body)
	}
	e.mustCall(acme, "POST", "/api/storages/export/azure", with(mi, "prefix", "out/"), 201)
	e.mustCall(acme, "POST", fmt.Sprintf("/api/tasks/%d/annotations/", int(task["id"].(float64))), map[string]any{"result": []any{}}, 201)
	exported := 0
	for range 400 {
		exported = 0
		err := admin.List(ctx, azureblob.ListOptions{Prefix: "out/", Recursive: true}, func(page []azureblob.BlobItem) error {
			exported += len(page)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if exported > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if exported != 1 {
		t.Fatalf("%d exported objects, want the annotation", exported)
	}

	// Workload identity from the server's environment.
	e.az.WorkloadIdentityConfig(t)
	wi := e.mustCall(acme, "POST", "/api/storages/azure/", map[string]any{"auth_type": "workload_identity", "endpoint": e.az.BlobEndpoint,
		"project": pid, "container": e.allowed, "prefix": "pics/", "use_blob_urls": true}, 201)
	e.mustCall(acme, "POST", fmt.Sprintf("/api/storages/azure/%d/sync", int(wi["id"].(float64))), nil, 200)
	if st := e.waitStatus(acme, fmt.Sprintf("/api/storages/azure/%d", int(wi["id"].(float64)))); st["status"] != blobmark.StatusCompleted {
		t.Fatalf("workload identity sync: %v", st)
	}

	// The scoped entry: Acme's container, refused to Beta.
	scoped := map[string]any{"auth_type": "managed_identity", "endpoint": e.az.BlobEndpoint, "container": e.scoped}
	e.mustCall(acme, "POST", "/api/storages/azure/", with(scoped, "project", pid), 201)
	status, out := e.call(beta, "POST", "/api/storages/azure/", with(scoped, "project", e.project(beta)))
	e.wantRefused("Beta on Acme's container", status, out, "endpoint")
	if !strings.Contains(fmt.Sprint(out), "organization Beta") {
		t.Errorf("the refusal does not name the organization: %v", out)
	}
	e.noContact("keyless flows")
}
