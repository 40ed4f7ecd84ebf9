package sqlstore

// Export snapshots: the JSON of a project export and the formats converted
// from it, stored as chunks in the database so every replica serves every
// download, and written by River jobs (see jobs.ExportSnapshotWorker).

import (
	"context"
	"crypto/md5"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"sync/atomic"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/exporter"
	"github.com/klauspost/compress/s2"
)

var _ blobmark.ExportSnapshotService = (*DB)(nil)

// exportChunkSize is the size of one stored chunk of an export's output,
// before compression.
const exportChunkSize = 1 << 20

// chunkCompression is how outputs written now store their chunks
// (export_outputs.compression): each one an S2 block. Most of a
// snapshot's cost beyond a download's was SQLite writing its JSON page by
// page into the write-ahead log, copying it into the database and reading
// it back; S2 shrinks that JSON many times over, at a cost that is small
// beside it. Outputs stored before keep their chunks as they are (an
// empty compression).
const chunkCompression = "s2"

const snapshotColumns = `s.id, s.project_id, s.title, o.status, o.traceback, COALESCE(s.created_by, 0), s.created_at, s.finished_at,
	s.md5, s.counters, s.filter, s.options`

// snapshotFrom joins a snapshot to its JSON output, whose status is the
// snapshot's, and hides the snapshots of deleted projects.
const snapshotFrom = ` FROM export_snapshots s
	JOIN export_outputs o ON o.snapshot_id = s.id AND o.export_type = '` + blobmark.ExportJSON + `'
	JOIN projects p ON p.id = s.project_id AND p.deleted_at IS NULL `

