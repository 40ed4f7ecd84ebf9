package sqlstore

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// failingWriter fails every write after the first few.
type failingWriter struct {
	ok     int
	writes int
	got    bytes.Buffer
}

var errFull = errors.New("full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.ok == 0 {
		return 0, errFull
	}
	w.ok--
	w.writes++
	return w.got.Write(p)
}

// TestBackgroundWriter: what is written arrives in order, copied (the
// caller reuses its buffer), small writes gathered into a buffer's worth
// and writes larger than a buffer split across buffers; once the writer
// fails, writes and close return its error rather than block.
func TestBackgroundWriter(t *testing.T) {
	w := &failingWriter{ok: 1000}
	bw := startWriting(w)
	buf := []byte("ab")
	for range 3 {
		if _, err := bw.Write(buf); err != nil {
			t.Fatal(err)
		}
		buf[0]++ // reused, as the export's encoder reuses its buffer
	}
	if err := bw.close(); err != nil || w.got.String() != "abbbcb" || w.writes != 1 {
		t.Fatalf("wrote %q in %d writes, %v", w.got.String(), w.writes, err)
	}

	w = &failingWriter{ok: 1000}
	bw = startWriting(w)
	big := bytes.Repeat([]byte("0123456789"), backgroundBufferSize/4)
	for range 2 {
		if _, err := bw.Write(big); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.close(); err != nil || !bytes.Equal(w.got.Bytes(), bytes.Repeat(big, 2)) || w.writes != 5 {
		t.Fatalf("wrote %d bytes in %d writes, %v; want %d in 5", w.got.Len(), w.writes, err, 2*len(big))
	}

	w = &failingWriter{ok: 1}
	bw = startWriting(w)
	var err error
	for deadline := time.Now().Add(10 * time.Second); err == nil && time.Now().Before(deadline); {
		_, err = bw.Write([]byte("x"))
	}
	if !errors.Is(err, errFull) {
		t.Fatalf("write after the writer failed: %v", err)
	}
	if err := bw.close(); !errors.Is(err, errFull) {
		t.Fatalf("close: %v", err)
	}
}
