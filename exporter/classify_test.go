package exporter

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/blobmark/blobmark"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		err   error
		retry bool
	}{
		{blobmark.Errorf(blobmark.EUNAVAILABLE, "throttled"), true},
		{blobmark.Errorf(blobmark.EINTERNAL, "boom"), true},
		{blobmark.Errorf(blobmark.ECONFLICT, "lease"), true},
		{errors.New("database is locked"), true},
		{context.Canceled, true},
		{fmt.Errorf("upload: %w", blobmark.Errorf(blobmark.EUNAVAILABLE, "503")), true},
		{blobmark.Errorf(blobmark.EUNAUTHORIZED, "bad key"), false},
		{blobmark.Errorf(blobmark.EFORBIDDEN, "missing role Storage Blob Data Contributor"), false},
		{blobmark.Errorf(blobmark.EINVALID, "bad container name"), false},
		{blobmark.Errorf(blobmark.ENOTIMPLEMENTED, "no delete"), false},
		{blobmark.Errorf(blobmark.ENOTFOUND, "container missing"), false},
		{fmt.Errorf("upload: %w", blobmark.Errorf(blobmark.EFORBIDDEN, "nope")), false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := Classify(tt.err); got != tt.retry {
			t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.retry)
		}
	}
}
