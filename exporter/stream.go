package exporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/exporter/formats"
	"github.com/blobmark/blobmark/lswire"
	"github.com/blobmark/blobmark/readahead"
)

// TaskBundle is one task with the rows its export item embeds.
type TaskBundle struct {
	Task        *blobmark.Task
	Annotations []*blobmark.Annotation
	Predictions []*blobmark.Prediction
}

// TaskPage is one page of a project's tasks, with the annotators of the
// page's annotations, so the store can load users once per page.
type TaskPage struct {
	Tasks []TaskBundle
	Users map[int64]*blobmark.User
}

// TaskIterator walks a project's tasks in pages. The store implements it
// (keyset pagination by task id), so the project export holds one page in
// memory at a time whatever the project's size.
type TaskIterator interface {
	// NextPage returns the next page of tasks in id order. A nil page, a
	// page without tasks or io.EOF ends the walk.
	NextPage(ctx context.Context) (*TaskPage, error)
}

// WriteProjectJSON writes a project's full JSON export (Label Studio's
// exportType=JSON: an array of lswire.TaskJSON items) to w as it reads it, page by
// page, so exporting a million tasks needs the memory of one page. cfg, when
// not nil, renames the $undefined$ data key to the config's first data key,
// as Label Studio's export does.
//
// An error can come after part of the array was written; an HTTP handler
// then has to abort the response rather than end it, so the client sees a
// failed download instead of a truncated but seemingly finished file.
func WriteProjectJSON(ctx context.Context, w io.Writer, cfg *blobmark.LabelConfig, iter TaskIterator) error {
	// One buffer is reused for every item, and written once it holds
	// itemBatch bytes and at the end of each page: a few large writes,
	// no allocation per task, and the output streams page by page.
	const itemBatch = 64 << 10
	buf := []byte{'['}
	first := true
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		page, err := iter.NextPage(ctx)
		if errors.Is(err, io.EOF) || err == nil && (page == nil || len(page.Tasks) == 0) {
			break
		} else if err != nil {
			return err
		}
		for i, b := range page.Tasks {
			if !first {
				buf = append(buf, ',')
			}
			first = false
			task := *b.Task
			task.Data = cfg.ReplaceUndefinedKey(task.Data)
			if buf, err = lswire.AppendTaskJSON(buf, &task, b.Annotations, b.Predictions, page.Users); err != nil {
				return err
			}
			if len(buf) >= itemBatch || i == len(page.Tasks)-1 {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
	}
	_, err := w.Write(append(buf, ']'))
	return err
}

// WriteProject writes a project's export in the format named format:
// Label Studio's JSON from whole task rows (WriteProjectJSON), any other
// format converted from the same page walk. Either way one page is in
// memory at a time. A format that is unknown or does not fit cfg is an
// EINVALID error on export_type, before anything is written.
func WriteProject(ctx context.Context, w io.Writer, format string, cfg *blobmark.LabelConfig, iter TaskIterator) error {
	f, err := formats.Check(format, cfg)
	if err != nil {
		return err
	}
	if f.Name == formats.JSON {
		return WriteProjectJSON(ctx, w, cfg, iter)
	}
	return formats.Write(ctx, w, f, cfg, &bundleSource{iter: iter, cfg: cfg}, formats.Options{})
}

// ConvertJSON writes a stored JSON export (WriteProjectJSON's output, read
// from r) in the format named format: a snapshot converted after the fact,
// from what it held when it was taken, not from the project as it is now.
// JSON is copied as is. Like WriteProject, a format that is unknown or
// does not fit cfg is an EINVALID error before anything is written.
func ConvertJSON(ctx context.Context, w io.Writer, format string, cfg *blobmark.LabelConfig, r io.Reader) error {
	f, err := formats.Check(format, cfg)
	if err != nil {
		return err
	}
	if f.Name == formats.JSON {
		_, err := io.Copy(w, r)
		return err
	}
	return formats.Write(ctx, w, f, cfg, formats.DecodeJSON(r), formats.Options{})
}

// bundleSource turns the store's task pages into the converter's tasks,
// with the fields the JSON export would give them (the $undefined$ key
// renamed, the annotator's id and email), without encoding whole tasks.
type bundleSource struct {
	iter TaskIterator
	cfg  *blobmark.LabelConfig
	page *TaskPage
	next int
	// users holds the page's annotators as encoded, each encoded once.
	users map[int64]json.RawMessage
}

// Next implements formats.Source.
func (s *bundleSource) Next(ctx context.Context) (*formats.Task, error) {
	for s.page == nil || s.next >= len(s.page.Tasks) {
		page, err := s.iter.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		if page == nil || len(page.Tasks) == 0 {
			return nil, io.EOF
		}
		s.page, s.next, s.users = page, 0, map[int64]json.RawMessage{}
	}
	b := s.page.Tasks[s.next]
	s.next++
	t := &formats.Task{ID: b.Task.ID, Data: s.cfg.ReplaceUndefinedKey(b.Task.Data), Annotations: make([]formats.Annotation, 0, len(b.Annotations))}
	for _, a := range b.Annotations {
		fa := formats.Annotation{ID: a.ID, WasCancelled: a.WasCancelled, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt, LeadTime: a.LeadTime}
		var err error
		if fa.Result, err = formats.DecodeRegions(a.Result); err != nil && len(a.Result) > 0 {
			return nil, &blobmark.Error{Code: blobmark.EINTERNAL, Message: fmt.Sprintf("annotation %d has a result that is not a region list", a.ID), Err: err}
		}
		by, ok := s.users[a.CompletedBy]
		if !ok {
			by, _ = json.Marshal(lswire.NewUser(a.CompletedBy, s.page.Users[a.CompletedBy]))
			s.users[a.CompletedBy] = by
		}
		fa.CompletedBy = by
		t.Annotations = append(t.Annotations, fa)
	}
	return t, nil
}

// ReadAhead returns an iterator over iter's pages that asks iter for the
// next page while its caller is still writing the current one, so reading
// the database and encoding overlap: on two cores an export takes about
// the longer of the two rather than their sum. It holds two pages at most,
// the caller's and the one read ahead, so memory stays flat. stop ends the
// read-ahead and waits for it: iter is not used once stop has returned.
func ReadAhead(ctx context.Context, iter TaskIterator) (ahead TaskIterator, stop func()) {
	next, stop := readahead.Start(ctx, 0, iter.NextPage, func(page *TaskPage) bool { return page == nil || len(page.Tasks) == 0 })
	return iteratorFunc(next), stop
}

// iteratorFunc is a TaskIterator made of its NextPage.
type iteratorFunc func(context.Context) (*TaskPage, error)

// NextPage implements TaskIterator.
func (f iteratorFunc) NextPage(ctx context.Context) (*TaskPage, error) { return f(ctx) }
