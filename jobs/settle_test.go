package jobs

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/egress"
	"github.com/riverqueue/river"
)

// TestSettleAfterStop: once a job's context has ended, its error is the
// interruption's, so even a code that fails the storage is retried.
func TestSettleAfterStop(t *testing.T) {
	forbidden := blobmark.Errorf(blobmark.EFORBIDDEN, "no role")
	var cancel *river.JobCancelError
	if err := settle(t.Context(), forbidden); !errors.As(err, &cancel) {
		t.Fatalf("settle(live, forbidden) = %v, want the job cancelled", err)
	}
	ctx, stop := context.WithCancel(t.Context())
	stop()
	if err := settle(ctx, forbidden); errors.As(err, &cancel) || err != forbidden {
		t.Fatalf("settle(stopped, forbidden) = %v, want it back for a retry", err)
	}
	if err := settle(ctx, nil); err != nil {
		t.Fatalf("settle(stopped, nil) = %v", err)
	}
}

// TestDeliveryError pins which webhook attempts are retried: a row per
// kind of answer.
func TestDeliveryError(t *testing.T) {
	refused := (&egress.Guard{}).Check(netip.MustParseAddr("169.254.169.254"))
	if refused == nil {
		t.Fatal("the guard let the metadata address through")
	}
	tests := []struct {
		name   string
		status int
		err    error
		want   blobmark.Decision
	}{
		{"no answer", 0, errors.New("connection refused"), blobmark.Retry},
		{"server error", 503, errors.New("the receiver answered 503"), blobmark.Retry},
		{"too many requests", 429, errors.New("the receiver answered 429"), blobmark.Retry},
		{"redirect", 307, errors.New("the receiver answered 307: redirects are not followed"), blobmark.Fail},
		{"bad request", 400, errors.New("the receiver answered 400"), blobmark.Fail},
		{"unauthorized", 401, errors.New("the receiver answered 401"), blobmark.Fail},
		{"refused destination", 0, refused, blobmark.Fail},
	}
	for _, tt := range tests {
		err := deliveryError(tt.status, tt.err)
		if got := blobmark.Decide(err); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
		if blobmark.ErrorMessage(err) != tt.err.Error() || !errors.Is(err, tt.err) {
			t.Errorf("%s: %v does not carry the attempt's error", tt.name, err)
		}
	}
}
