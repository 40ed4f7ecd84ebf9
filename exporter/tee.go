package exporter

import (
	"context"
	"io"
	"sync"
)

// Tee hands every page of iter to n branches, which n consumers read at
// their own pace, each at most a page behind the fastest: one walk of the
// database feeds a snapshot's JSON and the conversions requested with it.
// The pages are shared, so consumers only read them. Read the branches at
// once, each on a goroutine of its own: a branch nobody reads holds up the
// others until it is released, as a consumer that stops early does. stop ends
// the walk and waits for it: iter is not used once stop has returned.
func Tee(ctx context.Context, iter TaskIterator, n int) (branches []*Branch, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	branches = make([]*Branch, n)
	for i := range branches {
		branches[i] = &Branch{pages: make(chan teePage, 1), released: make(chan struct{})}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			for _, b := range branches {
				close(b.pages)
			}
		}()
		for {
			page, err := iter.NextPage(ctx)
			for _, b := range branches {
				select {
				case b.pages <- teePage{page, err}:
				case <-b.released:
				case <-ctx.Done():
					return
				}
			}
			if err != nil || page == nil || len(page.Tasks) == 0 {
				return
			}
		}
	}()
	return branches, func() { cancel(); <-done }
}

// teePage is one answer of the walk a Tee shares.
type teePage struct {
	page *TaskPage
	err  error
}

// Branch is one consumer's TaskIterator of a Tee.
type Branch struct {
	pages    chan teePage
	released chan struct{}
	once     sync.Once
}

// NextPage implements TaskIterator: the walk's pages, then io.EOF.
func (b *Branch) NextPage(ctx context.Context) (*TaskPage, error) {
	select {
	case p, ok := <-b.pages:
		if !ok {
			return nil, io.EOF
		}
		return p.page, p.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Release tells the Tee that this branch reads no more pages.
func (b *Branch) Release() { b.once.Do(func() { close(b.released) }) }
