package exporter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/blobmark/blobmark"
)

// pagedTasks is a TaskIterator over n generated tasks, pageSize at a time.
// It records how much of the output was already written when each page was
// asked for, which shows whether the writer streams.
type pagedTasks struct {
	n, pageSize, next int
	out               *bytes.Buffer
	writtenAtPage     []int
	failAfter         int // fail the request for page number failAfter+1 (0: never)
	endWithEOF        bool
}

func (p *pagedTasks) NextPage(ctx context.Context) (*TaskPage, error) {
	p.writtenAtPage = append(p.writtenAtPage, p.out.Len())
	if p.failAfter > 0 && len(p.writtenAtPage) > p.failAfter {
		return nil, errors.New("database went away")
	}
	if p.next >= p.n {
		if p.endWithEOF {
			return nil, io.EOF
		}
		return &TaskPage{}, nil
	}
	page := &TaskPage{Users: map[int64]*blobmark.User{7: {ID: 7, Email: "u@example.com"}}}
	for ; p.next < p.n && len(page.Tasks) < p.pageSize; p.next++ {
		id := int64(p.next + 1)
		page.Tasks = append(page.Tasks, TaskBundle{
			Task:        &blobmark.Task{ID: id, ProjectID: 1, Data: json.RawMessage(fmt.Sprintf(`{"$undefined$":"azure-blob://c/%d.jpg"}`, id))},
			Annotations: []*blobmark.Annotation{{ID: id * 10, TaskID: id, ProjectID: 1, CompletedBy: 7, Result: json.RawMessage(`[]`)}},
		})
	}
	return page, nil
}

func TestWriteProjectJSON(t *testing.T) {
	cfg, err := blobmark.ParseLabelConfig(`<View><Image name="img" value="$image"/></View>`)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 2, 7, 1000} {
		for _, eof := range []bool{false, true} {
			var out bytes.Buffer
			it := &pagedTasks{n: n, pageSize: 3, out: &out, endWithEOF: eof}
			if err := WriteProjectJSON(context.Background(), &out, cfg, it); err != nil {
				t.Fatalf("n=%d: %v", n, err)
			}
			var items []struct {
				ID          int64             `json:"id"`
				Data        map[string]string `json:"data"`
				Annotations []json.RawMessage `json:"annotations"`
			}
			if err := json.Unmarshal(out.Bytes(), &items); err != nil {
				t.Fatalf("n=%d: invalid JSON: %v\n%s", n, err, out.Bytes())
			}
			if len(items) != n {
				t.Fatalf("n=%d: got %d items", n, len(items))
			}
			for i, it := range items {
				if it.ID != int64(i+1) || len(it.Annotations) != 1 || it.Data["image"] == "" {
					t.Fatalf("n=%d: item %d = %+v ($undefined$ must become image)", n, i, it)
				}
			}
			// One request per page plus the one that ends the walk.
			if want := (n+2)/3 + 1; len(it.writtenAtPage) != want {
				t.Errorf("n=%d: %d page requests, want %d", n, len(it.writtenAtPage), want)
			}
			// Streaming: when a page is requested, every earlier page is
			// already in the output, so output grows between requests.
			for i := 2; i < len(it.writtenAtPage); i++ {
				if it.writtenAtPage[i] <= it.writtenAtPage[i-1] {
					t.Errorf("n=%d: nothing written between page requests %d and %d: %v", n, i-1, i, it.writtenAtPage)
				}
			}
		}
	}
}

func TestWriteProjectJSONStopsOnError(t *testing.T) {
	var out bytes.Buffer
	it := &pagedTasks{n: 10, pageSize: 3, out: &out, failAfter: 2}
	err := WriteProjectJSON(context.Background(), &out, nil, it)
	if err == nil || err.Error() != "database went away" {
		t.Fatalf("want the iterator's error, got %v", err)
	}
	if json.Valid(out.Bytes()) {
		t.Error("a failed export must not look like a complete JSON array")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := WriteProjectJSON(ctx, io.Discard, nil, &pagedTasks{n: 1, pageSize: 1, out: &out}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

// TestReadAhead: the pages come through in order, the iterator's error
// or end is passed on, a stopped read-ahead no longer calls the iterator,
// and it reads at most one page ahead of its caller.
func TestReadAhead(t *testing.T) {
	var out bytes.Buffer
	for _, eof := range []bool{false, true} {
		it := &pagedTasks{n: 7, pageSize: 3, out: &out, endWithEOF: eof}
		pages, stop := ReadAhead(context.Background(), it)
		var ids []int64
		for {
			page, err := pages.NextPage(context.Background())
			if errors.Is(err, io.EOF) || err == nil && (page == nil || len(page.Tasks) == 0) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			for _, b := range page.Tasks {
				ids = append(ids, b.Task.ID)
			}
		}
		stop()
		if fmt.Sprint(ids) != "[1 2 3 4 5 6 7]" {
			t.Errorf("eof=%v: tasks %v", eof, ids)
		}
	}

	it := &pagedTasks{n: 100, pageSize: 3, out: &out, failAfter: 2}
	pages, stop := ReadAhead(context.Background(), it)
	defer stop()
	var err error
	for err == nil {
		_, err = pages.NextPage(context.Background())
	}
	if err.Error() != "database went away" {
		t.Errorf("want the iterator's error, got %v", err)
	}

	it = &pagedTasks{n: 100, pageSize: 1, out: &out}
	pages, stop = ReadAhead(context.Background(), it)
	if _, err := pages.NextPage(context.Background()); err != nil {
		t.Fatal(err)
	}
	stop()
	if n := len(it.writtenAtPage); n > 2 {
		t.Errorf("%d pages requested while the caller held the first: more than one read ahead", n)
	}
	if _, err := pages.NextPage(context.Background()); !errors.Is(err, io.EOF) {
		t.Errorf("after stop: %v, want io.EOF", err)
	}
}
