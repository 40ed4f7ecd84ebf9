package importer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/lswire"
)

// FileTask returns the Files-mode task of a blob: its data holds the blob's
// azure-blob:// URI (which the resolve endpoint turns into a readable URL)
// under Label Studio's placeholder key, replaced on read by the label
// config's first data key.
func FileTask(container, key string) *blobmark.TaskImport {
	uri := blobmark.FormatBlobURI(container, key)
	var b bytes.Buffer
	b.Grow(len(uri) + len(blobmark.UndefinedDataKey) + 8)
	b.WriteByte('{')
	writeJSONString(&b, blobmark.UndefinedDataKey)
	b.WriteByte(':')
	writeJSONString(&b, uri)
	b.WriteByte('}')
	return &blobmark.TaskImport{Data: json.RawMessage(b.Bytes())}
}

// writeJSONString writes s as a JSON string without HTML escaping, so keys
// with & or < are stored as they are named.
func writeJSONString(b *bytes.Buffer, s string) {
	if plainJSON(s) { // the common case, without an encoder per call
		b.WriteByte('"')
		b.WriteString(s)
		b.WriteByte('"')
		return
	}
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // a string always encodes
	b.Truncate(b.Len() - 1) // Encode appends a newline
}

// plainJSON reports whether s can be quoted as a JSON string as is: ASCII
// without quotes, backslashes or control characters.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}

// parseTaskFile parses a Tasks-mode file (lswire.ParseTaskFile), reading
// at most limit bytes of it (limit <= 0 means DefaultMaxFileSize). A file
// over the limit is ETOOLARGE naming the limit, and a failure of r is
// returned wrapped; either is preferred to the syntax error that the
// truncated stream provokes.
func parseTaskFile(key string, r io.Reader, limit int64) ([]*blobmark.TaskImport, error) {
	if limit <= 0 {
		limit = DefaultMaxFileSize
	}
	src := &limitReader{r: r, limit: limit}
	tasks, err := lswire.ParseTaskFile(key, src)
	switch {
	case err == nil:
		return tasks, nil
	case src.tooLarge:
		return nil, blobmark.Errorf(blobmark.ETOOLARGE, "%s: file is larger than the limit of %s", key, formatBytes(src.limit))
	case src.err != nil:
		return nil, fmt.Errorf("%s: reading task file: %w", key, src.err)
	}
	return nil, err
}

// limitReader reads at most limit bytes and remembers why it stopped: a
// file over the limit, or a read error of the source.
type limitReader struct {
	r        io.Reader
	limit    int64
	n        int64
	tooLarge bool
	err      error
}

// errTooLarge stops the decoder once the limit is passed; parseTaskFile
// turns it into the ETOOLARGE error naming the key and the limit.
var errTooLarge = errors.New("file over the size limit")

// Read implements io.Reader, failing once more than limit bytes came in.
func (l *limitReader) Read(b []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if room := l.limit - l.n + 1; int64(len(b)) > room {
		b = b[:room] // one byte past the limit is enough to know it is exceeded
	}
	n, err := l.r.Read(b)
	l.n += int64(n)
	if l.n > l.limit {
		l.tooLarge, l.err = true, errTooLarge
		return 0, l.err
	}
	if err != nil && err != io.EOF {
		l.err = err
		return n, err
	}
	return n, err
}

// formatBytes writes a byte count the way limits are configured.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
