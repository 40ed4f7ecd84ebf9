package blobmark

import (
	"context"
	"encoding/json"
	"time"
)

// The actions a webhook can be sent for. Label Studio's names and payload
// keys where it has the event (ANNOTATIONS_DELETED is plural there, with the
// deleted ids only); the storage and export ones are blobmark's.
const (
	ActionTasksCreated         = "TASKS_CREATED"
	ActionAnnotationCreated    = "ANNOTATION_CREATED"
	ActionAnnotationUpdated    = "ANNOTATION_UPDATED"
	ActionAnnotationsDeleted   = "ANNOTATIONS_DELETED"
	ActionStorageSyncCompleted = "STORAGE_SYNC_COMPLETED"
	ActionStorageSyncFailed    = "STORAGE_SYNC_FAILED"
	ActionExportFailed         = "EXPORT_FAILED"
)

// WebhookActions lists every action, in the order the API documents them.
var WebhookActions = []string{
	ActionTasksCreated, ActionAnnotationCreated, ActionAnnotationUpdated, ActionAnnotationsDeleted,
	ActionStorageSyncCompleted, ActionStorageSyncFailed, ActionExportFailed,
}

// Webhook is a project's outgoing webhook, with Label Studio's fields.
type Webhook struct {
	ID             int64
	OrganizationID int64
	ProjectID      int64
	URL            string
	// Secret signs every delivery (HMAC-SHA256); the store keeps it sealed
	// and returns it opened, redacted wherever the webhook is printed.
	Secret Secret
	// SendPayload sends the objects of the event, not only the action.
	SendPayload bool
	// SendForAllActions sends every action; otherwise only Actions.
	SendForAllActions bool
	Actions           []string
	// Headers are added to every delivery.
	Headers   map[string]string
	IsActive  bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Wants reports whether the webhook is sent for action.
func (w *Webhook) Wants(action string) bool {
	if !w.IsActive {
		return false
	}
	if w.SendForAllActions {
		return true
	}
	for _, a := range w.Actions {
		if a == action {
			return true
		}
	}
	return false
}

// WebhookDelivery is one attempt to deliver an event to a webhook.
type WebhookDelivery struct {
	ID        int64  `json:"id"`
	WebhookID int64  `json:"webhook"`
	JobID     int64  `json:"job"`
	Action    string `json:"action"`
	Attempt   int    `json:"attempt"`
	// StatusCode is the receiver's answer, 0 when none came.
	StatusCode int `json:"status_code"`
	// Error says why the attempt failed ("" when it succeeded).
	Error      string    `json:"error"`
	DurationMS int64     `json:"duration_ms"`
	Success    bool      `json:"success"`
	CreatedAt  time.Time `json:"created_at"`
}

// WebhookService keeps webhooks and their delivery log.
type WebhookService interface {
	// CreateWebhook stores w, generating its secret when empty.
	CreateWebhook(ctx context.Context, w *Webhook) error
	// FindWebhookByID returns a webhook of a live project, its secret left
	// sealed (Secret is empty); only the delivery worker opens it.
	FindWebhookByID(ctx context.Context, id int64) (*Webhook, error)
	// FindWebhooks returns the webhooks of a project (all projects for 0).
	FindWebhooks(ctx context.Context, projectID int64) ([]*Webhook, error)
	// UpdateWebhook stores w's fields (Secret "" keeps the old one).
	UpdateWebhook(ctx context.Context, w *Webhook) error
	DeleteWebhook(ctx context.Context, id int64) error
	// FindWebhookDeliveries returns the latest attempts, newest first.
	FindWebhookDeliveries(ctx context.Context, webhookID int64, limit int) ([]*WebhookDelivery, error)
	// RecordWebhookDelivery logs one attempt.
	RecordWebhookDelivery(ctx context.Context, d *WebhookDelivery) error
}

// DeliverWebhookJob sends one event to one webhook. Body is the complete
// JSON document, built when the event happened, so every attempt sends the
// same snapshot.
type DeliverWebhookJob struct {
	WebhookID int64           `json:"webhook_id"`
	Action    string          `json:"action"`
	Body      json.RawMessage `json:"body"`
}

// Kind names the job type in the queue.
func (DeliverWebhookJob) Kind() string { return "deliver_webhook" }
