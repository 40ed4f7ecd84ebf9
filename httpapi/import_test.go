package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/blobmark/blobmark/httpapi"
)

// largeImport returns a JSON array of n tasks, well over the 1 MiB above
// which an import is spooled and streamed, whose last task is last.
func largeImport(n int, last string) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := range n - 1 {
		fmt.Fprintf(&b, `{"data":{"image":"azure-blob://c/%07d.jpg"},"annotations":[{"result":[]}]},`, i)
	}
	b.WriteString(last)
	b.WriteByte(']')
	return b.Bytes()
}

// TestImportStreamedAllOrNothing: an import read as a stream and written in
// batches still writes nothing when its very last task is bad, whatever is
// wrong with it, and names that task.
func TestImportStreamedAllOrNothing(t *testing.T) {
	env := newTestEnv(t)
	sdk := &sdkClient{t: t, env: env}
	p := sdk.createProject("Streamed", imageConfig)
	imp := fmt.Sprintf("/api/projects/%d/import", p.ID)
	const n = 20000
	tests := []struct {
		name     string
		body     []byte
		field    string
		contains []string
	}{
		{"data not an object", largeImport(n, `{"data":"last.jpg"}`), "tasks",
			[]string{"Task 19999:", `\"data\" must be a JSON object`}},
		{"unknown user", largeImport(n, `{"data":{"image":"last.jpg"},"annotations":[{"result":[],"completed_by":4242}]}`), "tasks",
			[]string{"Task 19999, annotation 0", "4242"}},
		{"trailing comma", largeImport(n, `{"data":{"image":"last.jpg"}},}`), "",
			[]string{"Task 20000: JSON parse error", "byte offset"}},
		{"cut off", bytes.TrimSuffix(largeImport(n, `{"data":{"image":"last.jpg"}}`), []byte("}]")), "",
			[]string{"Task 19999: JSON parse error", "unexpected end of input"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.body) <= 1<<20 {
				t.Fatalf("the body is %d bytes: too small to be streamed", len(tt.body))
			}
			for _, body := range []any{tt.body, bytes.NewReader(tt.body)} { // with and without a length
				r := env.request("POST", imp, body)
				if r.status != http.StatusBadRequest {
					t.Fatalf("status %d, want 400; body %.300s", r.status, r.raw)
				}
				e := r.envelope(t)
				if tt.field != "" && len(e.ValidationErrors[tt.field]) == 0 {
					t.Errorf("validation_errors %v lack %q", e.ValidationErrors, tt.field)
				}
				for _, c := range tt.contains {
					if !strings.Contains(r.text(), c) {
						t.Errorf("answer %s does not contain %q", r.raw, c)
					}
				}
				if got := sdk.getProject(p.ID); got.TaskNumber != 0 || got.TotalAnnotationsNumber != 0 {
					t.Fatalf("after the rejected import: %d tasks, %d annotations; want none", got.TaskNumber, got.TotalAnnotationsNumber)
				}
				if _, _, total, _ := sdk.listTasks(p.ID, 0); total != 0 {
					t.Fatalf("after the rejected import %d tasks are listed", total)
				}
			}
		})
	}

	// Fixed, it goes through whole, in import order.
	var res struct {
		TaskCount       int     `json:"task_count"`
		AnnotationCount int     `json:"annotation_count"`
		TaskIDs         []int64 `json:"task_ids"`
		DataColumns     []string
	}
	env.must(http.StatusCreated, "POST", imp+"?return_task_ids=true", largeImport(n, `{"data":{"image":"last.jpg"}}`)).json(t, &res)
	if res.TaskCount != n || res.AnnotationCount != n-1 || len(res.TaskIDs) != n || res.TaskIDs[n-1] <= res.TaskIDs[0] {
		t.Fatalf("import = %d tasks, %d annotations, %d ids", res.TaskCount, res.AnnotationCount, len(res.TaskIDs))
	}
	if last := sdk.getTask(res.TaskIDs[n-1]); !strings.Contains(fmt.Sprint(last.Data), "last.jpg") {
		t.Fatalf("the last task id holds %v", last.Data)
	}
}

// TestImportSlots: large imports beyond --max-concurrent-imports get 429
// with Retry-After in Label Studio's envelope; small ones are not held up.
func TestImportSlots(t *testing.T) {
	env := newTestEnv(t, func(s *httpapi.Server) { s.MaxConcurrentImports = 2 })
	httpapi.SetImportSlotWait(env.api, time.Nanosecond)
	sdk := &sdkClient{t: t, env: env}
	p := sdk.createProject("Slots", imageConfig)
	imp := fmt.Sprintf("/api/projects/%d/import", p.ID)
	large := largeImport(20000, `{"data":{"image":"last.jpg"}}`)
	small := `[{"image":"small.jpg"}]`

	release := httpapi.HoldImportSlots(env.api)
	for _, body := range []any{large, bytes.NewReader(large)} { // with and without a length
		r := env.request("POST", imp, body)
		if r.status != http.StatusTooManyRequests {
			t.Fatalf("large import with every slot taken: status %d, want 429; body %.300s", r.status, r.raw)
		}
		if ra := r.header.Get("Retry-After"); ra != "5" {
			t.Errorf("Retry-After = %q, want 5 (seconds)", ra)
		}
		if e := r.envelope(t); !strings.Contains(e.Detail, "2 large imports") || !strings.Contains(e.Detail, "try again") {
			t.Errorf("detail %q should say the limit and to try again", e.Detail)
		}
	}
	// Small imports, with or without a length, need no slot.
	env.must(http.StatusCreated, "POST", imp, small)
	env.must(http.StatusCreated, "POST", imp, strings.NewReader(small))

	// A client that waits for 100-continue is refused before it sends the body.
	sent := &countingReader{r: bytes.NewReader(large)}
	req, err := http.NewRequest("POST", env.srv.URL+imp, sent)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(large))
	req.Header.Set("Authorization", "Token "+env.token)
	req.Header.Set("Expect", "100-continue")
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Hour}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || sent.n != 0 {
		t.Errorf("with Expect: 100-continue: status %d after %d body bytes, want 429 after none", resp.StatusCode, sent.n)
	}

	release()
	var res struct {
		TaskCount int `json:"task_count"`
	}
	env.must(http.StatusCreated, "POST", imp, large).json(t, &res)
	if res.TaskCount != 20000 {
		t.Fatalf("after the slots freed: %d tasks imported, want 20000", res.TaskCount)
	}
	if got := sdk.getProject(p.ID); got.TaskNumber != 20002 {
		t.Fatalf("task_number = %d, want the 2 small imports and the large one (20002)", got.TaskNumber)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
