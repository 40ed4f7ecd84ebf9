package importer

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/blobmark/blobmark"
)

// Sync imports src into the store behind sink: it streams the listing page
// by page, turns new blobs (and, with SyncChanged, changed task files) into
// batched task rows, and, with SyncDeleted and only after a complete
// listing, reconciles links whose blob has disappeared.
//
// Memory is bounded by a few pages and two batches (plus the files in
// flight), not by the container: one batch commits while the next is
// built. Every write is a Batch applied in one transaction, and links
// decide what exists, so a sync killed at any point and run again imports
// every blob exactly once. Cancelling ctx stops between batches and returns
// ctx's error; what was committed stays.
//
// Problems of single files are recorded in the Result and never stop the
// sync. Errors of the listing, of the sink, or fatal download errors (see
// Opener) abort it and are returned with the counts so far.
func Sync(ctx context.Context, src *Source, lister Lister, opener Opener, sink Sink, progress ProgressFunc) (*Result, error) {
	if src == nil || lister == nil || sink == nil || (!src.UseBlobURLs && opener == nil) {
		return nil, blobmark.Errorf(blobmark.EINTERNAL, "importer: Sync needs a source, a lister, a sink and, in Tasks mode, an opener")
	}
	run := *src // tuning defaults are filled in a copy, never in the caller's Source
	run.fillDefaults()
	s := &syncer{src: &run, lister: lister, opener: opener, sink: sink}

	stop := s.reportEvery(ctx, progress)
	err := s.run(ctx)
	stop()
	final := s.snapshot()
	if progress != nil {
		progress(context.WithoutCancel(ctx), final)
	}
	res := &Result{Progress: final}
	if err == nil {
		res.Status = final.status()
	}
	return res, err
}

// syncer is the state of one Sync call.
type syncer struct {
	src    *Source
	lister Lister
	opener Opener
	sink   Sink

	mu sync.Mutex // guards p and chunks: the progress reporter reads them concurrently
	p  Progress
	// chunks sums the finished chunks of a fanned-out sync.
	chunks Progress
	// dispatched is set once a page's files went to FanOut, so the sync
	// waits for its chunks before it ends.
	dispatched bool
}

// reportEvery calls progress every interval until the returned stop is
// called; stop waits for a report in flight, so calls never overlap.
func (s *syncer) reportEvery(ctx context.Context, progress ProgressFunc) (stop func()) {
	if progress == nil {
		return func() {}
	}
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(s.src.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				progress(ctx, s.snapshot())
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); <-exited }
}

// snapshot returns a copy of the counts, the chunks' included, safe to
// hand out.
func (s *syncer) snapshot() Progress {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.p
	p.Failures = append([]Failure(nil), s.p.Failures...)
	p.add(s.chunks, s.src.MaxFailures)
	return p
}

// count applies f to the counters under the lock.
func (s *syncer) count(f func(p *Progress)) {
	s.mu.Lock()
	f(&s.p)
	s.mu.Unlock()
}

// fail records a problem, keeping at most MaxFailures of them.
func (s *syncer) fail(f Failure, file bool) {
	s.count(func(p *Progress) {
		if file {
			p.FilesFailed++
		}
		p.addFailure(f, s.src.MaxFailures)
	})
}

// listed is one page, or the listing's error, passed from the lister goroutine.
type listed struct {
	page Listing
	err  error
}

// run does the sync: pages first, then the chunks handed to other workers,
// then the reconcile.
func (s *syncer) run(ctx context.Context) error {
	if err := s.withWriter(ctx, s.pages); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err // the listing stopped early: it is not complete
	}
	if s.dispatched {
		if err := s.awaitChunks(ctx); err != nil {
			return err
		}
	}
	if s.src.SyncDeleted {
		// Every Seen mark and every chunk is committed by now, so the stale
		// links really are the keys this listing did not return.
		return s.reconcile(ctx)
	}
	return nil
}

// withWriter runs feed with a writer and waits until the last batch fed to
// it is committed.
//
// Three stages overlap: the lister fetches the next page, feed looks up
// links and downloads and parses task files into a batch, and the writer
// commits the previous batch. Each hand-over waits for the next stage to
// be free, so memory holds at most three pages, one batch being built and
// one being written, whatever the container's size.
func (s *syncer) withWriter(ctx context.Context, feed func(context.Context, *writer) error) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := s.startWriter(ctx, cancel)
	err := feed(wctx, w)
	if werr := w.close(); werr != nil {
		return werr // a failed write cancelled wctx: its error is the cause
	}
	return err
}