// CreateExportSnapshot implements blobmark.ExportSnapshotService.
func (db *DB) CreateExportSnapshot(ctx context.Context, s *blobmark.ExportSnapshot) error {
	filter, err := json.Marshal(s.Filter)
	if err != nil {
		return err
	}
	options := s.Options
	if len(options) == 0 {
		options = json.RawMessage("{}")
	}
	now := db.timestamp()
	var createdBy any
	if s.CreatedBy != 0 {
		createdBy = s.CreatedBy
	}
	err = db.inTx(ctx, "create export snapshot", func(tx *Tx) error {
		if err := tx.queryRow(ctx, `INSERT INTO export_snapshots (project_id, title, created_by, created_at, filter, options)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, s.ProjectID, s.Title, createdBy, now, string(filter), string(options)).Scan(&s.ID); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, "INSERT INTO export_outputs (snapshot_id, export_type, created_at) VALUES (?, ?, ?)",
			s.ID, blobmark.ExportJSON, now); err != nil {
			return err
		}
		if _, err := tx.insertJob(ctx, blobmark.ExportSnapshotJob{SnapshotID: s.ID}, nil); err != nil {
			return wrapInternal("enqueue export snapshot", err)
		}
		for _, c := range s.Converted {
			if _, err := tx.convertExport(ctx, s.ID, c.ExportType, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	got, err := db.FindExportSnapshotByID(ctx, s.ID)
	if err != nil {
		return err
	}
	*s = *got
	return nil
}

// convertExport adds the output row of exportType to a snapshot unless it
// exists, and queues its conversion when it is new or failed before.
func (tx *Tx) convertExport(ctx context.Context, snapshotID int64, exportType string, now any) (int64, error) {
	var id int64
	var status string
	err := tx.queryRow(ctx, "SELECT id, status FROM export_outputs WHERE snapshot_id = ? AND export_type = ?", snapshotID, exportType).Scan(&id, &status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if err := tx.queryRow(ctx, "INSERT INTO export_outputs (snapshot_id, export_type, created_at) VALUES (?, ?, ?) RETURNING id",
			snapshotID, exportType, now).Scan(&id); err != nil {
			return 0, err
		}
	case err != nil:
		return 0, err
	case status != blobmark.ExportFailed:
		return id, nil
	default:
		if _, err := tx.exec(ctx, "UPDATE export_outputs SET status = ?, traceback = '' WHERE id = ?", blobmark.ExportCreated, id); err != nil {
			return 0, err
		}
	}
	if _, err := tx.insertJob(ctx, blobmark.ConvertExportJob{SnapshotID: snapshotID, ExportType: exportType},
		nil); err != nil {
		return 0, wrapInternal("enqueue export conversion", err)
	}
	return id, nil
}

// FindExportSnapshots implements blobmark.ExportSnapshotService.
func (db *DB) FindExportSnapshots(ctx context.Context, projectID int64) ([]*blobmark.ExportSnapshot, error) {
	return db.findSnapshots(ctx, "s.project_id = ? ORDER BY s.id DESC", projectID)
}

// FindExportSnapshotByID implements blobmark.ExportSnapshotService.
func (db *DB) FindExportSnapshotByID(ctx context.Context, id int64) (*blobmark.ExportSnapshot, error) {
	list, err := db.findSnapshots(ctx, "s.id = ?", id)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, notFound("export")
	}
	return list[0], nil
}

func (db *DB) findSnapshots(ctx context.Context, where string, args ...any) ([]*blobmark.ExportSnapshot, error) {
	rows, err := db.query(ctx, "SELECT "+snapshotColumns+snapshotFrom+"WHERE "+where, args...)
	if err != nil {
		return nil, translate("find exports", err)
	}
	defer rows.Close()
	var out []*blobmark.ExportSnapshot
	index := map[int64]*blobmark.ExportSnapshot{}
	for rows.Next() {
		var s blobmark.ExportSnapshot
		var created timeValue
		var finished sql.Null[timeValue]
		var counters, filter, options string
		if err := rows.Scan(&s.ID, &s.ProjectID, &s.Title, &s.Status, &s.Traceback, &s.CreatedBy, &created, &finished,
			&s.MD5, &counters, &filter, &options); err != nil {
			return nil, translate("find exports", err)
		}
		s.CreatedAt = created.Time
		if finished.Valid {
			t := finished.V.Time
			s.FinishedAt = &t
		}
		s.Counters, s.Options = json.RawMessage(counters), json.RawMessage(options)
		if err := json.Unmarshal([]byte(filter), &s.Filter); err != nil {
			return nil, wrapInternal("find exports", err)
		}
		s.Converted = []blobmark.ConvertedFormat{}
		out = append(out, &s)
		index[s.ID] = &s
	}
	if err := rows.Err(); err != nil || len(out) == 0 {
		return out, translate("find exports", err)
	}
	rows.Close()
	ids := make([]int64, 0, len(out))
	for _, s := range out {
		ids = append(ids, s.ID)
	}
	in := db.dialect.idsIn("snapshot_id", ids, false)
	frows, err := db.query(ctx, "SELECT id, snapshot_id, export_type, status, traceback FROM export_outputs WHERE export_type <> '"+
		blobmark.ExportJSON+"' AND "+in.sql+" ORDER BY id", in.args...)
	if err != nil {
		return nil, translate("find export formats", err)
	}
	defer frows.Close()
	for frows.Next() {
		var c blobmark.ConvertedFormat
		var sid int64
		if err := frows.Scan(&c.ID, &sid, &c.ExportType, &c.Status, &c.Traceback); err != nil {
			return nil, translate("find export formats", err)
		}
		index[sid].Converted = append(index[sid].Converted, c)
	}
	return out, translate("find export formats", frows.Err())
}

// DeleteExportSnapshot implements blobmark.ExportSnapshotService; a job
// still writing it finds its rows gone and stops.
func (db *DB) DeleteExportSnapshot(ctx context.Context, id int64) error {
	return db.inTx(ctx, "delete export", func(tx *Tx) error {
		res, err := tx.exec(ctx, "DELETE FROM export_snapshots WHERE id = ?", id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("export")
		}
		return nil
	})
}

// ConvertExportSnapshot implements blobmark.ExportSnapshotService.
func (db *DB) ConvertExportSnapshot(ctx context.Context, id int64, exportType string) (*blobmark.ConvertedFormat, error) {
	if _, err := db.FindExportSnapshotByID(ctx, id); err != nil {
		return nil, err
	}
	var c blobmark.ConvertedFormat
	err := db.inTx(ctx, "convert export", func(tx *Tx) error {
		fid, err := tx.convertExport(ctx, id, exportType, db.timestamp())
		if err != nil {
			return err
		}
		return tx.queryRow(ctx, "SELECT id, export_type, status, traceback FROM export_outputs WHERE id = ?", fid).
			Scan(&c.ID, &c.ExportType, &c.Status, &c.Traceback)
	})
	return &c, err
}

// OpenExportOutput implements blobmark.ExportSnapshotService.
func (db *DB) OpenExportOutput(ctx context.Context, id int64, exportType string) (io.ReadCloser, error) {
	r := &chunkReader{ctx: ctx, db: db}
	var compression string
	err := db.queryRow(ctx, "SELECT id, compression FROM export_outputs WHERE snapshot_id = ? AND export_type = ? AND status = ?",
		id, exportType, blobmark.ExportCompleted).Scan(&r.outputID, &compression)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("export output")
	} else if err != nil {
		return nil, translate("open export output", err)
	}
	switch compression {
	case chunkCompression:
		r.compressed = true
	case "":
	default:
		return nil, wrapInternal("open export output", fmt.Errorf("unknown chunk compression %q", compression))
	}
	return r, nil
}

// ConvertExportOutput implements blobmark.ExportSnapshotService.
func (db *DB) ConvertExportOutput(ctx context.Context, id int64, exportType string, w io.Writer) error {
	s, err := db.FindExportSnapshotByID(ctx, id)
	if err != nil {
		return err
	}
	if s.Status != blobmark.ExportCompleted {
		return blobmark.Errorf(blobmark.ECONFLICT, "Export %d is %s, not completed; download it once it is.", id, s.Status)
	}
	return db.convertSnapshot(ctx, s, exportType, w)
}

// convertSnapshot converts a completed snapshot's stored JSON into
// exportType, reading it chunk by chunk.
func (db *DB) convertSnapshot(ctx context.Context, s *blobmark.ExportSnapshot, exportType string, w io.Writer) error {
	p, err := db.FindProjectByID(ctx, s.ProjectID)
	if err != nil {
		return err
	}
	in, err := db.OpenExportOutput(ctx, s.ID, blobmark.ExportJSON)
	if err != nil {
		return err
	}
	defer in.Close()
	cfg, _ := blobmark.ParseLabelConfig(p.LabelConfig)
	return exporter.ConvertJSON(ctx, w, exportType, cfg, in)
}

// chunkReader reads an output's chunks in order, one query per chunk,
// decompressing them when they are compressed.
type chunkReader struct {
	ctx        context.Context
	db         *DB
	outputID   int64
	compressed bool
	seq        int
	buf        []byte // what is left of the current chunk
	decoded    []byte // the buffer compressed chunks are decoded into
	done       bool
}

// Read implements io.Reader.
func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if err := r.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// WriteTo implements io.WriterTo, so io.Copy hands each chunk to w whole
// instead of copying it through a buffer of its own.
func (r *chunkReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(r.buf) > 0 {
			n, err := w.Write(r.buf)
			total += int64(n)
			r.buf = r.buf[n:]
			if err != nil {
				return total, err
			}
		}
		if err := r.next(); errors.Is(err, io.EOF) {
			return total, nil
		} else if err != nil {
			return total, err
		}
	}
}

// next reads the next chunk into buf; io.EOF after the last one.
func (r *chunkReader) next() error {
	if r.done {
		return io.EOF
	}
	var data []byte
	err := r.db.queryRow(r.ctx, "SELECT data FROM export_output_chunks WHERE output_id = ? AND seq = ?", r.outputID, r.seq).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		r.done = true
		return io.EOF
	} else if err != nil {
		return translate("read export output", err)
	}
	r.seq++
	r.buf = data
	if r.compressed {
		if r.buf, err = s2.Decode(r.decoded[:cap(r.decoded)], data); err != nil {
			return wrapInternal("read export output", err)
		}
		r.decoded = r.buf
	}
	return nil
}

// Close implements io.Closer.
func (r *chunkReader) Close() error { return nil }

// RunExportSnapshot writes a snapshot's JSON, with its counters updated
// chunk by chunk as progress, and from the same walk of its tasks the
// conversions requested with it (exporter.Tee): converting them as a
// download does, rather than reading the stored JSON back and decoding it,
// saves most of a conversion's cost. Their ConvertExportJobs then find
// them completed (RunExportConversion), or failed, and convert the stored
// JSON again. A snapshot deleted meanwhile is not an error: there is
// nothing left to write.
func (db *DB) RunExportSnapshot(ctx context.Context, id int64) error {
	s, err := db.FindExportSnapshotByID(ctx, id)
	if blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	p, err := db.FindProjectByID(ctx, s.ProjectID)
	if err != nil {
		return err
	}
	cfg, _ := blobmark.ParseLabelConfig(p.LabelConfig)
	pager, err := db.newTaskPager(ctx, s.ProjectID, s.Filter)
	if err != nil {
		return db.failOutput(ctx, s, blobmark.ExportJSON, err)
	}
	conversions, err := db.pendingConversions(ctx, s.ID)
	if err != nil {
		return err
	}
	sum := md5.New()
	counters := func() string {
		return fmt.Sprintf(`{"task_number":%d,"annotation_number":%d}`, pager.tasks.Load(), pager.annotationCount.Load())
	}
	return db.writeOutput(ctx, s, blobmark.ExportJSON, sum, counters, func(w io.Writer) error {
		// The Tee walks the pages on a goroutine of its own, ahead of
		// the JSON and the conversions: a read-ahead of its own.
		branches, stopTee := exporter.Tee(ctx, pager, 1+len(conversions))
		defer stopTee()
		var wg sync.WaitGroup
		for i, exportType := range conversions {
			b := branches[1+i]
			wg.Go(func() {
				defer b.Release()
				// Its outcome is its output's status, which writeOutput records.
				_ = db.writeOutput(ctx, s, exportType, nil, nil, func(out io.Writer) error {
					return exporter.WriteProject(ctx, out, exportType, cfg, b)
				})
			})
		}
		err := exporter.WriteProjectJSON(ctx, w, cfg, branches[0])
		branches[0].Release()
		if err != nil {
			stopTee() // the conversions fail with the snapshot
		}
		wg.Wait()
		return err
	})
}

// pendingConversions lists the formats a snapshot is to be converted into
// that are not converted yet.
func (db *DB) pendingConversions(ctx context.Context, snapshotID int64) ([]string, error) {
	rows, err := db.query(ctx, "SELECT export_type FROM export_outputs WHERE snapshot_id = ? AND export_type <> ? AND status <> ? ORDER BY id",
		snapshotID, blobmark.ExportJSON, blobmark.ExportCompleted)
	if err != nil {
		return nil, translate("list export conversions", err)
	}
	defer rows.Close()
	var types []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, translate("list export conversions", err)
		}
		types = append(types, t)
	}
	return types, translate("list export conversions", rows.Err())
}

// RunExportConversion converts a completed snapshot into exportType and
// stores the result. ECONFLICT means the snapshot is not completed yet.
func (db *DB) RunExportConversion(ctx context.Context, id int64, exportType string) error {
	s, err := db.FindExportSnapshotByID(ctx, id)
	if blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	switch s.Status {
	case blobmark.ExportFailed:
		return db.failOutput(ctx, s, exportType, errors.New("the export it converts failed"))
	case blobmark.ExportCompleted:
	default:
		return blobmark.Errorf(blobmark.ECONFLICT, "export %d is %s", id, s.Status)
	}
	// Converted with the snapshot's JSON (RunExportSnapshot): done.
	var status string
	err = db.queryRow(ctx, "SELECT status FROM export_outputs WHERE snapshot_id = ? AND export_type = ?", id, exportType).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) || err == nil && status == blobmark.ExportCompleted {
		return nil
	} else if err != nil {
		return translate("convert export", err)
	}
	return db.writeOutput(ctx, s, exportType, nil, nil, func(w io.Writer) error {
		return db.convertSnapshot(ctx, s, exportType, w)
	})
}

// writeOutput stores what write writes as the output exportType of s:
// in progress while chunks go in (a previous attempt's chunks are dropped
// first), completed with the last one, or failed with its chunks removed,
// so a download never reads half an output. For the JSON output, sum
// becomes the snapshot's md5 and counters its progress.
func (db *DB) writeOutput(ctx context.Context, s *blobmark.ExportSnapshot, exportType string, sum hash.Hash,
	counters func() string, write func(io.Writer) error) error {
	var outputID int64
	err := db.inTx(ctx, "start export output", func(tx *Tx) error {
		if err := tx.queryRow(ctx, `UPDATE export_outputs SET status = ?, traceback = '', compression = ?
			WHERE snapshot_id = ? AND export_type = ? RETURNING id`, blobmark.ExportInProgress, chunkCompression, s.ID, exportType).Scan(&outputID); err != nil {
			return err
		}
		_, err := tx.exec(ctx, "DELETE FROM export_output_chunks WHERE output_id = ?", outputID)
		return err
	})
	if errors.Is(err, sql.ErrNoRows) || blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
		return nil // the snapshot or the format was deleted
	} else if err != nil {
		return err
	}
	cw := &chunkWriter{ctx: ctx, db: db, outputID: outputID, snapshotID: s.ID, counters: counters}
	var w io.Writer = cw
	if sum != nil {
		w = io.MultiWriter(sum, cw)
	}
	aw := startWriting(w)
	err = write(aw)
	if cerr := aw.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return db.failOutput(ctx, s, exportType, err)
	}
	if err := cw.flush(); err != nil {
		return db.failOutput(ctx, s, exportType, err)
	}
	return db.inTx(ctx, "finish export output", func(tx *Tx) error {
		if _, err := tx.exec(ctx, "UPDATE export_outputs SET status = ? WHERE id = ?", blobmark.ExportCompleted, outputID); err != nil {
			return err
		}
		if sum == nil {
			return nil
		}
		_, err := tx.exec(ctx, "UPDATE export_snapshots SET md5 = ?, finished_at = ?, counters = ? WHERE id = ?",
			hex.EncodeToString(sum.Sum(nil)), db.timestamp(), counters(), s.ID)
		return err
	})
}

// failOutput marks an output failed with cause as its traceback, removes
// its chunks, and for the JSON output (the snapshot itself) sends
// EXPORT_FAILED to the project's webhooks. It returns cause, so the job
// reports it too; a cancelled context is returned as is, leaving the
// output for the job's next attempt.
func (db *DB) failOutput(ctx context.Context, s *blobmark.ExportSnapshot, exportType string, cause error) error {
	if ctx.Err() != nil {
		return cause
	}
	msg := cause.Error()
	if e := (*blobmark.Error)(nil); errors.As(cause, &e) && e.Code != blobmark.EINTERNAL {
		msg = e.Message
	}
	err := db.inTx(ctx, "fail export output", func(tx *Tx) error {
		var outputID int64
		err := tx.queryRow(ctx, "UPDATE export_outputs SET status = ?, traceback = ? WHERE snapshot_id = ? AND export_type = ? RETURNING id",
			blobmark.ExportFailed, msg, s.ID, exportType).Scan(&outputID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, "DELETE FROM export_output_chunks WHERE output_id = ?", outputID); err != nil {
			return err
		}
		if exportType != blobmark.ExportJSON {
			return nil
		}
		if _, err := tx.exec(ctx, "UPDATE export_snapshots SET finished_at = ? WHERE id = ?", db.timestamp(), s.ID); err != nil {
			return err
		}
		return tx.enqueueWebhooks(ctx, s.ProjectID, blobmark.ActionExportFailed, func() (map[string]any, error) {
			return map[string]any{"export": map[string]any{"id": s.ID, "title": s.Title, "status": blobmark.ExportFailed, "traceback": msg}}, nil
		})
	})
	return errors.Join(cause, err)
}

// chunkWriter stores what is written to it as chunks of exportChunkSize,
// compressed (chunkCompression), each in its own transaction (with the
// snapshot's counters, when set), so the database's writer is never held
// for a whole export.
type chunkWriter struct {
	ctx        context.Context
	db         *DB
	outputID   int64
	snapshotID int64
	counters   func() string
	seq        int
	buf        []byte
	encoded    []byte // the buffer chunks are compressed into
}

// Write implements io.Writer.
func (w *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), exportChunkSize-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == exportChunkSize {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (w *chunkWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	w.encoded = s2.Encode(w.encoded[:cap(w.encoded)], w.buf)
	err := w.db.inTx(w.ctx, "write export output", func(tx *Tx) error {
		if _, err := tx.exec(w.ctx, "INSERT INTO export_output_chunks (output_id, seq, data) VALUES (?, ?, ?)", w.outputID, w.seq, w.encoded); err != nil {
			return err
		}
		if w.counters == nil {
			return nil
		}
		_, err := tx.exec(w.ctx, "UPDATE export_snapshots SET counters = ? WHERE id = ?", w.counters(), w.snapshotID)
		return err
	})
	if err != nil {
		return err
	}
	w.seq++
	w.buf = w.buf[:0]
	return nil
}

// backgroundWriter writes to w on a goroutine of its own, a few buffers
// behind its caller: hashing and storing an output's chunks then overlap
// with encoding it. Writes are copied (callers reuse their buffers) into
// one of backgroundBuffers buffers, handed over once full and given back
// once written: copying an output allocates nothing, where a copy per
// write cost the garbage collector as much as the output.
type backgroundWriter struct {
	full   chan []byte // buffers to write, in order
	free   chan []byte // buffers written, to fill again
	buf    []byte      // the buffer being filled; nil until one is free
	done   chan struct{}
	err    error       // the first error of w, set before failed
	failed atomic.Bool // err is set: Write reads it from then on
}

// The background writer's buffers: it is at most that much behind.
const (
	backgroundBuffers    = 4
	backgroundBufferSize = 256 << 10
)

func startWriting(w io.Writer) *backgroundWriter {
	bw := &backgroundWriter{full: make(chan []byte, backgroundBuffers), free: make(chan []byte, backgroundBuffers), done: make(chan struct{})}
	for range backgroundBuffers {
		bw.free <- make([]byte, 0, backgroundBufferSize)
	}
	go func() {
		defer close(bw.done)
		for p := range bw.full {
			if bw.err == nil {
				if _, err := w.Write(p); err != nil {
					bw.err = err
					bw.failed.Store(true)
				}
			}
			bw.free <- p[:0]
		}
	}()
	return bw
}

// Write copies p into the buffers, handing each over once it is full.
func (bw *backgroundWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if bw.failed.Load() {
			return 0, bw.err
		}
		if bw.buf == nil {
			bw.buf = <-bw.free
		}
		k := min(len(p), cap(bw.buf)-len(bw.buf))
		bw.buf = append(bw.buf, p[:k]...)
		p = p[k:]
		if len(bw.buf) == cap(bw.buf) {
			bw.full <- bw.buf
			bw.buf = nil
		}
	}
	return n, nil
}

// close hands over what is left, waits for every write and returns the
// first error.
func (bw *backgroundWriter) close() error {
	if len(bw.buf) > 0 {
		bw.full <- bw.buf
	}
	close(bw.full)
	<-bw.done
	return bw.err
}
