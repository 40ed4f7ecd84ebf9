package blobmark_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/blobmark/blobmark"
)

// TestDecide pins the one error-code table: a row per code, then wrapped
// errors, cancellation and errors without a code.
func TestDecide(t *testing.T) {
	code := func(c string) error { return blobmark.Errorf(c, "%s happened", c) }
	tests := []struct {
		name      string
		err       error
		job, item blobmark.Decision
	}{
		{"unavailable", code(blobmark.EUNAVAILABLE), blobmark.Retry, blobmark.Retry},
		{"internal", code(blobmark.EINTERNAL), blobmark.Retry, blobmark.Retry},
		{"rate limited", code(blobmark.ERATELIMITED), blobmark.Retry, blobmark.Retry},
		{"busy", code(blobmark.EBUSY), blobmark.Retry, blobmark.Retry},
		{"conflict", code(blobmark.ECONFLICT), blobmark.Retry, blobmark.Drop},
		{"unauthorized", code(blobmark.EUNAUTHORIZED), blobmark.Fail, blobmark.Fail},
		{"forbidden", code(blobmark.EFORBIDDEN), blobmark.Fail, blobmark.Fail},
		{"invalid", code(blobmark.EINVALID), blobmark.Fail, blobmark.Drop},
		{"not found", code(blobmark.ENOTFOUND), blobmark.Fail, blobmark.Drop},
		{"not implemented", code(blobmark.ENOTIMPLEMENTED), blobmark.Fail, blobmark.Drop},
		{"too large", code(blobmark.ETOOLARGE), blobmark.Fail, blobmark.Drop},
		{"field error", blobmark.FieldErrorf("container", "bad name"), blobmark.Fail, blobmark.Drop},

		{"wrapped transient", fmt.Errorf("upload: %w", code(blobmark.EUNAVAILABLE)), blobmark.Retry, blobmark.Retry},
		{"wrapped final", fmt.Errorf("upload: %w", code(blobmark.EFORBIDDEN)), blobmark.Fail, blobmark.Fail},
		{"joined", errors.Join(errors.New("saving state"), code(blobmark.EUNAUTHORIZED)), blobmark.Fail, blobmark.Fail},

		{"cancelled by request", blobmark.ErrCancelled, blobmark.Cancel, blobmark.Cancel},
		{"wrapped request cancel", fmt.Errorf("sync %w", blobmark.ErrCancelled), blobmark.Cancel, blobmark.Cancel},
		{"process stopping", context.Canceled, blobmark.Retry, blobmark.Retry},
		{"attempt timed out", context.DeadlineExceeded, blobmark.Retry, blobmark.Retry},
		{"stop wrapped in a final code", &blobmark.Error{Code: blobmark.EFORBIDDEN, Message: "x", Err: context.Canceled}, blobmark.Retry, blobmark.Retry},

		{"no code", errors.New("database is locked"), blobmark.Retry, blobmark.Retry},
		{"unknown code", code("from_the_future"), blobmark.Retry, blobmark.Retry},
		{"nil", nil, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := blobmark.Decide(tt.err); got != tt.job {
				t.Errorf("Decide = %v, want %v", got, tt.job)
			}
			if got := blobmark.DecideItem(tt.err); got != tt.item {
				t.Errorf("DecideItem = %v, want %v", got, tt.item)
			}
		})
	}
}
