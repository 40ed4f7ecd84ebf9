package importer

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/lswire"
)

func TestParseTaskFileOversized(t *testing.T) {
	small := `[{"t": 1}, {"t": 2}]`
	for _, limit := range []int64{int64(len(small)) - 1, 5} {
		_, err := parseTaskFile("big.json", strings.NewReader(small), limit)
		if blobmark.ErrorCode(err) != blobmark.ETOOLARGE {
			t.Fatalf("limit %d: err = %v, want ETOOLARGE", limit, err)
		}
		if msg := blobmark.ErrorMessage(err); !strings.Contains(msg, "big.json") || !strings.Contains(msg, "limit") {
			t.Errorf("message %q should name the key and the limit", msg)
		}
	}
	// A file of exactly the limit is fine.
	if got, err := parseTaskFile("ok.json", strings.NewReader(small), int64(len(small))); err != nil || len(got) != 2 {
		t.Fatalf("at the limit: %d tasks, %v", len(got), err)
	}
	// The limit is named in configured units.
	_, err := parseTaskFile("big.jsonl", strings.NewReader(strings.Repeat("{\"t\": 1}\n", 200000)), 1<<20)
	if msg := blobmark.ErrorMessage(err); !strings.Contains(msg, "1 MiB") {
		t.Errorf("message %q should say 1 MiB", msg)
	}
}

// endless is an io.Reader that never ends, standing in for a huge blob.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	if len(p) > 0 {
		p[0] = '\n'
	}
	return len(p), nil
}

func TestParseTaskFileStopsReadingAtTheLimit(t *testing.T) {
	src := &limitReader{r: io.MultiReader(strings.NewReader(`[{"t": 1}, `), endless{}), limit: 1 << 16}
	if _, err := lswire.ParseTaskFile("huge.json", src); err == nil || !src.tooLarge {
		t.Fatalf("err = %v, tooLarge %v; want the limit to stop the parse", err, src.tooLarge)
	}
	if src.n > 1<<16+1 {
		t.Errorf("read %d bytes, want at most limit+1 = %d", src.n, 1<<16+1)
	}
	if _, err := parseTaskFile("huge.json", io.MultiReader(strings.NewReader(`[{"t": 1}, `), endless{}), 1<<16); blobmark.ErrorCode(err) != blobmark.ETOOLARGE {
		t.Fatalf("err = %v, want ETOOLARGE", err)
	}
}

func TestParseTaskFileReadErrorIsNotAContentError(t *testing.T) {
	boom := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader("{\"t\": 1}\n{\"t\""), iotest.ErrReader(boom))
	_, err := parseTaskFile("net.jsonl", r, 0)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want it to wrap the read error", err)
	}
	if perFile(err) {
		t.Error("a read error must abort the sync (retry), not be recorded as a bad file")
	}
}

func TestFileTask(t *testing.T) {
	tests := []struct{ container, key, want string }{
		{"media", "img/a.png", `{"$undefined$":"azure-blob://media/img/a.png"}`},
		{"c", "dir with space/ä & <b>.jpg", `{"$undefined$":"azure-blob://c/dir with space/ä & <b>.jpg"}`},
		{"c", `quote"back\slash.txt`, `{"$undefined$":"azure-blob://c/quote\"back\\slash.txt"}`},
	}
	for _, tt := range tests {
		got := FileTask(tt.container, tt.key)
		if string(got.Data) != tt.want {
			t.Errorf("FileTask(%q, %q) = %s, want %s", tt.container, tt.key, got.Data, tt.want)
		}
		var m map[string]string
		if err := json.Unmarshal(got.Data, &m); err != nil || m[blobmark.UndefinedDataKey] != "azure-blob://"+tt.container+"/"+tt.key {
			t.Errorf("FileTask(%q, %q) does not round-trip: %v %v", tt.container, tt.key, m, err)
		}
	}
}
