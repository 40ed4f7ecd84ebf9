package azureblob_test

import (
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/internal/azuretest"
)

// TestConfigMatchesTheSchema: the connector's Config has exactly the
// fields of the one declaration, and a field it does not know is refused
// by name.
func TestConfigMatchesTheSchema(t *testing.T) {
	var tags, schema []string
	typ := reflect.TypeFor[azureblob.Config]()
	for i := range typ.NumField() {
		if tag := strings.Split(typ.Field(i).Tag.Get("json"), ",")[0]; tag != "-" {
			tags = append(tags, tag)
		}
	}
	for _, f := range blobmark.ConnectionSchema {
		schema = append(schema, f.Name)
	}
	slices.Sort(tags)
	slices.Sort(schema)
	if !slices.Equal(tags, schema) {
		t.Fatalf("Config fields %v, schema %v", tags, schema)
	}
	if _, err := azureblob.ConfigFromConnection(blobmark.Connection{"acount_name": "x"}, nil); blobmark.ErrorCode(err) != blobmark.EINVALID ||
		!strings.Contains(blobmark.ErrorMessage(err), "acount_name") {
		t.Fatalf("an unknown field: %v", err)
	}
	cfg, err := azureblob.ConfigFromConnection(blobmark.Connection{"auth_type": "service_principal", "tenant_id": "t"}, blobmark.Secrets{"client_secret": "s"})
	if err != nil || cfg.AuthType != azureblob.AuthServicePrincipal || cfg.TenantID != "t" || cfg.ClientSecret != "s" {
		t.Fatalf("ConfigFromConnection = %+v, %v", cfg.Redacted(), err)
	}
}

func TestCheckerNamesTheFieldToFix(t *testing.T) {
	env := azuretest.Start(t)
	c := &azureblob.Checker{Connector: azureblob.NewConnector(env.Options())}
	name := env.NewContainer(t)
	cfg := env.AccountKeyConfig()
	conn := blobmark.Connection{"auth_type": "account_key", "account_name": cfg.AccountName, "endpoint": cfg.Endpoint}
	if err := c.CheckStorage(t.Context(), "", conn, blobmark.Secrets{"account_key": blobmark.Secret(cfg.AccountKey)}, name, "", "source", false); err != nil {
		t.Fatalf("a good connection: %v", err)
	}
	wrong := "d3Jvbmcga2V5IGZvciB0aGUgdGVzdA=="
	err := c.CheckStorage(t.Context(), "", conn, blobmark.Secrets{"account_key": blobmark.Secret(wrong)}, name, "", "source", false)
	var be *blobmark.Error
	if !asError(err, &be) || be.Code != blobmark.EINVALID || len(be.Fields["account_key"]) == 0 || strings.Contains(err.Error(), wrong) {
		t.Fatalf("a wrong key: %v", err)
	}
	err = c.CheckStorage(t.Context(), "", conn, blobmark.Secrets{"account_key": blobmark.Secret(cfg.AccountKey)}, "nosuchcontainer", "", "source", false)
	if !asError(err, &be) || len(be.Fields["container"]) == 0 {
		t.Fatalf("a missing container: %v", err)
	}
	// A refused connection is about the endpoint (or the network), not the
	// key, which was never tried.
	closed := closedPortEndpoint(t, cfg.AccountName)
	conn["endpoint"] = closed
	err = c.CheckStorage(t.Context(), "", conn, blobmark.Secrets{"account_key": blobmark.Secret(cfg.AccountKey)}, name, "", "source", false)
	if !asError(err, &be) || len(be.Fields["endpoint"]) == 0 || len(be.Fields["account_key"]) != 0 ||
		!strings.Contains(be.Fields["endpoint"][0], "connection refused") {
		t.Fatalf("a refused connection: %v (fields %v)", err, be.Fields)
	}
}

// countingTransport counts the requests the SDK's pipeline sends, retries
// included.
type countingTransport struct {
	next  policy.Transporter
	sends atomic.Int32
}

func (c *countingTransport) Do(r *http.Request) (*http.Response, error) {
	c.sends.Add(1)
	return c.next.Do(r)
}

// TestCheckAndPreviewTryARefusedEndpointOnce: a connection check and a file
// preview of an endpoint that refuses connections send one request and
// name the endpoint, where the SDK would otherwise retry three times with
// pauses; the same listing outside a check keeps its retries (their pauses
// shortened by the test harness's options).
func TestCheckAndPreviewTryARefusedEndpointOnce(t *testing.T) {
	env := azuretest.Start(t)
	opts := env.Options()
	sent := &countingTransport{next: opts.Transport}
	opts.Transport = sent
	connector := azureblob.NewConnector(opts)
	c := &azureblob.Checker{Connector: connector}
	cfg := env.AccountKeyConfig()
	cfg.Endpoint = closedPortEndpoint(t, cfg.AccountName)
	conn := blobmark.Connection{"auth_type": "account_key", "account_name": cfg.AccountName, "endpoint": cfg.Endpoint}
	secrets := blobmark.Secrets{"account_key": blobmark.Secret(cfg.AccountKey)}
	refusedOnEndpoint := func(what string, err error) {
		t.Helper()
		var be *blobmark.Error
		if !asError(err, &be) || be.Code != blobmark.EINVALID || len(be.Fields["endpoint"]) == 0 || len(be.Fields) != 1 ||
			!strings.Contains(be.Fields["endpoint"][0], "connection refused") {
			t.Fatalf("%s of a refused endpoint: %v (fields %v)", what, err, be.Fields)
		}
		if n := sent.sends.Swap(0); n != 1 {
			t.Fatalf("%s of a refused endpoint sent %d requests, want 1", what, n)
		}
	}

	for _, use := range []string{"source", "target"} {
		refusedOnEndpoint("a "+use+" check", c.CheckStorage(t.Context(), "", conn, secrets, "images", "", use, true))
	}
	_, err := c.ListStorageFiles(t.Context(), blobmark.StorageFileQuery{Connection: conn, Secrets: secrets, Container: "images", Limit: 5})
	refusedOnEndpoint("a file preview", err)

	cont, err := connector.Container(t.Context(), cfg, "images")
	if err != nil {
		t.Fatal(err)
	}
	if err := cont.List(t.Context(), azureblob.ListOptions{}, func([]azureblob.BlobItem) error { return nil }); blobmark.ErrorCode(err) != blobmark.EUNAVAILABLE {
		t.Fatalf("a listing of a refused endpoint: %v, want unavailable", err)
	}
	if n := sent.sends.Load(); n != 4 {
		t.Fatalf("a listing outside a check sent %d requests, want 4 (the SDK's three retries)", n)
	}
}

// closedPortEndpoint is a loopback blob endpoint for account whose port
// nothing listens on: a listener is opened and closed to find one.
func closedPortEndpoint(t *testing.T, account string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/" + account
}

func asError(err error, target **blobmark.Error) bool {
	e, ok := err.(*blobmark.Error)
	*target = e
	return ok
}
