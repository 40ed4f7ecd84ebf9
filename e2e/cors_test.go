package e2e

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/blobmark/blobmark/internal/azuretest"
)

// TestBrowserCORSRule: a storage whose account has a CORS rule for another
// origin only: the page cannot fetch the task's presigned media; Check
// connection warns and names the fix; "Add CORS rule" adds it next to the
// other rule, and the same fetch then gets the image from the account.
func TestBrowserCORSRule(t *testing.T) {
	env := azuretest.Start(t)
	ctx := t.Context()
	other := azuretest.CORSRule("https://other.example.org", "GET", 60)
	env.SetCORSRules(t, other)
	name := env.NewContainer(t)
	blobs, err := azblob.NewClientWithSharedKeyCredential(env.BlobEndpoint, mustKey(t),
		&azblob.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: env.HTTPClient}})
	if err != nil {
		t.Fatal(err)
	}
	image := testPNG(t, 7)
	if _, err := blobs.UploadBuffer(ctx, name, "images/cat.png", image, nil); err != nil {
		t.Fatal(err)
	}

	const email, password = "hedy@example.com", "frequency hopping 1942"
	srv := startBlobmark(t, env, email, password)
	var project struct{ ID int64 }
	call(t, srv.URL, srv.token, "POST", "/api/projects/", map[string]any{"title": "Cats",
		"label_config": `<View><Image name="image" value="$image"/><Choices name="c" toName="image"><Choice value="Cat"/></Choices></View>`}, &project)
	call(t, srv.URL, srv.token, "POST", "/api/storages/azure/", map[string]any{"project": project.ID, "title": "cats", "auth_type": "account_key",
		"account_name": azuretest.AccountName, "account_key": azuretest.AccountKey, "endpoint": env.BlobEndpoint,
		"container": name, "presign": true}, nil)
	call(t, srv.URL, srv.token, "POST", fmt.Sprintf("/api/projects/%d/import", project.ID),
		[]any{map[string]any{"data": map[string]any{"image": "azure-blob://" + name + "/images/cat.png"}}}, nil)
	var page struct{ Tasks []struct{ ID int64 } }
	call(t, srv.URL, srv.token, "GET", fmt.Sprintf("/api/tasks/?project=%d", project.ID), nil, &page)
	if len(page.Tasks) != 1 {
		t.Fatalf("tasks: %+v", page.Tasks)
	}

	type fetched struct {
		OK     bool   `json:"ok"`
		Status int    `json:"status"`
		Bytes  int    `json:"bytes"`
		URL    string `json:"url"`
		Error  string `json:"error"`
	}
	var rep struct {
		scenarioReport
		Before, After                   fetched
		Warning, Command, Button, Added string
		LabelImage                      struct {
			Src   string `json:"src"`
			Width int    `json:"width"`
		} `json:"labelImage"`
	}
	storageOrigin := strings.TrimSuffix(env.BlobEndpoint, "/")
	runScenario(t, srv.URL, "cors.mjs", []string{"EMAIL=" + email, "PASSWORD=" + password, "STORAGE_ORIGIN=" + storageOrigin,
		fmt.Sprintf("PROJECT_ID=%d", project.ID), fmt.Sprintf("TASK_ID=%d", page.Tasks[0].ID)}, &rep, &rep.scenarioReport)

	u, _ := url.Parse(srv.URL)
	origin := "http://" + u.Host
	t.Logf("before the rule: %+v; after: %+v", rep.Before, rep.After)
	if rep.Before.OK {
		t.Errorf("the media loaded before the rule: %+v", rep.Before)
	}
	if !strings.Contains(rep.Warning, "presigned media will not load from "+origin) || !strings.Contains(rep.Button, origin) ||
		!strings.Contains(rep.Command, "az storage cors add --services b --methods GET HEAD --origins "+origin) {
		t.Errorf("the page showed warning %q, button %q, command %q", rep.Warning, rep.Button, rep.Command)
	}
	if !strings.Contains(rep.Added, origin) {
		t.Errorf("after the click: %q", rep.Added)
	}
	if !rep.After.OK || rep.After.Bytes != len(image) || !strings.HasPrefix(rep.After.URL, env.BlobEndpoint) {
		t.Errorf("the media after the rule: %+v", rep.After)
	}
	if rep.LabelImage.Width != 320 || !strings.Contains(rep.LabelImage.Src, fmt.Sprintf("/tasks/%d/resolve", page.Tasks[0].ID)) {
		t.Errorf("the labeling page's image after the rule: %+v; want the task's 320-pixel-wide image through its resolve URL", rep.LabelImage)
	}
	rules := env.CORSRules(t)
	if len(rules) != 2 || *rules[0].AllowedOrigins != origin || *rules[1].AllowedOrigins != *other.AllowedOrigins {
		t.Errorf("the account's rules: %d", len(rules))
	}
}
