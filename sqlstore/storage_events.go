package sqlstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// StorageEvents holds the blob events that Event Grid delivers for import storages: their settings and token, the pending events, and the lease of the one worker applying them.
type StorageEvents struct {
	*core
	// sources answers whether a storage exists.
	sources *SourceStorages
}

// Interface check: the store keeps event settings and accepts pushed events.
var _ blobmark.StorageEventService = (*DB)(nil)

// eventJobOpts keeps one unfinished job per storage, kind (and slot, for
// processing jobs), so a burst of deliveries or sweeps enqueues few jobs.
var eventJobOpts = &river.InsertOpts{MaxAttempts: 25, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: pendingStates}}

// eventJobSlots is how many processing jobs of one storage are kept unique
// side by side (see blobmark.ProcessStorageEventsJob.Slot).
const eventJobSlots = 3

// eventJobDue is how soon a waiting processing job must be due to take a
// new event; a job snoozed for longer does not, another slot is used.
const eventJobDue = 50 * time.Millisecond

// queueEventProcessing makes sure that a processing job of the storage
// starts after tx commits and reads the events it wrote. River keeps a
// running job in every unique set, and a running job may already be past
// its last look at the pending events (River marks it completed a moment
// later): such a job never stands for a new event. A job that waits and is
// due soon does; otherwise the next slot is tried, and when every slot is
// running one more job is inserted, not unique. It returns whether a job
// was inserted. Jobs of one storage take turns through the event lease.
func (tx *Tx) queueEventProcessing(ctx context.Context, storageID int64) (bool, error) {
	due := time.Now().Add(eventJobDue)
	waiting := false
	for slot := range eventJobSlots {
		res, err := tx.insertJob(ctx, blobmark.ProcessStorageEventsJob{StorageID: storageID, Slot: slot}, eventJobOpts)
		if err != nil {
			return false, wrapInternal("enqueue event processing", err)
		}
		if !res.UniqueSkippedAsDuplicate {
			return true, nil
		}
		if res.Job.State == rivertype.JobStateRunning {
			continue
		}
		if res.Job.ScheduledAt.After(due) {
			// Snoozed behind a lease or retrying after an error.
			waiting = true
			continue
		}
		return false, nil
	}
	if waiting {
		// A job will run, only later: every slot is busy, and a running
		// job holding the lease looks at the pending events again before
		// it ends.
		return false, nil
	}
	_, err := tx.insertJob(ctx, blobmark.ProcessStorageEventsJob{StorageID: storageID, Slot: eventJobSlots},
		&river.InsertOpts{MaxAttempts: eventJobOpts.MaxAttempts})
	if err != nil {
		return false, wrapInternal("enqueue event processing", err)
	}
	return true, nil
}

// hashEventToken returns the stored form of a push token.
func hashEventToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// FindStorageEvents returns a storage's event settings and counters.
func (db *StorageEvents) FindStorageEvents(ctx context.Context, storageID int64) (*blobmark.StorageEvents, error) {
	if _, err := db.sources.FindSourceStorageByID(ctx, storageID); err != nil {
		return nil, err
	}
	ev := &blobmark.StorageEvents{StorageID: storageID}
	var hash string
	var last sql.Null[timeValue]
	err := db.queryRow(ctx, `SELECT token_hash, queue_name, events_received, events_applied, events_ignored, last_event_at
		FROM source_storage_event_settings WHERE storage_id = ?`, storageID).
		Scan(&hash, &ev.QueueName, &ev.Received, &ev.Applied, &ev.Ignored, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return ev, nil
	} else if err != nil {
		return nil, translate("find storage events", err)
	}
	ev.Enabled = hash != ""
	if last.Valid {
		t := last.V.Time
		ev.LastEventAt = &t
	}
	return ev, nil
}

