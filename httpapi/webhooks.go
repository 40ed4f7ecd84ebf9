package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/egress"
)

// Outgoing project webhooks, at Label Studio's paths and with its fields:
//
//	GET  /api/webhooks/            list (?project= filters)
//	POST /api/webhooks/            create
//	GET, PATCH, DELETE /api/webhooks/{id}/
//	GET  /api/webhooks/{id}/deliveries   the delivery log (blobmark extension)
//
// blobmark adds "secret", the key of the deliveries' HMAC signature: it is
// generated when not given, shown in the answer of the request that set it
// and never again. The actions are Label Studio's names (TASKS_CREATED,
// ANNOTATION_CREATED, ANNOTATION_UPDATED, ANNOTATIONS_DELETED — also
// accepted as ANNOTATION_DELETED) plus STORAGE_SYNC_COMPLETED,
// STORAGE_SYNC_FAILED and EXPORT_FAILED. Deliveries are made by the job
// queue (jobs/webhooks.go says how they are signed and retried).

func (s *Server) webhookRoutes() []route {
	if s.Webhooks == nil {
		return nil
	}
	return []route{
		{"GET /api/webhooks/{$}", s.handleListWebhooks, storages},
		{"POST /api/webhooks/{$}", s.handleCreateWebhook, storages},
		{"GET /api/webhooks/{id}/{$}", s.handleGetWebhook, storages},
		{"PATCH /api/webhooks/{id}/{$}", s.handleUpdateWebhook, storages},
		{"DELETE /api/webhooks/{id}/{$}", s.handleDeleteWebhook, storages},
		{"GET /api/webhooks/{id}/deliveries", s.handleWebhookDeliveries, storages},
	}
}

const apiTime = "2006-01-02T15:04:05.000000Z"

// webhookJSON is a webhook as Label Studio shows it; secret only when set
// by this request.
func webhookJSON(h *blobmark.Webhook, withSecret bool) map[string]any {
	out := map[string]any{
		"id":                   h.ID,
		"organization":         h.OrganizationID,
		"project":              h.ProjectID,
		"url":                  h.URL,
		"send_payload":         h.SendPayload,
		"send_for_all_actions": h.SendForAllActions,
		"headers":              h.Headers,
		"is_active":            h.IsActive,
		"actions":              h.Actions,
		"created_at":           h.CreatedAt.UTC().Format(apiTime),
		"updated_at":           h.UpdatedAt.UTC().Format(apiTime),
	}
	if withSecret && h.Secret != "" {
		// The one answer that shows the secret: its owner needs it to
		// check the signatures.
		out["secret"] = h.Secret.Reveal()
	}
	return out
}

// validWebhookURL accepts absolute http and https URLs with a host.
func validWebhookURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Hostname() != "" && len(raw) <= 2048
}

// applyWebhookFields sets the fields present in body on h, reporting every
// problem at once.
func applyWebhookFields(h *blobmark.Webhook, body map[string]json.RawMessage) error {
	v := validation{}
	if field(body, "url", &h.URL, v, "string") {
		if !validWebhookURL(h.URL) {
			v.add("url", "Enter a valid http or https URL.")
		} else if u, _ := url.Parse(h.URL); u != nil {
			// Deliveries are checked when dialled, names included; a
			// metadata address typed as such is refused at once.
			if err := (&egress.Guard{AllowPrivate: true}).CheckHost(u.Hostname()); err != nil {
				v.add("url", "%s", err.Error())
			}
		}
	}
	field(body, "send_payload", &h.SendPayload, v, "boolean")
	field(body, "send_for_all_actions", &h.SendForAllActions, v, "boolean")
	field(body, "is_active", &h.IsActive, v, "boolean")
	var actions []string
	if field(body, "actions", &actions, v, "list of strings") {
		h.Actions = []string{}
		for _, a := range actions {
			if a == "ANNOTATION_DELETED" {
				a = blobmark.ActionAnnotationsDeleted
			}
			if !slices.Contains(blobmark.WebhookActions, a) {
				v.add("actions", "\"%s\" is not a valid choice.", a)
				continue
			}
			if !slices.Contains(h.Actions, a) {
				h.Actions = append(h.Actions, a)
			}
		}
	}
	var headers map[string]string
	if field(body, "headers", &headers, v, "object of strings") {
		for k, val := range headers {
			if k == "" || strings.ContainsAny(k, " \t\r\n:") || strings.ContainsAny(val, "\r\n") {
				v.add("headers", "Invalid header %q.", k)
			}
		}
		h.Headers = headers
	}
	if field(body, "secret", &h.Secret, v, "string") && len(h.Secret) < 16 {
		v.add("secret", "Ensure this field has at least 16 characters.")
	}
	if h.URL == "" {
		v.add("url", "This field is required.")
	}
	return v.err()
}

