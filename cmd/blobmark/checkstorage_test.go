package main

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/blobmark/blobmark/internal/azuretest"
)

func TestMain(m *testing.M) { azuretest.Main(m) }

func runCheck(t *testing.T, body map[string]any, args ...string) (int, string) {
	t.Helper()
	env := azuretest.Start(t)
	checkStorageTransport = env.HTTPClient
	t.Cleanup(func() { checkStorageTransport = nil })
	in, _ := json.Marshal(body)
	var out, errOut bytes.Buffer
	code := runCheckStorage(context.Background(), args, bytes.NewReader(in), &out, &errOut)
	return code, out.String() + errOut.String()
}

func TestCheckStorage(t *testing.T) {
	env := azuretest.Start(t)
	name := env.NewContainer(t)
	good := env.AccountKeyConfig()
	body := map[string]any{"title": "ignored API field", "auth_type": good.AuthType, "account_name": good.AccountName,
		"account_key": good.AccountKey, "endpoint": good.Endpoint, "container": name}

	if code, out := runCheck(t, body, "--use", "target"); code != 0 || !strings.Contains(out, "every check needed") {
		t.Fatalf("good config: exit %d\n%s", code, out)
	}
	body["account_key"] = "d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3"
	code, out := runCheck(t, body, "--log-level", "debug")
	if code != 1 || !strings.Contains(out, "check account_name and account_key") || strings.Contains(out, "d3d3d3d3d3") || !strings.Contains(out, "[redacted]") {
		t.Fatalf("wrong key: exit %d\n%s", code, out)
	}
	if code, _ := runCheck(t, body, "--use", "sideways"); code != 2 {
		t.Fatalf("bad --use: exit %d, want 2", code)
	}
	delete(body, "container")
	if code, out := runCheck(t, body); code != 2 || !strings.Contains(out, "container is required") {
		t.Fatalf("no container: exit %d\n%s", code, out)
	}
}

// TestCheckStorageCORS: with --public-url, a source storage's check ends
// with the CORS verdict for its origin, a warning that does not fail the
// check, and the command that adds the rule.
func TestCheckStorageCORS(t *testing.T) {
	env := azuretest.Start(t)
	env.SetCORSRules(t, &service.CORSRule{AllowedOrigins: to.Ptr("https://other.example.org"), AllowedMethods: to.Ptr("GET"),
		AllowedHeaders: to.Ptr("*"), ExposedHeaders: to.Ptr("*"), MaxAgeInSeconds: to.Ptr(int32(60))})
	name := env.NewContainer(t)
	good := env.AccountKeyConfig()
	body := map[string]any{"auth_type": good.AuthType, "account_name": good.AccountName,
		"account_key": good.AccountKey, "endpoint": good.Endpoint, "container": name}
	code, out := runCheck(t, body, "--public-url", "https://label.example.com/x")
	if code != 0 || !regexp.MustCompile(`CORS +warn +presigned media will not load from https://label.example.com`).MatchString(out) ||
		!strings.Contains(out, "az storage cors add --services b --methods GET HEAD --origins https://label.example.com") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if _, out := runCheck(t, body); strings.Contains(out, "CORS") {
		t.Fatalf("without --public-url:\n%s", out)
	}
}