// ConfigureStorageEvents enables, rotates or disables a storage's events.
func (db *StorageEvents) ConfigureStorageEvents(ctx context.Context, storageID int64, enabled, rotate bool, queueName *string) (*blobmark.StorageEvents, error) {
	cur, err := db.FindStorageEvents(ctx, storageID)
	if err != nil {
		return nil, err
	}
	token := ""
	if enabled && (!cur.Enabled || rotate) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, wrapInternal("generate event token", err)
		}
		token = base64.RawURLEncoding.EncodeToString(b)
	}
	queue := cur.QueueName
	if queueName != nil {
		queue = *queueName
	}
	err = db.inTx(ctx, "configure storage events", func(tx *Tx) error {
		if _, err := tx.exec(ctx, `INSERT INTO source_storage_event_settings (storage_id, created_at) VALUES (?, ?)
			ON CONFLICT (storage_id) DO NOTHING`, storageID, db.timestamp()); err != nil {
			return err
		}
		switch {
		case !enabled:
			_, err = tx.exec(ctx, "UPDATE source_storage_event_settings SET token_hash = '', queue_name = ? WHERE storage_id = ?", queue, storageID)
		case token != "":
			_, err = tx.exec(ctx, "UPDATE source_storage_event_settings SET token_hash = ?, queue_name = ? WHERE storage_id = ?",
				hashEventToken(token), queue, storageID)
		default:
			_, err = tx.exec(ctx, "UPDATE source_storage_event_settings SET queue_name = ? WHERE storage_id = ?", queue, storageID)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	out, err := db.FindStorageEvents(ctx, storageID)
	if err != nil {
		return nil, err
	}
	out.Token = token
	return out, nil
}

// CheckStorageEventsToken compares token with the storage's push token in
// constant time.
func (db *StorageEvents) CheckStorageEventsToken(ctx context.Context, storageID int64, token string) error {
	var hash string
	err := db.queryRow(ctx, `SELECT e.token_hash FROM source_storage_event_settings e
		JOIN source_storages s ON s.id = e.storage_id JOIN projects p ON p.id = s.project_id AND p.deleted_at IS NULL
		WHERE e.storage_id = ?`, storageID).Scan(&hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return translate("check event token", err)
	}
	given := hashEventToken(token)
	if hash == "" || token == "" || subtle.ConstantTimeCompare([]byte(hash), []byte(given)) != 1 {
		return blobmark.Errorf(blobmark.EUNAUTHORIZED, "Invalid or missing event token.")
	}
	return nil
}

// pendingEventColumns are the columns of a persisted pushed event.
var pendingEventColumns = []string{"storage_id", "event_id", "container", "key", "deleted", "etag", "size", "order_key", "event_time", "received_at"}

// AcceptStorageEvents persists pushed events and enqueues their processing
// in one transaction; an event id already pending is stored once.
func (db *StorageEvents) AcceptStorageEvents(ctx context.Context, storageID int64, events []blobmark.BlobEvent) error {
	now := db.timestamp()
	return db.inTx(ctx, "accept storage events", func(tx *Tx) error {
		if len(events) > 0 {
			err := tx.bulkInsert(ctx, "source_storage_pending_events", pendingEventColumns,
				"ON CONFLICT (storage_id, event_id) DO NOTHING", len(events), func(i int, args []any) []any {
					e := &events[i]
					var t any
					if !e.Time.IsZero() {
						t = e.Time.UTC()
					}
					return append(args, storageID, e.ID, e.Container, e.Key, e.Deleted, e.ETag, e.Size, e.Order, t, now)
				}, nil)
			if err != nil {
				return err
			}
		}
		if err := tx.countEvents(ctx, storageID, len(events), 0, 0, now); err != nil {
			return err
		}
		_, err := tx.queueEventProcessing(ctx, storageID)
		return err
	})
}

// countEvents adds to a storage's event counters.
func (tx *Tx) countEvents(ctx context.Context, storageID int64, received, applied, ignored int, now time.Time) error {
	var last any
	if received > 0 {
		last = now
	}
	_, err := tx.exec(ctx, `UPDATE source_storage_event_settings SET events_received = events_received + ?,
		events_applied = events_applied + ?, events_ignored = events_ignored + ?,
		last_event_at = COALESCE(?, last_event_at) WHERE storage_id = ?`, received, applied, ignored, last, storageID)
	return err
}

// PendingStorageEvents returns up to limit persisted events of a storage,
// oldest first, with their row ids for FinishStorageEvents.
func (db *StorageEvents) PendingStorageEvents(ctx context.Context, storageID int64, limit int) ([]int64, []blobmark.BlobEvent, error) {
	rows, err := db.query(ctx, `SELECT id, event_id, container, key, deleted, etag, size, order_key FROM source_storage_pending_events
		WHERE storage_id = ? ORDER BY id LIMIT ?`, storageID, limit)
	if err != nil {
		return nil, nil, translate("pending storage events", err)
	}
	defer rows.Close()
	var ids []int64
	var out []blobmark.BlobEvent
	for rows.Next() {
		var id int64
		var e blobmark.BlobEvent
		if err := rows.Scan(&id, &e.ID, &e.Container, &e.Key, &e.Deleted, &e.ETag, &e.Size, &e.Order); err != nil {
			return nil, nil, translate("pending storage events", err)
		}
		ids, out = append(ids, id), append(out, e)
	}
	return ids, out, translate("pending storage events", rows.Err())
}

// AdmitStorageEvents keeps the events (one per key) that are not older
// than the last event applied to their key and records their order keys,
// in one transaction, before they are applied: a crash after this replays
// the same events (an equal order key is admitted again), while an older
// event that arrives later is refused.
func (db *StorageEvents) AdmitStorageEvents(ctx context.Context, storageID int64, events []blobmark.BlobEvent, isNewer func(next, last string) bool) ([]blobmark.BlobEvent, error) {
	var out []blobmark.BlobEvent
	err := db.inTx(ctx, "admit storage events", func(tx *Tx) error {
		out = out[:0]
		keys := make([]string, len(events))
		for i, e := range events {
			keys[i] = e.Key
		}
		last := map[string]string{}
		for start := 0; start < len(keys); start += maxKeysPerQuery {
			in, keyArgs := keysIn(tx.db.dialect, "key", keys[start:min(start+maxKeysPerQuery, len(keys))])
			rows, err := tx.query(ctx, "SELECT key, order_key FROM source_storage_event_keys WHERE storage_id = ? AND "+in,
				append([]any{storageID}, keyArgs...)...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var k, o string
				if err := rows.Scan(&k, &o); err != nil {
					rows.Close()
					return err
				}
				last[k] = o
			}
			rows.Close()
		}
		for _, e := range events {
			if !isNewer(e.Order, last[e.Key]) {
				continue
			}
			out = append(out, e)
		}
		if len(out) == 0 {
			return nil
		}
		return tx.bulkInsert(ctx, "source_storage_event_keys", []string{"storage_id", "key", "order_key", "deleted"},
			"ON CONFLICT (storage_id, key) DO UPDATE SET order_key = excluded.order_key, deleted = excluded.deleted", len(out),
			func(i int, args []any) []any {
				return append(args, storageID, out[i].Key, out[i].Order, out[i].Deleted)
			}, nil)
	})
	return out, err
}

// FinishStorageEvents deletes applied pending rows and adds to the
// storage's counters (received counts events that did not come through
// AcceptStorageEvents, such as queue messages).
func (db *StorageEvents) FinishStorageEvents(ctx context.Context, storageID int64, rowIDs []int64, received, applied, ignored int) error {
	now := db.timestamp()
	return db.inTx(ctx, "finish storage events", func(tx *Tx) error {
		for start := 0; start < len(rowIDs); start += maxKeysPerQuery {
			chunk := rowIDs[start:min(start+maxKeysPerQuery, len(rowIDs))]
			args := []any{storageID}
			for _, id := range chunk {
				args = append(args, id)
			}
			if _, err := tx.exec(ctx, "DELETE FROM source_storage_pending_events WHERE storage_id = ? AND id IN ("+
				placeholders(len(chunk))+")", args...); err != nil {
				return err
			}
		}
		return tx.countEvents(ctx, storageID, received, applied, ignored, now)
	})
}

// EnqueueStorageEventJobs enqueues the processing of every storage with
// pending pushed events and the poll of every enabled storage with a
// queue; it returns how many jobs were enqueued (duplicates excluded).
func (db *StorageEvents) EnqueueStorageEventJobs(ctx context.Context) (int, error) {
	var pending []int64
	rows, err := db.query(ctx, "SELECT DISTINCT storage_id FROM source_storage_pending_events")
	if err != nil {
		return 0, translate("sweep storage events", err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, translate("sweep storage events", err)
		}
		pending = append(pending, id)
	}
	rows.Close()
	var jobs []river.JobArgs
	rows, err = db.query(ctx, `SELECT e.storage_id FROM source_storage_event_settings e JOIN source_storages s ON s.id = e.storage_id
		JOIN projects p ON p.id = s.project_id AND p.deleted_at IS NULL WHERE e.queue_name <> '' AND e.token_hash <> ''`)
	if err != nil {
		return 0, translate("sweep storage events", err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, translate("sweep storage events", err)
		}
		jobs = append(jobs, blobmark.PollStorageQueueJob{StorageID: id})
	}
	rows.Close()
	n := 0
	for _, id := range pending {
		err := db.inTx(ctx, "enqueue storage event job", func(tx *Tx) error {
			added, err := tx.queueEventProcessing(ctx, id)
			if added {
				n++
			}
			return err
		})
		if err != nil {
			return n, err
		}
	}
	for _, j := range jobs {
		err := db.inTx(ctx, "enqueue storage event job", func(tx *Tx) error {
			res, err := tx.insertJob(ctx, j, eventJobOpts)
			if err == nil && !res.UniqueSkippedAsDuplicate {
				n++
			}
			return err
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// attachStorageEvents sets the Events of storages that have event
// settings, in one query.
func (db *StorageEvents) attachStorageEvents(ctx context.Context, storages ...*blobmark.SourceStorage) error {
	if len(storages) == 0 {
		return nil
	}
	byID := make(map[int64]*blobmark.SourceStorage, len(storages))
	args := make([]any, 0, len(storages))
	for _, s := range storages {
		byID[s.ID] = s
		args = append(args, s.ID)
	}
	rows, err := db.query(ctx, `SELECT storage_id, token_hash, queue_name, events_received, events_applied, events_ignored,
		last_event_at FROM source_storage_event_settings WHERE storage_id IN (?`+strings.Repeat(", ?", len(args)-1)+")", args...)
	if err != nil {
		return translate("find storage events", err)
	}
	defer rows.Close()
	for rows.Next() {
		ev := &blobmark.StorageEvents{}
		var hash string
		var last sql.Null[timeValue]
		if err := rows.Scan(&ev.StorageID, &hash, &ev.QueueName, &ev.Received, &ev.Applied, &ev.Ignored, &last); err != nil {
			return translate("find storage events", err)
		}
		ev.Enabled = hash != ""
		if last.Valid {
			t := last.V.Time
			ev.LastEventAt = &t
		}
		byID[ev.StorageID].Events = ev
	}
	return translate("find storage events", rows.Err())
}

// AcquireStorageEventLease makes holder the one worker applying the
// storage's events for ttl, unless another holder's lease is still
// running; it reports whether holder has the lease. It commits on its own,
// so the lease is visible to every other worker at once. A holder may
// acquire its own lease again.
func (db *StorageEvents) AcquireStorageEventLease(ctx context.Context, storageID int64, holder string, ttl time.Duration) (bool, error) {
	if holder == "" {
		return false, blobmark.Errorf(blobmark.EINVALID, "an event lease needs a holder")
	}
	now := db.now()
	var ok bool
	err := db.inTx(ctx, "acquire event lease", func(tx *Tx) error {
		res, err := tx.exec(ctx, `INSERT INTO source_storage_event_leases (storage_id, holder, lease_until_ms) VALUES (?, ?, ?)
			ON CONFLICT (storage_id) DO UPDATE SET holder = excluded.holder, lease_until_ms = excluded.lease_until_ms
			WHERE source_storage_event_leases.holder = '' OR source_storage_event_leases.holder = excluded.holder
			OR source_storage_event_leases.lease_until_ms <= ?`,
			storageID, holder, now.Add(ttl).UnixMilli(), now.UnixMilli())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return err
	})
	return ok, err
}

// RenewStorageEventLease extends holder's lease to ttl from now; it
// reports false when holder no longer has it (it expired and was taken).
func (db *StorageEvents) RenewStorageEventLease(ctx context.Context, storageID int64, holder string, ttl time.Duration) (bool, error) {
	var ok bool
	err := db.inTx(ctx, "renew event lease", func(tx *Tx) error {
		res, err := tx.exec(ctx, "UPDATE source_storage_event_leases SET lease_until_ms = ? WHERE storage_id = ? AND holder = ?",
			db.now().Add(ttl).UnixMilli(), storageID, holder)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return err
	})
	return ok, err
}

// ReleaseStorageEventLease ends holder's lease, if it still has it.
func (db *StorageEvents) ReleaseStorageEventLease(ctx context.Context, storageID int64, holder string) error {
	return db.inTx(ctx, "release event lease", func(tx *Tx) error {
		_, err := tx.exec(ctx, "UPDATE source_storage_event_leases SET holder = '', lease_until_ms = 0 WHERE storage_id = ? AND holder = ?",
			storageID, holder)
		return err
	})
}
