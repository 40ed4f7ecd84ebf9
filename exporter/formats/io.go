package formats

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/url"
	"os"
	"path"
	"strings"
)

// writeJSONEntry writes v as one small zip entry.
func writeJSONEntry(z *zipWriter, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return z.WriteFile(name, b)
}

// spool is a temporary file for output that has to wait for the end of
// the input (COCO's annotations, CSV rows before their header), so it
// costs disk rather than memory. It is removed by close.
type spool struct {
	f *os.File
	*bufio.Writer
}

func newSpool() (*spool, error) {
	f, err := os.CreateTemp("", "blobmark-export-*")
	if err != nil {
		return nil, err
	}
	return &spool{f: f, Writer: bufio.NewWriterSize(f, 64<<10)}, nil
}

// reader flushes the spool and returns it rewound for reading.
func (s *spool) reader() (io.Reader, error) {
	if err := s.Flush(); err != nil {
		return nil, err
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return bufio.NewReaderSize(s.f, 64<<10), nil
}

func (s *spool) close() {
	s.f.Close()
	os.Remove(s.f.Name())
}

// field is one key of a JSON object, in document order.
type field struct {
	key string
	val json.RawMessage
}

// fields returns the keys of a JSON object in document order, as Python's
// dicts keep them; nil when raw is not an object.
func fields(raw json.RawMessage) []field {
	d := json.NewDecoder(bytes.NewReader(raw))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var out []field
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return nil
		}
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil
		}
		out = append(out, field{t.(string), v})
	}
	return out
}

// writeObject writes fs as one JSON object; a key repeated later wins
// the earlier key's place, as assigning to a Python dict does.
func writeObject(buf *bytes.Buffer, fs []field) {
	buf.WriteByte('{')
	seen := map[string]int{}
	var kept []field
	for _, f := range fs {
		if i, ok := seen[f.key]; ok {
			kept[i].val = f.val
			continue
		}
		seen[f.key] = len(kept)
		kept = append(kept, f)
	}
	for i, f := range kept {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(f.val)
	}
	buf.WriteByte('}')
}

// baseName returns the file name of an image or audio reference: the
// last path element of a URL or blob URI, without query or fragment.
func baseName(ref string) string {
	if u, err := url.Parse(ref); err == nil && u.Path != "" {
		ref = u.Path
		if q := u.Query().Get("d"); q != "" { // Label Studio's local-files URLs: /data/local-files/?d=dir/x.jpg
			ref = q
		}
	}
	return path.Base(ref)
}

// stem returns a file name without its extension.
func stem(name string) string {
	return strings.TrimSuffix(name, path.Ext(name))
}

// mustJSON encodes values this package built itself, which cannot fail.
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
