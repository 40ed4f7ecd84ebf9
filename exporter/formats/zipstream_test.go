package formats

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
)

// TestZipWriterIsReadByArchiveZip: more entries than a zip without zip64
// records can count, stored and deflated, one with a UTF-8 name, all read
// back by the standard library with their content and CRC checked; has
// knows every name written and no other.
func TestZipWriterIsReadByArchiveZip(t *testing.T) {
	var out bytes.Buffer
	z, err := newZipWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	const n = 70_000 // > 65,535: the count needs the zip64 end records
	for i := range n {
		if err := z.WriteFile(fmt.Sprintf("labels/%06d.txt", i), []byte(fmt.Sprintf("%d 0.5 0.5 0.1 0.1\n", i%3))); err != nil {
			t.Fatal(err)
		}
	}
	w, err := z.Create("résumé.json")
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat(`{"id":1,"bbox":[1,2,3,4]},`, 100_000)
	io.WriteString(w, big)
	for _, c := range []struct {
		name string
		want bool
	}{{"labels/000000.txt", true}, {"labels/069999.txt", true}, {"résumé.json", true}, {"labels/070000.txt", false}, {"classes.txt", false}} {
		if got, err := z.has(c.name); err != nil || got != c.want {
			t.Errorf("has(%q) = %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}

	r, err := zip.NewReader(bytes.NewReader(out.Bytes()), int64(out.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.File) != n+1 {
		t.Fatalf("%d entries, want %d", len(r.File), n+1)
	}
	for i, f := range r.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc) // checks the CRC at the end
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		want, method := fmt.Sprintf("%d 0.5 0.5 0.1 0.1\n", i%3), zip.Store
		if i == n {
			want, method = big, zip.Deflate
		}
		if f.Name != fmt.Sprintf("labels/%06d.txt", i) && (i < n || f.Name != "résumé.json" || f.Flags&zipFlagUTF8 == 0) ||
			string(got) != want || f.Method != method {
			t.Fatalf("entry %d is %s (method %d, flags %x): %.40q", i, f.Name, f.Method, f.Flags, got)
		}
	}
}

// TestZipWriterHashCollision: a name whose hash an earlier, different
// name had is still told apart from it, and known once written.
func TestZipWriterHashCollision(t *testing.T) {
	z, err := newZipWriter(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	if err := z.WriteFile("a.txt", nil); err != nil {
		t.Fatal(err)
	}
	z.names[nameHash("b.txt")] = z.names[nameHash("a.txt")] // as if both names hashed alike
	if dup, err := z.has("b.txt"); err != nil || dup {
		t.Fatalf("has(b.txt) before writing it = %v, %v", dup, err)
	}
	if err := z.WriteFile("b.txt", nil); err != nil {
		t.Fatal(err)
	}
	if err := z.WriteFile("c.txt", nil); err != nil { // ends b.txt
		t.Fatal(err)
	}
	for _, name := range []string{"a.txt", "b.txt", "c.txt"} {
		if dup, err := z.has(name); err != nil || !dup {
			t.Errorf("has(%s) = %v, %v", name, dup, err)
		}
	}
}
