package azureblob

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/importer"
)

// Queue is an Azure Storage queue of the account a Config points at,
// reached with the same credential as the account's blobs. Event Grid
// delivers blob events to such a queue for storages that cannot be called
// into. It is the importer's EventQueue.
type Queue struct {
	client *azqueue.QueueClient
}

// queueURL returns the URL of queue for the account: a bare name is a
// queue of the account's queue service (the blob endpoint with "blob"
// replaced by "queue"); a full URL is accepted when it is that service's
// host, or a loopback address naming the same account (the emulator's
// path-style URLs), so the storage's credential is never sent elsewhere.
func queueURL(acct account, queue string) (string, error) {
	blob, err := url.Parse(acct.serviceURL)
	if err != nil {
		return "", err
	}
	derived := strings.Replace(blob.Host, ".blob.", ".queue.", 1)
	if !strings.Contains(queue, "/") {
		if derived == blob.Host {
			return "", fmt.Errorf("the queue endpoint cannot be derived from %s: give the queue's full URL", blob.Host)
		}
		return blob.Scheme + "://" + derived + "/" + url.PathEscape(queue), nil
	}
	u, err := url.Parse(queue)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("the queue is neither a queue name nor a URL")
	}
	u.RawQuery, u.Fragment = "", ""
	if u.Scheme != blob.Scheme {
		return "", fmt.Errorf("the queue URL must use %s, as the storage's endpoint does: the storage's credential is never sent over a weaker channel", blob.Scheme)
	}
	// The host must be the account's queue host; the port may differ (the
	// emulator serves each service on its own port).
	if u.Hostname() == strings.Replace(blob.Hostname(), ".blob.", ".queue.", 1) && u.Hostname() != blob.Hostname() {
		return u.String(), nil
	}
	// A path-style loopback URL is the emulator's form, accepted for a
	// storage that is itself on the loopback emulator.
	if ip, bip := net.ParseIP(u.Hostname()), net.ParseIP(blob.Hostname()); ip != nil && ip.IsLoopback() && bip != nil && bip.IsLoopback() {
		if name, err := accountFromEndpoint(u.String()); err == nil && name == acct.name {
			return u.String(), nil
		}
	}
	return "", fmt.Errorf("the queue URL must be on the storage account's queue service (%s)", derived)
}

// Queue returns the queue client for queue (a name or a URL, see
// queueURL) with cfg's credential.
func (c *Connector) Queue(ctx context.Context, cfg Config, queue string) (*Queue, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.Normalized()
	// The queue's URL is derived (or checked) first, so that a host
	// identity is pinned on the queue's own destination.
	u, err := func() (string, error) {
		acct, err := endpointOf(cfg)
		if err != nil {
			return "", err
		}
		u, err := queueURL(acct, queue)
		if err != nil {
			return "", err
		}
		qu, err := url.Parse(u)
		if err != nil {
			return "", err
		}
		return u, c.guard.CheckHost(qu.Hostname())
	}()
	if err != nil {
		return nil, &blobmark.Error{Code: blobmark.EINVALID, Field: "events_queue", Message: err.Error(),
			Fields: map[string][]string{"events_queue": {err.Error()}}}
	}
	acct, err := c.admit(cfg, func(account) (destination, string, bool, error) {
		dir, name := path.Split(u)
		d, err := destinationOf(dir, cfg.Cloud, "queue")
		return d, name, true, err
	})
	if err != nil {
		return nil, err
	}
	acc, err := c.account(cfg, acct)
	if err != nil {
		return nil, err
	}
	co := &azqueue.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: c.opts.Transport, Retry: c.opts.Retry}}
	var qc *azqueue.QueueClient
	key := cfg.AccountKey
	if cfg.AuthType == AuthConnectionString {
		if cs, err := parseConnectionString(cfg.ConnectionString); err == nil {
			key = cs.accountKey
		}
	}
	switch {
	case acc.cred.token != nil:
		qc, err = azqueue.NewQueueClient(u, acc.cred.token, co)
	case acc.cred.sharedKey != nil && key != "":
		var k *azqueue.SharedKeyCredential
		if k, err = azqueue.NewSharedKeyCredential(acc.cred.account.name, key); err == nil {
			qc, err = azqueue.NewQueueClientWithSharedKeyCredential(u, k, co)
		}
	case acc.cred.sasToken != "":
		qc, err = azqueue.NewQueueClientWithNoCredential(u+"?"+acc.cred.sasToken, co)
	default:
		qc, err = azqueue.NewQueueClientWithNoCredential(u, co)
	}
	if err != nil {
		return nil, &blobmark.Error{Code: blobmark.EINVALID, Message: "the Azure queue client could not be set up: " + redact(err.Error(), cfg.Secrets()), Err: err}
	}
	return &Queue{client: qc}, nil
}

// Receive takes up to n (at most 32) messages, hiding them for visibility:
// a message not deleted by then is received again, which is what makes a
// crash between processing and deletion safe.
func (q *Queue) Receive(ctx context.Context, n int, visibility time.Duration) ([]importer.QueueMessage, error) {
	num := int32(min(max(n, 1), 32))
	vis := int32(max(visibility/time.Second, 1))
	resp, err := q.client.DequeueMessages(ctx, &azqueue.DequeueMessagesOptions{NumberOfMessages: &num, VisibilityTimeout: &vis})
	if err != nil {
		return nil, translateQueue(err)
	}
	out := make([]importer.QueueMessage, 0, len(resp.Messages))
	for _, m := range resp.Messages {
		if m == nil || m.MessageID == nil || m.PopReceipt == nil {
			continue
		}
		qm := importer.QueueMessage{ID: *m.MessageID, PopReceipt: *m.PopReceipt}
		if m.DequeueCount != nil {
			qm.DequeueCount = *m.DequeueCount
		}
		if m.MessageText != nil {
			text := strings.TrimSpace(*m.MessageText)
			if b, err := base64.StdEncoding.DecodeString(text); err == nil {
				qm.Text = b
			} else {
				qm.Text = []byte(text)
			}
		}
		out = append(out, qm)
	}
	return out, nil
}

// Delete removes a processed message.
func (q *Queue) Delete(ctx context.Context, m importer.QueueMessage) error {
	if _, err := q.client.DeleteMessage(ctx, m.ID, m.PopReceipt, nil); err != nil {
		return translateQueue(err)
	}
	return nil
}

// Send adds a message (base64-encoded, as Event Grid writes them); tests and
// benchmarks use it to stand in for Event Grid.
func (q *Queue) Send(ctx context.Context, text []byte) error {
	if _, err := q.client.EnqueueMessage(ctx, base64.StdEncoding.EncodeToString(text), nil); err != nil {
		return translateQueue(err)
	}
	return nil
}

// Create creates the queue if it does not exist.
func (q *Queue) Create(ctx context.Context) error {
	if _, err := q.client.Create(ctx, nil); err != nil && !strings.Contains(err.Error(), "QueueAlreadyExists") {
		return translateQueue(err)
	}
	return nil
}

// translateQueue maps a queue error onto blobmark's codes, as blob errors are.
func translateQueue(err error) error {
	return translate(err, errContext{op: opRead, container: "queue"})
}
