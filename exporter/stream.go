package exporter

import (
	"context"
	"errors"
	"io"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/lswire"
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
	if _, err := io.WriteString(w, "["); err != nil {
		return err
	}
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
		for _, b := range page.Tasks {
			task := *b.Task
			task.Data = cfg.ReplaceUndefinedKey(task.Data)
			item, err := lswire.TaskJSON(&task, b.Annotations, b.Predictions, page.Users)
			if err != nil {
				return err
			}
			if !first {
				if _, err := io.WriteString(w, ","); err != nil {
					return err
				}
			}
			first = false
			if _, err := w.Write(item); err != nil {
				return err
			}
		}
	}
	_, err := io.WriteString(w, "]")
	return err
}
