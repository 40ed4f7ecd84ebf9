package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/httpapi"
	"github.com/blobmark/blobmark/media"
)

// fakeMedia serves every project's media from one signing storage, so the
// resolve routes answer with a redirect without any blob service.
type fakeMedia struct{}

func (fakeMedia) MediaLocations(context.Context, int64) ([]blobmark.MediaLocation, error) {
	return []blobmark.MediaLocation{{StorageID: 1, Account: "acct", ServiceURL: "https://acct.blob.core.windows.net/",
		Container: "pics", Presign: true, CanSign: true}}, nil
}
func (fakeMedia) TaskSourceStorage(context.Context, int64) (int64, error) { return 0, nil }
func (fakeMedia) SignMediaURL(_ context.Context, _ int64, container, key string, _ time.Duration) (string, error) {
	return "https://acct.blob.core.windows.net/" + container + "/" + key + "?sig=x", nil
}
func (fakeMedia) OpenMedia(context.Context, int64, string, string) (blobmark.MediaBlob, error) {
	return nil, blobmark.Errorf(blobmark.ENOTIMPLEMENTED, "no streaming here")
}

// fakeFiles previews one blob.
type fakeFiles struct{}

func (fakeFiles) ListStorageFiles(context.Context, blobmark.StorageFileQuery) ([]blobmark.StorageFile, error) {
	return []blobmark.StorageFile{{Key: "a.png", Size: 1}}, nil
}

