package exporter

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
)

// TestTeeFeedsEveryBranchTheSamePages: every branch, read at once as the
// consumers do, gets every page in order, then io.EOF; a branch released
// early holds up nobody.
func TestTeeFeedsEveryBranchTheSamePages(t *testing.T) {
	ctx := context.Background()
	iter := &pagedTasks{n: 25, pageSize: 10, out: &bytes.Buffer{}}
	branches, stop := Tee(ctx, iter, 3)
	defer stop()
	quitter := branches[2]
	if _, err := quitter.NextPage(ctx); err != nil {
		t.Fatal(err)
	}
	quitter.Release()
	got := make([][]*TaskPage, 2)
	var wg sync.WaitGroup
	for i, b := range branches[:2] {
		wg.Go(func() {
			for {
				page, err := b.NextPage(ctx)
				if errors.Is(err, io.EOF) {
					return
				} else if err != nil {
					t.Error(err)
					return
				}
				got[i] = append(got[i], page)
			}
		})
	}
	wg.Wait()
	for i, pages := range got {
		// Three pages of tasks and the empty page that ends the walk.
		if len(pages) != 4 || len(pages[0].Tasks) != 10 || len(pages[2].Tasks) != 5 || len(pages[3].Tasks) != 0 {
			t.Fatalf("branch %d got %d pages", i, len(pages))
		}
		if pages[1] != got[0][1] {
			t.Errorf("branch %d got other pages than branch 0", i)
		}
	}
}
