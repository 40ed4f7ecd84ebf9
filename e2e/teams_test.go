package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/blobmark/blobmark"
)

// teamsReport is what teams.mjs prints as its last line.
type teamsReport struct {
	scenarioReport
	MyRole           string         `json:"myRole"`
	LandedOn         string         `json:"landedOn"`
	Account          accountReport  `json:"account"`
	AnnotationID     int64          `json:"annotationId"`
	StorageRequests  []string       `json:"storageRequests"`
	StoragePageText  string         `json:"storagePageText"`
	OtherProjectText string         `json:"otherProjectText"`
	API              map[string]int `json:"api"`
}

// accountReport is what the annotator's account page showed and how the
// personal access token made there answered.
type accountReport struct {
	RefreshWhileListed int      `json:"refreshWhileListed"`
	Listed             []string `json:"listed"`
	JTIPrefix          string   `json:"jtiPrefix"`
	ShownAgain         int      `json:"shownAgain"`
	PageHasToken       bool     `json:"pageHasToken"`
	RefreshAfterRevoke int      `json:"refreshAfterRevoke"`
}

// TestBrowserTeams: an administrator invites an annotator to one project
// through the Members page; the annotator signs up with the link in a
// browser of their own, lands on the project's label stream, labels a
// task, makes and revokes a personal access token on the account page, and
// can reach neither the storage settings nor the other project, in the UI
// or through the API. It needs no Azure: the tasks are text.
func TestBrowserTeams(t *testing.T) {
	srv, base := textServer(t)
	ctx := context.Background()
	owner, ownerToken, err := srv.DB.CreateUser(ctx, "ada@example.com", "analytical engine 1843")
	if err != nil {
		t.Fatal(err)
	}
	const adminEmail, adminPassword = "adam@example.com", "administrator's password"
	if _, _, err := srv.DB.AddUser(ctx, blobmark.NewUser{Email: adminEmail, Password: adminPassword,
		OrganizationID: owner.OrganizationID, Role: blobmark.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	config := `<View><Text name="text" value="$text"/><Choices name="sentiment" toName="text" choice="single">` +
		`<Choice value="Positive"/><Choice value="Negative"/></Choices></View>`
	var project, other struct{ ID int64 }
	call(t, base, ownerToken, "POST", "/api/projects/", map[string]any{"title": "Reviews", "label_config": config}, &project)
	call(t, base, ownerToken, "POST", "/api/projects/", map[string]any{"title": "Secret", "label_config": config}, &other)
	call(t, base, ownerToken, "POST", fmt.Sprintf("/api/projects/%d/import", project.ID), []map[string]string{{"text": "I love it."}}, nil)
	call(t, base, ownerToken, "POST", fmt.Sprintf("/api/projects/%d/import", other.ID), []map[string]string{{"text": "Top secret."}}, nil)

	const annEmail, annPassword = "nina@example.com", "nina's own password"
	var rep teamsReport
	runScenario(t, base, "teams.mjs", []string{"ADMIN_EMAIL=" + adminEmail, "ADMIN_PASSWORD=" + adminPassword,
		"ANNOTATOR_EMAIL=" + annEmail, "ANNOTATOR_PASSWORD=" + annPassword,
		fmt.Sprintf("PROJECT_ID=%d", project.ID), fmt.Sprintf("OTHER_PROJECT_ID=%d", other.ID)}, &rep, &rep.scenarioReport)
	if want := fmt.Sprintf("/projects/%d/label", project.ID); rep.LandedOn != want {
		t.Errorf("the annotator landed on %q after signing up, want the label stream %q", rep.LandedOn, want)
	}
	// The account page: a personal access token shown once, listed by the
	// start of its id, working until it is revoked there.
	a := rep.Account
	if a.RefreshWhileListed != http.StatusOK || a.RefreshAfterRevoke != http.StatusUnauthorized {
		t.Errorf("the token refreshed with %d while listed and %d once revoked, want 200 then 401", a.RefreshWhileListed, a.RefreshAfterRevoke)
	}
	if len(a.Listed) != 1 || a.JTIPrefix == "" || !strings.Contains(a.Listed[0], a.JTIPrefix) {
		t.Errorf("the token list shows %q, want one row naming %q", a.Listed, a.JTIPrefix)
	}
	if a.ShownAgain != 0 || a.PageHasToken {
		t.Errorf("the account page shows the token again on a later visit (field %d, in the page %v)", a.ShownAgain, a.PageHasToken)
	}
	if rep.MyRole != "Annotator" {
		t.Errorf("the annotator's header shows the role %q", rep.MyRole)
	}
	// The storage page asked nothing about storages and showed no form.
	if len(rep.StorageRequests) > 0 {
		t.Errorf("the annotator's storage page requested %q", rep.StorageRequests)
	}
	for _, word := range []string{"Account key", "Container", "SAS"} {
		if strings.Contains(rep.StoragePageText, word) {
			t.Errorf("the annotator's storage page shows %q: %s", word, rep.StoragePageText)
		}
	}
	if !strings.Contains(rep.OtherProjectText, "does not exist") {
		t.Errorf("the other project's page says %q", rep.OtherProjectText)
	}
	want := map[string]int{"storagesOfOwnProject": 403, "exportStoragesOfOwnProject": 403, "otherProject": 404,
		"otherProjectTasks": 403, "createStorage": 403, "users": 403, "invite": 403}
	for k, status := range want {
		if rep.API[k] != status {
			t.Errorf("the annotator's %s call answered %d, want %d", k, rep.API[k], status)
		}
	}

	// The annotation is the new member's, who is an annotator of the
	// owner's organization and a member of the invite's project only.
	nina, err := srv.DB.FindUserByEmail(ctx, annEmail)
	if err != nil {
		t.Fatal(err)
	}
	if nina.Role != blobmark.RoleAnnotator || nina.OrganizationID != owner.OrganizationID || nina.FirstName != "Nina" || nina.LastName != "Ivanova" {
		t.Errorf("the signed-up user is %+v", nina)
	}
	var ann struct {
		CompletedBy int64 `json:"completed_by"`
		Result      []any `json:"result"`
	}
	call(t, base, ownerToken, "GET", fmt.Sprintf("/api/annotations/%d/", rep.AnnotationID), nil, &ann)
	if ann.CompletedBy != nina.ID || len(ann.Result) != 1 {
		t.Errorf("annotation %d: %+v, want one result by user %d", rep.AnnotationID, ann, nina.ID)
	}
	if ok, err := srv.DB.CanAccessProject(ctx, nina, other.ID); err != nil || ok {
		t.Errorf("the annotator reaches the other project: %v %v", ok, err)
	}
}

// call sends an API request with a token and decodes a 2xx answer into v
// (nil to ignore it).
func call(t *testing.T, base, token, method, path string, body, v any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Authorization", "Token "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
}
