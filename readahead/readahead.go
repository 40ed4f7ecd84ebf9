// Package readahead runs the producer of a sequence on a goroutine of its
// own, ahead of its consumer, so that on several cores producing one item
// and consuming the one before happen at the same time: an export reads
// its next page from the database while it encodes the current one, a
// conversion decodes its next task while it converts the current one. It
// imports only the standard library.
package readahead

import (
	"context"
	"io"
)

// result is one answer of the producer.
type result[T any] struct {
	item T
	err  error
}

// Start calls next on a goroutine of its own and hands its answers over,
// in order, through ahead, then io.EOF; up to depth answers wait besides
// the one the goroutine holds, so memory stays bounded. last reports
// whether an answer ends the sequence (an error always does); it is
// handed over first. stop ends the read-ahead and waits for it: next is
// not called once stop has returned.
func Start[T any](ctx context.Context, depth int, next func(context.Context) (T, error),
	last func(T) bool) (ahead func(context.Context) (T, error), stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	results := make(chan result[T], depth)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(results)
		for {
			item, err := next(ctx)
			select {
			case results <- result[T]{item, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || last(item) {
				return
			}
		}
	}()
	ahead = func(ctx context.Context) (T, error) {
		select {
		case r, ok := <-results:
			if !ok {
				var zero T
				return zero, io.EOF
			}
			return r.item, r.err
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
	return ahead, func() { cancel(); <-done }
}