// webhookFromPath loads the webhook of the path if the user may reach its
// project (403 otherwise).
func (s *Server) webhookFromPath(r *http.Request) (*blobmark.Webhook, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	h, err := s.Webhooks.FindWebhookByID(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if err := s.canAccessProject(r.Context(), h.ProjectID); err != nil {
		return nil, err
	}
	return h, nil
}

func (s *Server) handleListWebhooks(w http.ResponseWriter, r *http.Request) {
	var projectID int64
	if r.URL.Query().Get("project") != "" {
		var err error
		if projectID, err = s.projectQuery(r); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	list, err := s.Webhooks.FindWebhooks(r.Context(), projectID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := []map[string]any{}
	for _, h := range list {
		if projectID == 0 {
			if err := s.canAccessProject(r.Context(), h.ProjectID); blobmark.ErrorCode(err) == blobmark.EFORBIDDEN {
				continue
			} else if err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		out = append(out, webhookJSON(h, false))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleCreateWebhook(w http.ResponseWriter, r *http.Request) {
	body, err := s.decodeObject(r)
	var projectID int64
	if err == nil {
		projectID, err = s.projectField(r, body, true)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := &blobmark.Webhook{ProjectID: projectID, SendPayload: true, SendForAllActions: true, IsActive: true,
		Actions: []string{}, Headers: map[string]string{}}
	s.saveWebhook(w, r, http.StatusCreated, h, body, s.Webhooks.CreateWebhook)
}

func (s *Server) handleGetWebhook(w http.ResponseWriter, r *http.Request) {
	serveObject(s, w, r, s.webhookFromPath, nil, func(h *blobmark.Webhook) map[string]any { return webhookJSON(h, false) })
}

func (s *Server) handleUpdateWebhook(w http.ResponseWriter, r *http.Request) {
	h, err := s.webhookFromPath(r)
	var body map[string]json.RawMessage
	if err == nil {
		body, err = s.decodeObject(r)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, ok := body["project"]; ok {
		var p int64
		if field(body, "project", &p, validation{}, "integer") && p != h.ProjectID {
			s.writeError(w, r, blobmark.FieldErrorf("project", "A webhook cannot move to another project."))
			return
		}
	}
	h.Secret = ""
	s.saveWebhook(w, r, http.StatusOK, h, body, s.Webhooks.UpdateWebhook)
}

// saveWebhook is the rest of a create or update: it applies the body to h,
// saves it and answers status with the webhook, its secret included when
// this request set it.
func (s *Server) saveWebhook(w http.ResponseWriter, r *http.Request, status int, h *blobmark.Webhook,
	body map[string]json.RawMessage, save func(context.Context, *blobmark.Webhook) error) {
	err := applyWebhookFields(h, body)
	if err == nil {
		err = save(r.Context(), h)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, status, webhookJSON(h, true))
}

func (s *Server) handleDeleteWebhook(w http.ResponseWriter, r *http.Request) {
	serveDelete(s, w, r, s.webhookFromPath, func(ctx context.Context, h *blobmark.Webhook) error {
		return s.Webhooks.DeleteWebhook(ctx, h.ID)
	})
}

// handleWebhookDeliveries lists the latest delivery attempts, newest
// first (?limit=, at most 1000, default 100).
func (s *Server) handleWebhookDeliveries(w http.ResponseWriter, r *http.Request) {
	h, err := s.webhookFromPath(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	limit := 100
	if q := r.URL.Query().Get("limit"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n <= 0 {
			s.writeError(w, r, blobmark.FieldErrorf("limit", "query parameter \"limit\" must be a positive integer"))
			return
		}
		limit = min(n, 1000)
	}
	list, err := s.Webhooks.FindWebhookDeliveries(r.Context(), h.ID, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]map[string]any, 0, len(list))
	for _, d := range list {
		out = append(out, map[string]any{
			"id": d.ID, "webhook": d.WebhookID, "job": d.JobID, "action": d.Action, "attempt": d.Attempt,
			"status_code": d.StatusCode, "error": d.Error, "duration_ms": d.DurationMS, "success": d.Success,
			"created_at": d.CreatedAt.UTC().Format(apiTime),
		})
	}
	writeJSON(w, http.StatusOK, out)
}
