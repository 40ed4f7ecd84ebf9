package readahead

import (
	"context"
	"errors"
	"io"
	"testing"
)

// TestStartHandsOverInOrderAndStops: the answers come in order, the last
// one included, then io.EOF; an error ends the sequence; stop returns
// while the producer would go on, and nothing is produced after it.
func TestStartHandsOverInOrderAndStops(t *testing.T) {
	ctx := context.Background()
	counter := func(limit int, fail error) func(context.Context) (int, error) {
		n := 0
		return func(context.Context) (int, error) {
			n++
			if n == limit && fail != nil {
				return n, fail
			}
			return n, nil
		}
	}
	ahead, stop := Start(ctx, 2, counter(0, nil), func(n int) bool { return n == 5 })
	for want := 1; want <= 5; want++ {
		if got, err := ahead(ctx); got != want || err != nil {
			t.Fatalf("answer %d: %d, %v", want, got, err)
		}
	}
	if _, err := ahead(ctx); err != io.EOF {
		t.Fatalf("after the last answer: %v, want io.EOF", err)
	}
	stop()

	boom := errors.New("boom")
	ahead, stop = Start(ctx, 0, counter(3, boom), func(int) bool { return false })
	for range 2 {
		if _, err := ahead(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ahead(ctx); err != boom {
		t.Fatalf("third answer: %v, want the producer's error", err)
	}
	if _, err := ahead(ctx); err != io.EOF {
		t.Fatalf("after the error: %v, want io.EOF", err)
	}
	stop()

	calls := 0
	_, stop = Start(ctx, 1, func(context.Context) (int, error) { calls++; return calls, nil }, func(int) bool { return false })
	stop() // an endless producer, never read: stop still returns
	after := calls
	if after > 3 { // the one sent, the one buffered, the one blocked
		t.Errorf("the producer ran %d times unread with depth 1", after)
	}
}
