package jobs

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/egress"
	"github.com/riverqueue/river"
)

// Outgoing webhooks.
//
// Every delivery is a POST of the event's JSON to the webhook's URL with
//
//	Content-Type: application/json
//	X-Blobmark-Timestamp: <unix seconds>
//	X-Blobmark-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the webhook's secret>
//
// plus the webhook's own headers (which cannot replace those three). A
// receiver recomputes the MAC over the timestamp header, a dot and the raw
// body, compares it in constant time, and refuses timestamps older than a
// few minutes, so a captured delivery cannot be replayed later.
//
// Requests go to the configured URL only: no redirect is ever followed, to
// the same host or another (a 3xx answer is a failed delivery, not
// retried), and each attempt times out after WebhookTimeout. Network
// errors, timeouts, 5xx and 429 answers are retried with River's backoff up
// to the job's attempts; any other answer outside 2xx, and a destination
// the egress guard refuses, is final (see deliveryError). Every
// attempt is logged (status, error, duration, attempt number); the
// answer's body is never read, so nothing of it is kept.

// WebhookTimeout bounds one delivery attempt.
const WebhookTimeout = 10 * time.Second

// Headers of a delivery.
const (
	WebhookSignatureHeader = "X-Blobmark-Signature"
	WebhookTimestampHeader = "X-Blobmark-Timestamp"
)

// WebhookSignature returns the signature header value of body sent at
// timestamp (unix seconds) with secret.
func WebhookSignature(secret string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// WebhookStore is what the delivery worker needs from the database.
type WebhookStore interface {
	// FindWebhookWithSecret returns the webhook with the secret that signs
	// its deliveries.
	FindWebhookWithSecret(ctx context.Context, id int64) (*blobmark.Webhook, error)
	RecordWebhookDelivery(ctx context.Context, d *blobmark.WebhookDelivery) error
}

// NewWebhookClient returns the client deliveries use: WebhookTimeout per
// attempt and no redirects followed. A webhook URL is typed by a user, so
// transport should dial through an egress.Guard; nil means a guard that
// refuses private networks too.
func NewWebhookClient(transport http.RoundTripper) *http.Client {
	if transport == nil {
		transport = (&egress.Guard{}).Transport()
	}
	return &http.Client{
		Transport:     transport,
		Timeout:       WebhookTimeout,
		CheckRedirect: egress.NoRedirects,
	}
}

// DeliverWebhookWorker works blobmark.DeliverWebhookJob.
type DeliverWebhookWorker struct {
	river.WorkerDefaults[blobmark.DeliverWebhookJob]
	Store WebhookStore
	// Client sends deliveries; nil means NewWebhookClient(nil). A client
	// given here should refuse redirects too.
	Client *http.Client
	// Backoff, when set, replaces River's retry schedule (attempt is 1
	// after the first failure). Tests shorten it.
	Backoff func(attempt int) time.Duration
	// Now stamps deliveries; nil means time.Now.
	Now func() time.Time
}

// RegisterWebhooks adds the delivery worker to workers.
func RegisterWebhooks(workers *river.Workers, w *DeliverWebhookWorker) error {
	if w.Client == nil {
		w.Client = NewWebhookClient(nil)
	}
	return river.AddWorkerSafely(workers, w)
}

// NextRetry applies Backoff.
func (w *DeliverWebhookWorker) NextRetry(job *river.Job[blobmark.DeliverWebhookJob]) time.Time {
	if w.Backoff == nil {
		return time.Time{}
	}
	return time.Now().Add(w.Backoff(job.Attempt))
}

// Timeout leaves room for the request's own timeout and the log write.
func (w *DeliverWebhookWorker) Timeout(*river.Job[blobmark.DeliverWebhookJob]) time.Duration {
	return WebhookTimeout + 20*time.Second
}

// Work sends the event once and logs the attempt. A webhook deleted or
// made inactive since the event was queued gets nothing.
func (w *DeliverWebhookWorker) Work(ctx context.Context, job *river.Job[blobmark.DeliverWebhookJob]) error {
	hook, err := w.Store.FindWebhookWithSecret(ctx, job.Args.WebhookID)
	if blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	if !hook.IsActive {
		return nil
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	client := w.Client
	if client == nil {
		client = NewWebhookClient(nil)
	}
	body := []byte(job.Args.Body)
	start := now()
	status, sendErr := send(ctx, client, hook, body, start.Unix())
	d := &blobmark.WebhookDelivery{WebhookID: hook.ID, JobID: job.ID, Action: job.Args.Action, Attempt: job.Attempt,
		StatusCode: status, DurationMS: now().Sub(start).Milliseconds(), Success: sendErr == nil}
	if sendErr != nil {
		d.Error = sendErr.Error()
	}
	if err := w.Store.RecordWebhookDelivery(context.WithoutCancel(ctx), d); err != nil {
		return err
	}
	if sendErr == nil {
		return nil
	}
	return settle(ctx, deliveryError(status, sendErr))
}

// deliveryError gives a failed attempt that ended with status (0: no
// answer) its blobmark code, so that blobmark.Decide settles it like any
// other job's error: no answer and 5xx are EUNAVAILABLE and 429 is
// ERATELIMITED (the receiver may recover: retry); a destination the egress
// guard refuses is EFORBIDDEN, and any other answer (a redirect, a 4xx)
// EINVALID: the receiver refused this delivery and would again.
func deliveryError(status int, err error) error {
	code := blobmark.EINVALID
	switch {
	case egress.IsRefused(err):
		code = blobmark.EFORBIDDEN
	case status == 0 || status >= 500:
		code = blobmark.EUNAVAILABLE
	case status == http.StatusTooManyRequests:
		code = blobmark.ERATELIMITED
	}
	return &blobmark.Error{Code: code, Message: err.Error(), Err: err}
}

// send POSTs body to the webhook and returns the answer's status (0 when
// none came) and an error unless it was 2xx.
func send(ctx context.Context, client *http.Client, hook *blobmark.Webhook, body []byte, ts int64) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("invalid webhook URL: %w", err)
	}
	for k, v := range hook.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "blobmark-webhooks")
	req.Header.Set(WebhookTimestampHeader, strconv.FormatInt(ts, 10))
	req.Header.Set(WebhookSignatureHeader, WebhookSignature(hook.Secret.Reveal(), ts, body))
	resp, err := client.Do(req)
	if err != nil {
		var uerr interface{ Timeout() bool }
		if errors.As(err, &uerr) && uerr.Timeout() {
			return 0, fmt.Errorf("no answer within %s", WebhookTimeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			return 0, ue.Err // without the URL, which may carry a token
		}
		return 0, err
	}
	// The answer's body is never read: only its status says whether the
	// delivery worked, and a body copied into the delivery log would let
	// whoever sets a webhook URL read what an internal service answers.
	// Closing it unread costs the connection's reuse, nothing else.
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return resp.StatusCode, nil
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return resp.StatusCode, fmt.Errorf("the receiver answered %d: redirects are not followed", resp.StatusCode)
	}
	return resp.StatusCode, fmt.Errorf("the receiver answered %d", resp.StatusCode)
}
