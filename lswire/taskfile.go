package lswire

import (
	"errors"
	"fmt"
	"io"

	"github.com/blobmark/blobmark"
)

// utf8BOM is tolerated at the start of a task file: editors on Windows add it.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// ParseTaskFile parses a Tasks-mode file into tasks. It accepts what Label
// Studio accepts — one JSON object (one task), a JSON array of objects, or
// JSON lines (one object per line, blank lines allowed) — plus a leading
// UTF-8 BOM, and reads each task by ParseTask's rules, without
// completed_by (a file's user ids are another server's). The file is
// decoded as a stream; a caller that caps its size limits r.
//
// Content errors are EINVALID *blobmark.Error values naming the key and the
// array index or line number at fault. An error reading r is returned
// wrapped, so its own classification (e.g. a transient network error)
// survives.
func ParseTaskFile(key string, r io.Reader) ([]*blobmark.TaskImport, error) {
	tr := NewTaskReader(r, true)
	var tasks []*blobmark.TaskImport
	for {
		raw, err := tr.Next()
		if err == io.EOF {
			return tasks, nil
		} else if err != nil {
			return nil, fileError(key, err)
		}
		t, _, err := ParseTask(raw, TaskOptions{})
		if err != nil {
			if where := tr.Where(); where != "" {
				return nil, blobmark.Errorf(blobmark.EINVALID, "%s: %s: %s", key, where, err)
			}
			return nil, blobmark.Errorf(blobmark.EINVALID, "%s: %s", key, err)
		}
		tasks = append(tasks, t)
	}
}

// fileError names the file in a reading error.
func fileError(key string, err error) error {
	var se *SyntaxError
	var shape *ShapeError
	switch {
	case errors.Is(err, ErrEmpty):
		return blobmark.Errorf(blobmark.EINVALID, "%s: file is empty; expected JSON tasks", key)
	case errors.As(err, &shape):
		return blobmark.Errorf(blobmark.EINVALID, "%s: %s; if these are media files, import them with use_blob_urls (Files mode)", key, shape)
	case errors.As(err, &se):
		return blobmark.Errorf(blobmark.EINVALID, "%s: %s", key, se)
	}
	return fmt.Errorf("%s: reading task file: %w", key, err)
}