// pages feeds every listed page through page, one after the other.
func (s *syncer) pages(ctx context.Context, w *writer) error {
	lctx, cancel := context.WithCancel(ctx)
	pages, wait := s.listAhead(lctx)
	defer wait()
	defer cancel()
	for pg := range pages {
		if pg.err != nil {
			return pg.err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.page(ctx, w, pg.page.Objects); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// writer commits batches in a goroutine of its own, one at a time and in
// the order they were submitted, so the next batch is built (the next page
// looked up, its task files downloaded and parsed) while the previous one
// commits. The hand-over is unbuffered: submit returns once the writer has
// taken the batch, so at most one batch is in flight to the sink.
//
// Building ahead never changes what is written: pages hold distinct keys,
// so a page's link lookup cannot be affected by the batch still being
// committed, and batches are applied in listing order.
type writer struct {
	in     chan *Batch
	failed chan struct{} // closed after err is set
	exited chan struct{}
	err    error
}

// startWriter starts the writer; a failed write calls onFail (which stops
// the stages feeding it) and ends the writer.
func (s *syncer) startWriter(ctx context.Context, onFail func()) *writer {
	w := &writer{in: make(chan *Batch), failed: make(chan struct{}), exited: make(chan struct{})}
	go func() {
		defer close(w.exited)
		for b := range w.in {
			if err := s.write(ctx, b); err != nil {
				w.err = err
				close(w.failed)
				onFail()
				return
			}
		}
	}()
	return w
}

// submit hands b to the writer, waiting while the previous batch commits.
func (w *writer) submit(ctx context.Context, b *Batch) error {
	if b.empty() {
		return nil
	}
	select {
	case w.in <- b:
		return nil
	case <-w.failed:
		return w.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close waits until the last submitted batch is committed and returns the
// write error, if any. It is called once, after the last submit.
func (w *writer) close() error {
	close(w.in)
	<-w.exited
	return w.err
}

// listAhead lists in its own goroutine one page ahead of the writer, so
// listing and writing overlap while at most three pages are in memory (one
// being written, one waiting, one being fetched). wait returns once the
// goroutine has exited.
func (s *syncer) listAhead(ctx context.Context) (<-chan listed, func()) {
	out := make(chan listed, 1)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		defer close(out)
		req := s.src.listRequest()
		for {
			page, err := s.lister.List(ctx, req)
			if err == nil && page.NextMarker != "" && page.NextMarker == req.Marker {
				err = blobmark.Errorf(blobmark.EINTERNAL, "listing did not advance past marker %q", req.Marker)
			}
			select {
			case out <- listed{page, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || page.NextMarker == "" {
				return
			}
			req.Marker = page.NextMarker
		}
	}()
	return out, func() { <-exited }
}

// fileJob is a task file to download: new (link nil) or changed.
type fileJob struct {
	obj  Object
	link *Link
}

// page processes one listed page: links are looked up for its keys in one
// call, then new and changed blobs are written in batches.
func (s *syncer) page(ctx context.Context, w *writer, objs []Object) error {
	cands := make([]Object, 0, len(objs))
	seen := make(map[string]bool, len(objs))
	for _, o := range objs {
		if !s.src.InScope(o) || seen[o.Key] {
			continue
		}
		seen[o.Key] = true
		cands = append(cands, o)
	}
	s.count(func(p *Progress) {
		p.KeysListed += int64(len(objs))
		p.KeysSkipped += int64(len(objs) - len(cands))
	})
	if len(cands) == 0 {
		return nil
	}
	keys := make([]string, len(cands))
	for i, o := range cands {
		keys[i] = o.Key
	}
	links, err := s.sink.ExistingLinks(ctx, s.src.StorageID, keys)
	if err != nil {
		return err
	}

	b := &Batch{Generation: s.src.Generation}
	var jobs []fileJob
	var existed int64
	for _, o := range cands {
		l := links[o.Key]
		if l == nil {
			if s.src.UseBlobURLs {
				b.Create = append(b.Create, NewTask{Key: o.Key, ETag: o.ETag, Size: o.Size, Task: s.src.fileTask(o)})
			} else {
				jobs = append(jobs, fileJob{obj: o})
			}
			continue
		}
		if s.src.SyncDeleted {
			b.Seen = append(b.Seen, o.Key)
		}
		if s.src.SyncChanged && changed(l, o) && !s.src.UseBlobURLs {
			jobs = append(jobs, fileJob{obj: o, link: l}) // apply restores its rows
			continue
		}
		if s.src.SyncChanged && changed(l, o) {
			// A Files-mode task only points at its blob: the new version is
			// already what it shows. Remember the version and move on.
			b.Versions = append(b.Versions, LinkVersion{Key: o.Key, ETag: o.ETag, Size: o.Size})
		}
		for _, r := range l.Rows {
			if r.Missing {
				b.Restore = append(b.Restore, r.TaskID)
			}
		}
		existed += int64(len(l.Rows))
	}
	s.count(func(p *Progress) { p.TasksExisted += existed })

	if len(jobs) == 0 {
		return w.submit(ctx, b)
	}
	if s.src.FanOut != nil && len(jobs) >= s.src.ChunkFiles {
		if err := w.submit(ctx, withoutSeen(b, jobs)); err != nil {
			return err
		}
		return s.dispatch(ctx, jobs)
	}
	return s.files(ctx, w, jobs, b)
}

// withoutSeen drops the keys of jobs from b's Seen marks: their chunk marks
// them in its own batches, and two transactions touching the same link
// rows in different orders could deadlock.
func withoutSeen(b *Batch, jobs []fileJob) *Batch {
	if len(b.Seen) == 0 {
		return b
	}
	chunked := make(map[string]bool, len(jobs))
	for _, j := range jobs {
		chunked[j.obj.Key] = true
	}
	seen := b.Seen[:0]
	for _, k := range b.Seen {
		if !chunked[k] {
			seen = append(seen, k)
		}
	}
	b.Seen = seen
	return b
}

// changed reports whether the listed blob differs from the linked version.
// ETags decide when both are known; sizes otherwise (an old link without
// an ETag must not make every file look changed).
func changed(l *Link, o Object) bool {
	if l.ETag != "" && o.ETag != "" {
		return l.ETag != o.ETag
	}
	return l.Size != o.Size
}

// write applies one batch and counts what the sink did. Cancellation is
// checked first: a batch is either fully written or not started.
func (s *syncer) write(ctx context.Context, b *Batch) error {
	if b.empty() {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r, err := s.sink.WriteBatch(ctx, s.src.StorageID, b)
	if err != nil {
		return err
	}
	s.count(func(p *Progress) {
		p.TasksCreated += int64(r.Created)
		p.TasksUpdated += int64(r.Updated)
		p.TasksKept += int64(r.Kept)
		p.TasksRestored += int64(r.Restored)
		p.TasksMarkedMissing += int64(r.Marked)
		p.TasksRemoved += int64(r.Removed)
	})
	return nil
}

// fileResult is a downloaded and parsed task file.
type fileResult struct {
	tasks []*blobmark.TaskImport
	etag  string
	size  int64
	err   error
}

// files downloads and parses the page's task files, Concurrency at a time,
// and writes their tasks in key order: results are consumed in the order
// the files were listed, through a window of futures, so fast files never
// pile up in memory behind a slow one and every file's rows land in one
// batch. A full batch goes to the writer and the next one is built while it
// commits; only when that one is full too does the loop wait, and the
// window still lets 2×Concurrency files download meanwhile. pending already
// holds the page's link-only entries.
func (s *syncer) files(ctx context.Context, w *writer, jobs []fileJob, pending *Batch) error {
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	futures := make(chan chan fileResult, 2*s.src.Concurrency)
	sem := make(chan struct{}, s.src.Concurrency)
	var workers sync.WaitGroup
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		defer close(futures)
		for _, j := range jobs {
			ch := make(chan fileResult, 1)
			select {
			case futures <- ch:
			case <-dctx.Done():
				return
			}
			select {
			case sem <- struct{}{}:
			case <-dctx.Done():
				ch <- fileResult{err: dctx.Err()}
				return
			}
			workers.Add(1)
			go func() {
				defer workers.Done()
				defer func() { <-sem }()
				ch <- s.fetch(dctx, j.obj)
			}()
		}
	}()
	defer func() {
		cancel()
		for range futures { // let the producer finish
		}
		<-produced
		workers.Wait()
	}()

	i := 0
	for ch := range futures {
		j := jobs[i]
		i++
		r := <-ch
		if r.err != nil {
			if !perFile(r.err) || ctx.Err() != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return r.err
			}
			s.fail(Failure{Key: j.obj.Key, Reason: blobmark.ErrorMessage(r.err)}, true)
			continue
		}
		s.count(func(p *Progress) { p.FilesRead++ })
		s.apply(pending, j, r)
		if pending.tasks() >= s.src.MaxBatchTasks {
			if err := w.submit(ctx, pending); err != nil {
				return err
			}
			pending = &Batch{Generation: s.src.Generation}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return w.submit(ctx, pending)
}

// fetch downloads and parses one task file.
func (s *syncer) fetch(ctx context.Context, o Object) fileResult {
	if o.Size > s.src.MaxFileSize {
		return fileResult{err: blobmark.Errorf(blobmark.ETOOLARGE, "%s: file is %d bytes, larger than the limit of %s",
			o.Key, o.Size, formatBytes(s.src.MaxFileSize))}
	}
	d, err := s.opener.Open(ctx, o.Key)
	if err != nil {
		if blobmark.ErrorCode(err) == blobmark.EINTERNAL || ctx.Err() != nil {
			return fileResult{err: err}
		}
		return fileResult{err: &blobmark.Error{Code: blobmark.ErrorCode(err),
			Message: o.Key + ": " + blobmark.ErrorMessage(err), Err: err}}
	}
	defer d.Body.Close()
	tasks, err := parseTaskFile(o.Key, d.Body, s.src.MaxFileSize)
	if err != nil {
		return fileResult{err: err}
	}
	r := fileResult{tasks: tasks, etag: o.ETag, size: o.Size}
	if d.ETag != "" {
		r.etag = d.ETag
	}
	if d.Size >= 0 && d.ETag != "" {
		r.size = d.Size
	}
	return r
}

// perFile tells a problem of one blob (recorded, sync goes on) from a
// problem of the whole sync (returned): see Opener and blobmark.DecideItem.
func perFile(err error) bool {
	return blobmark.DecideItem(err) == blobmark.Drop
}

// apply adds one parsed file to the batch. A new file creates a task per
// row. A changed file rewrites its unannotated rows, reports its annotated
// ones, creates the rows it gained, and — when deletions are reconciled —
// removes (or marks, if annotated) the rows it lost.
func (s *syncer) apply(b *Batch, j fileJob, r fileResult) {
	key := j.obj.Key
	if j.link == nil {
		for row, t := range r.tasks {
			b.Create = append(b.Create, NewTask{Key: key, Row: row, ETag: r.etag, Size: r.size, Task: t})
		}
		return
	}
	old := make(map[int]LinkRow, len(j.link.Rows))
	for _, lr := range j.link.Rows {
		old[lr.Row] = lr
	}
	for row, t := range r.tasks {
		lr, ok := old[row]
		if ok && lr.Missing {
			b.Restore = append(b.Restore, lr.TaskID) // the row is back
		}
		switch {
		case !ok:
			b.Create = append(b.Create, NewTask{Key: key, Row: row, ETag: r.etag, Size: r.size, Task: t})
		case lr.Annotated:
			s.count(func(p *Progress) { p.TasksKept++ })
			s.fail(Failure{Key: key, TaskID: lr.TaskID, Reason: fmt.Sprintf(
				"%s: task %d (row %d) has annotations, so it was not updated from the changed file", key, lr.TaskID, row)}, false)
		default:
			b.Update = append(b.Update, TaskRewrite{TaskID: lr.TaskID, Key: key, Row: row, Task: t})
		}
	}
	for _, lr := range j.link.Rows {
		if lr.Row < len(r.tasks) || !s.src.SyncDeleted {
			continue
		}
		if !lr.Annotated {
			b.Remove = append(b.Remove, lr.TaskID)
		} else if !lr.Missing {
			b.MarkMissing = append(b.MarkMissing, lr.TaskID)
		}
	}
	b.Versions = append(b.Versions, LinkVersion{Key: key, ETag: r.etag, Size: r.size})
}

// reconcile pages through the links this sync did not see and removes the
// unannotated tasks of those whose blob is gone, marking annotated ones. A
// link whose key is out of the current scope (prefix or regex changed) was
// not listed, so nothing is known about its blob: it is left alone.
func (s *syncer) reconcile(ctx context.Context) error {
	after := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		links, err := s.sink.StaleLinks(ctx, s.src.StorageID, s.src.Generation, after, s.src.PageSize)
		if err != nil {
			return err
		}
		b := &Batch{Generation: s.src.Generation}
		for _, l := range links {
			after = l.Key
			if !s.src.keyInScope(l.Key) {
				continue
			}
			for _, r := range l.Rows {
				switch {
				case !r.Annotated:
					b.Remove = append(b.Remove, r.TaskID)
				case !r.Missing:
					b.MarkMissing = append(b.MarkMissing, r.TaskID)
				}
			}
		}
		if err := s.write(ctx, b); err != nil {
			return err
		}
		if len(links) < s.src.PageSize {
			return nil
		}
	}
}
