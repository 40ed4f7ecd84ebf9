package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

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
