package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/httpapi"
)

type webhookBody struct {
	ID                int64             `json:"id"`
	Organization      int64             `json:"organization"`
	Project           int64             `json:"project"`
	URL               string            `json:"url"`
	SendPayload       bool              `json:"send_payload"`
	SendForAllActions bool              `json:"send_for_all_actions"`
	Headers           map[string]string `json:"headers"`
	IsActive          bool              `json:"is_active"`
	Actions           []string          `json:"actions"`
	CreatedAt         string            `json:"created_at"`
	UpdatedAt         string            `json:"updated_at"`
	Secret            *string           `json:"secret"`
}

func TestWebhookAPI(t *testing.T) {
	e := newTestEnv(t, func(s *httpapi.Server) { s.Webhooks = nil })
	e.api.Webhooks = e.db
	e.api.ProjectAccess = e.db
	e.srv.Config.Handler = e.api.Handler()
	var p struct{ ID int64 }
	e.must(201, "POST", "/api/projects/", map[string]any{"title": "hooks"}).json(t, &p)

	// Validation: URL scheme and host, known actions, a project.
	r := e.must(400, "POST", "/api/webhooks/", map[string]any{"project": p.ID, "url": "ftp://example.com/x",
		"actions": []string{"NOPE"}})
	if f := r.envelope(t).ValidationErrors; len(f["url"]) == 0 || len(f["actions"]) == 0 {
		t.Fatalf("validation errors = %v", f)
	}
	e.must(400, "POST", "/api/webhooks/", map[string]any{"project": p.ID, "url": "http:///nohost"})
	e.must(400, "POST", "/api/webhooks/", map[string]any{"url": "https://example.com/hook"})

	// Created with Label Studio's defaults; the secret is shown once.
	var h webhookBody
	e.must(201, "POST", "/api/webhooks/", map[string]any{"project": p.ID, "url": "https://example.com/hook",
		"headers": map[string]string{"Authorization": "Bearer x"}}).json(t, &h)
	if h.ID == 0 || h.Project != p.ID || h.Organization == 0 || !h.SendPayload || !h.SendForAllActions || !h.IsActive ||
		h.Headers["Authorization"] != "Bearer x" || h.Actions == nil || h.CreatedAt == "" || h.Secret == nil || len(*h.Secret) < 32 {
		t.Fatalf("created webhook = %+v", h)
	}
	var got webhookBody
	e.must(200, "GET", fmt.Sprintf("/api/webhooks/%d/", h.ID), nil).json(t, &got)
	if got.Secret != nil || got.URL != h.URL {
		t.Fatalf("GET webhook = %+v", got)
	}
	stored, err := e.db.FindWebhookWithSecret(context.Background(), h.ID)
	if err != nil || stored.Secret.Reveal() != *h.Secret {
		t.Fatalf("stored secret differs (%v)", err)
	}

	// PATCH: actions (ANNOTATION_DELETED is Label Studio's ANNOTATIONS_DELETED), active flag.
	e.must(200, "PATCH", fmt.Sprintf("/api/webhooks/%d/", h.ID), map[string]any{"send_for_all_actions": false,
		"actions": []string{"ANNOTATION_CREATED", "ANNOTATION_DELETED", "STORAGE_SYNC_FAILED"}, "is_active": false}).json(t, &got)
	if got.IsActive || got.SendForAllActions || len(got.Actions) != 3 || got.Actions[1] != blobmark.ActionAnnotationsDeleted || got.Secret != nil {
		t.Fatalf("patched webhook = %+v", got)
	}
	if s, _ := e.db.FindWebhookWithSecret(context.Background(), h.ID); s.Secret.Reveal() != *h.Secret {
		t.Fatal("PATCH without a secret changed it")
	}
	e.must(400, "PATCH", fmt.Sprintf("/api/webhooks/%d/", h.ID), map[string]any{"url": "javascript:alert(1)"})

	// Lists: all reachable, or one project's.
	var list []webhookBody
	e.must(200, "GET", "/api/webhooks/", nil).json(t, &list)
	if len(list) != 1 {
		t.Fatalf("list = %+v", list)
	}
	e.must(200, "GET", fmt.Sprintf("/api/webhooks/?project=%d", p.ID), nil).json(t, &list)
	if len(list) != 1 {
		t.Fatalf("project list = %+v", list)
	}

	// The delivery log.
	if err := e.db.RecordWebhookDelivery(context.Background(), &blobmark.WebhookDelivery{WebhookID: h.ID,
		Action: "TASKS_CREATED", Attempt: 1, StatusCode: 503, Error: "the receiver answered 503"}); err != nil {
		t.Fatal(err)
	}
	var log []map[string]any
	e.must(200, "GET", fmt.Sprintf("/api/webhooks/%d/deliveries", h.ID), nil).json(t, &log)
	if len(log) != 1 || log[0]["status_code"] != float64(503) || log[0]["attempt"] != float64(1) || log[0]["success"] != false {
		t.Fatalf("deliveries = %v", log)
	}

	// Another organization sees nothing and may not touch it.
	_, outsider, err := e.db.CreateUserInOrganization(context.Background(), "mallory@example.com", "a long enough password", "Elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	as := http.Header{"Authorization": {"Token " + outsider}}
	if r := e.requestWith("GET", fmt.Sprintf("/api/webhooks/%d/", h.ID), nil, as); r.status != 403 {
		t.Fatalf("outsider GET = %d", r.status)
	}
	if r := e.requestWith("GET", fmt.Sprintf("/api/webhooks/%d/deliveries", h.ID), nil, as); r.status != 403 {
		t.Fatalf("outsider deliveries = %d", r.status)
	}
	r = e.requestWith("GET", "/api/webhooks/", nil, as)
	r.json(t, &list)
	if r.status != 200 || len(list) != 0 {
		t.Fatalf("outsider list = %d %s", r.status, r.raw)
	}
	if r := e.requestWith("POST", "/api/webhooks/", map[string]any{"project": p.ID, "url": "https://evil.example/"}, as); r.status != 403 {
		t.Fatalf("outsider create = %d", r.status)
	}

	e.must(204, "DELETE", fmt.Sprintf("/api/webhooks/%d/", h.ID), nil)
	e.must(404, "GET", fmt.Sprintf("/api/webhooks/%d/", h.ID), nil)
}
