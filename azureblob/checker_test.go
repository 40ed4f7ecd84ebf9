package azureblob_test

import (
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"

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
