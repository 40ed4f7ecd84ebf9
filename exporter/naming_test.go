package exporter

import "testing"

func TestObjectKey(t *testing.T) {
	prefixes := []struct {
		prefix, want string
	}{
		{"", ""},
		{"/", ""},
		{"exports", "exports/"},
		{"exports/", "exports/"},
		{"/exports", "exports/"},
		{"/exports/", "exports/"},
		{"a/b", "a/b/"},
		{"a/b/", "a/b/"},
		{"a//b///", "a/b/"},
		{"//a/b", "a/b/"},
	}
	modes := []struct {
		format Format
		ext    bool
		name   string
	}{
		{FormatAnnotation, false, "42"},
		{FormatAnnotation, true, "42.json"},
		{FormatTask, true, "7.json"},
		{FormatTask, false, "7"},
	}
	for _, p := range prefixes {
		for _, m := range modes {
			got := ObjectKey(p.prefix, m.format, 42, 7, m.ext)
			if want := p.want + m.name; got != want {
				t.Errorf("ObjectKey(%q, %s, 42, 7, %v) = %q, want %q", p.prefix, m.format, m.ext, got, want)
			}
		}
	}
}

func TestDefaultFileExtension(t *testing.T) {
	if DefaultFileExtension(FormatAnnotation) {
		t.Error("annotation mode must default to no extension, as Label Studio names <annotation_id>")
	}
	if !DefaultFileExtension(FormatTask) {
		t.Error("task mode must default to .json, as Label Studio names <task_id>.json")
	}
}

func TestFormatValid(t *testing.T) {
	for f, want := range map[Format]bool{FormatAnnotation: true, FormatTask: true, "": false, "csv": false} {
		if got := f.Valid(); got != want {
			t.Errorf("Format(%q).Valid() = %v, want %v", f, got, want)
		}
	}
}