// TestOrganizationAccess walks every project-scoped route as a user of
// another organization, then as a member: the outsider gets 404 on the
// project's own routes and 403 everywhere else, changes nothing and sees
// nothing of the project; the member gets the usual answers.
func TestOrganizationAccess(t *testing.T) {
	e := newTestEnv(t, func(s *httpapi.Server) {
		s.Media = fakeMedia{}
		s.StorageFiles = fakeFiles{}
	})
	e.api.ProjectAccess = e.db // all read per request
	e.api.SourceStorages = e.db
	e.api.TargetStorages = e.db
	e.api.ProjectExporter = e.db
	e.srv.Config.Handler = e.api.Handler() // target storage routes are built when set
	ctx := context.Background()
	_, outsiderToken, err := e.db.CreateUserInOrganization(ctx, "mallory@example.com", "a long enough password", "Elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	as := func(token, method, path string, body any) *response {
		t.Helper()
		return e.requestWith(method, path, body, http.Header{"Authorization": {"Token " + token}})
	}

	// The member's project, with tasks, an annotation and both storages.
	const title = "Secret zebra survey"
	var p struct{ ID int64 }
	e.must(201, "POST", "/api/projects/", map[string]any{"title": title,
		"label_config": `<View><Image name="image" value="$image"/></View>`}).json(t, &p)
	uri := "azure-blob://pics/zebra.png"
	var imp struct {
		TaskIDs []int64 `json:"task_ids"`
	}
	e.must(201, "POST", fmt.Sprintf("/api/projects/%d/import?return_task_ids=true", p.ID),
		[]map[string]any{{"image": uri}, {"image": uri}}).json(t, &imp)
	if len(imp.TaskIDs) != 2 {
		t.Fatalf("import returned task ids %v", imp.TaskIDs)
	}
	task, task2 := imp.TaskIDs[0], imp.TaskIDs[1]
	var a struct{ ID int64 }
	e.must(201, "POST", fmt.Sprintf("/api/tasks/%d/annotations/", task), map[string]any{"result": []any{}}).json(t, &a)
	conn := map[string]any{"account_name": "acct", "auth_type": "account_key", "account_key": "c2VjcmV0"}
	withConn := func(m map[string]any) map[string]any {
		for k, v := range conn {
			m[k] = v
		}
		return m
	}
	var src, dst struct{ ID int64 }
	e.must(201, "POST", "/api/storages/azure/", withConn(map[string]any{"project": p.ID, "container": "pics"})).json(t, &src)
	e.must(201, "POST", "/api/storages/export/azure", withConn(map[string]any{"project": p.ID, "container": "out", "sync_on_create": false})).json(t, &dst)

	// The outsider's own project, which the member must never see.
	var op struct{ ID int64 }
	if r := as(outsiderToken, "POST", "/api/projects/", map[string]any{"title": "Mallory's"}); r.status != 201 {
		t.Fatalf("outsider creates a project: %d %s", r.status, r.raw)
	} else {
		r.json(t, &op)
	}

	enc := media.EncodeFileURI(uri)
	routes := []struct {
		method, path string
		body         any
		member       int // the member's status
		outsider     int // the outsider's
	}{
		{"GET", fmt.Sprintf("/api/projects/%d/", p.ID), nil, 200, 404},
		{"PATCH", fmt.Sprintf("/api/projects/%d/", p.ID), map[string]any{"description": "changed"}, 200, 404},
		{"POST", fmt.Sprintf("/api/projects/%d/import", p.ID), []map[string]any{{"image": uri}}, 201, 404},
		{"GET", fmt.Sprintf("/api/projects/%d/export?exportType=JSON", p.ID), nil, 200, 404},

		{"GET", fmt.Sprintf("/api/tasks/?project=%d", p.ID), nil, 200, 403},
		{"GET", fmt.Sprintf("/api/tasks/%d/", task), nil, 200, 403},
		{"PATCH", fmt.Sprintf("/api/tasks/%d/", task), map[string]any{"meta": map[string]any{"k": 1}}, 200, 403},

		{"GET", fmt.Sprintf("/api/tasks/%d/annotations/", task), nil, 200, 403},
		{"POST", fmt.Sprintf("/api/tasks/%d/annotations/", task), map[string]any{"result": []any{}}, 201, 403},
		{"GET", fmt.Sprintf("/api/annotations/%d/", a.ID), nil, 200, 403},
		{"PATCH", fmt.Sprintf("/api/annotations/%d/", a.ID), map[string]any{"lead_time": 2}, 200, 403},

		{"GET", fmt.Sprintf("/api/storages/?project=%d", p.ID), nil, 200, 403},
		{"GET", fmt.Sprintf("/api/storages/azure/?project=%d", p.ID), nil, 200, 403},
		{"POST", "/api/storages/azure/", withConn(map[string]any{"project": p.ID, "container": "pics"}), 201, 403},
		{"GET", fmt.Sprintf("/api/storages/azure/%d", src.ID), nil, 200, 403},
		{"PATCH", fmt.Sprintf("/api/storages/azure/%d", src.ID), map[string]any{"title": "renamed"}, 200, 403},
		{"POST", "/api/storages/azure/validate", map[string]any{"id": src.ID}, 200, 403},
		{"POST", "/api/storages/azure/validate", withConn(map[string]any{"project": p.ID, "container": "pics"}), 200, 403},
		{"POST", "/api/storages/azure/files", map[string]any{"id": src.ID}, 200, 403},
		{"POST", fmt.Sprintf("/api/storages/azure/%d/sync", src.ID), nil, 200, 403},
		{"POST", fmt.Sprintf("/api/storages/azure/%d/cancel", src.ID), nil, 200, 403},

		{"GET", fmt.Sprintf("/api/storages/export?project=%d", p.ID), nil, 200, 403},
		{"GET", fmt.Sprintf("/api/storages/export/azure?project=%d", p.ID), nil, 200, 403},
		{"POST", "/api/storages/export/azure", withConn(map[string]any{"project": p.ID, "container": "out2", "sync_on_create": false}), 201, 403},
		{"GET", fmt.Sprintf("/api/storages/export/azure/%d", dst.ID), nil, 200, 403},
		{"PATCH", fmt.Sprintf("/api/storages/export/azure/%d", dst.ID), map[string]any{"title": "renamed"}, 200, 403},
		{"POST", "/api/storages/export/azure/validate", map[string]any{"id": dst.ID}, 200, 403},
		{"POST", fmt.Sprintf("/api/storages/export/azure/%d/sync", dst.ID), nil, 200, 403},

		{"GET", fmt.Sprintf("/tasks/%d/resolve/?fileuri=%s", task, enc), nil, 303, 403},
		{"GET", fmt.Sprintf("/projects/%d/resolve/?fileuri=%s", p.ID, enc), nil, 303, 403},

		{"DELETE", fmt.Sprintf("/api/annotations/%d/", a.ID), nil, 204, 403},
		{"DELETE", fmt.Sprintf("/api/tasks/%d/", task2), nil, 204, 403},
		{"DELETE", fmt.Sprintf("/api/storages/azure/%d", src.ID), nil, 204, 403},
		{"DELETE", fmt.Sprintf("/api/storages/export/azure/%d", dst.ID), nil, 204, 403},
		{"DELETE", fmt.Sprintf("/api/projects/%d/", p.ID), nil, 204, 404},
	}

	// The outsider first, on every route: refused, and told nothing.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(token, method, path string, body any) *response {
		t.Helper()
		if body != nil || method != "GET" {
			return as(token, method, path, body)
		}
		req, _ := http.NewRequest(method, e.srv.URL+path, nil)
		req.Header.Set("Authorization", "Token "+token)
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		return &response{status: res.StatusCode, header: res.Header, raw: raw}
	}
	for _, rt := range routes {
		r := send(outsiderToken, rt.method, rt.path, rt.body)
		if r.status != rt.outsider {
			t.Errorf("outsider %s %s: %d %s, want %d", rt.method, rt.path, r.status, r.raw, rt.outsider)
			continue
		}
		env := r.envelope(t)
		if strings.Contains(r.text(), title) || strings.Contains(r.text(), "pics") || strings.Contains(r.text(), "zebra") {
			t.Errorf("outsider %s %s: the refusal reveals the project: %s", rt.method, rt.path, r.raw)
		}
		want := "Not found."
		if rt.outsider == 403 {
			want = "You do not have permission to perform this action."
		}
		if env.Detail != want {
			t.Errorf("outsider %s %s: detail %q, want %q", rt.method, rt.path, env.Detail, want)
		}
	}

	// Nothing the outsider tried changed anything.
	var got struct {
		Title       string `json:"title"`
		Description string `json:"description"`
		TaskNumber  int    `json:"task_number"`
		Annotations int    `json:"total_annotations_number"`
	}
	e.must(200, "GET", fmt.Sprintf("/api/projects/%d/", p.ID), nil).json(t, &got)
	if got.Title != title || got.Description != "" || got.TaskNumber != 2 || got.Annotations != 1 {
		t.Fatalf("after the outsider's attempts the project is %+v", got)
	}
	for _, path := range []string{fmt.Sprintf("/api/storages/azure/%d", src.ID), fmt.Sprintf("/api/storages/export/azure/%d", dst.ID)} {
		var st struct {
			Title  *string `json:"title"`
			Status string  `json:"status"`
		}
		e.must(200, "GET", path, nil).json(t, &st)
		if (st.Title != nil && *st.Title != "") || st.Status != "initialized" {
			t.Fatalf("after the outsider's attempts %s is %+v", path, st)
		}
	}

	// Lists never cross organizations.
	listed := func(token string) []int64 {
		t.Helper()
		var l struct {
			Count   int `json:"count"`
			Results []struct {
				ID           int64 `json:"id"`
				Organization int64 `json:"organization"`
			} `json:"results"`
		}
		r := as(token, "GET", "/api/projects/", nil)
		r.json(t, &l)
		var ids []int64
		for _, p := range l.Results {
			ids = append(ids, p.ID)
		}
		if r.status != 200 || l.Count != len(ids) {
			t.Fatalf("project list: %d %s", r.status, r.raw)
		}
		return ids
	}
	if ids := listed(e.token); len(ids) != 1 || ids[0] != p.ID {
		t.Errorf("the member lists projects %v, want only %d", ids, p.ID)
	}
	if ids := listed(outsiderToken); len(ids) != 1 || ids[0] != op.ID {
		t.Errorf("the outsider lists projects %v, want only its own %d", ids, op.ID)
	}
	if r := as(outsiderToken, "GET", fmt.Sprintf("/api/storages/?project=%d", op.ID), nil); r.status != 200 || r.text() != "[]\n" && r.text() != "[]" {
		t.Errorf("the outsider's own storages: %d %s", r.status, r.raw)
	}

	// Then the member, on every route.
	for _, rt := range routes {
		if r := send(e.token, rt.method, rt.path, rt.body); r.status != rt.member {
			t.Errorf("member %s %s: %d %s, want %d", rt.method, rt.path, r.status, r.raw, rt.member)
		}
	}
}
