package exporter

import (
	"bytes"
	"encoding/json"
	"errors"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/blobmark/blobmark"
)

// Key templates name exported objects after what they hold. A template is
// text with {variable} placeholders; braces are reserved for them, so a
// template is checked whole when a storage is saved and an unknown variable
// is refused then, not discovered at export time.
//
// Per-object templates (key_template) may use:
//
//	{task_id}        the task's id
//	{annotation_id}  the annotation's id (annotation mode only)
//	{data.<field>}   a top-level field of the task's data (a string or a number)
//	{source_key}     the blob name of the task's azure-blob:// reference
//	{source_name}    its last path element ("cat.jpg")
//	{source_stem}    that name without its extension ("cat")
//
// Dataset templates (dataset_key_template) may use {project_id},
// {storage_id}, {format} (the format's name in lower case, "coco") and
// {timestamp} (the export's start, UTC, "20260309T215249Z"; every run then
// writes a new object instead of replacing the last one).

// The template fields of a target storage, as the API names them.
const (
	FieldKeyTemplate        = "key_template"
	FieldDatasetKeyTemplate = "dataset_key_template"
)

// DefaultDatasetKeyTemplate names a dataset export when the storage does
// not: one fixed key per project and format, so every run replaces the last.
const DefaultDatasetKeyTemplate = "dataset-{project_id}-{format}"

// MaxKeyLength is Azure's limit on a blob name, in characters.
const MaxKeyLength = 1024

var objectVariables = []string{"task_id", "annotation_id", "data.<field>", "source_key", "source_name", "source_stem"}

var datasetVariables = []string{"project_id", "storage_id", "format", "timestamp"}

// Template is a parsed key template: literal text and variables, in order.
type Template struct {
	field string
	parts []templatePart
}

type templatePart struct {
	literal  string
	variable string // "" for a literal
}

// IsZero reports whether t is the empty template, which keeps the default
// names.
func (t Template) IsZero() bool { return len(t.parts) == 0 }

// ParseObjectTemplate parses a per-object key template for a storage of
// format f. An unknown variable, {annotation_id} in task mode (one object
// holds several annotations), {data.} without a field, or a stray brace is
// an EINVALID error on key_template naming it.
func ParseObjectTemplate(text string, f Format) (Template, error) {
	return parseTemplate(FieldKeyTemplate, text, func(name string) string {
		switch {
		case name == "annotation_id" && f == FormatTask:
			return "{annotation_id} names one annotation, but in task mode an object holds all of a task's annotations; use {task_id}."
		case strings.HasPrefix(name, "data."):
			if name == "data." {
				return "{data.} needs a field name, as in {data.image}."
			}
			return ""
		case name == "task_id", name == "annotation_id", name == "source_key", name == "source_name", name == "source_stem":
			return ""
		}
		return "unknown variable {" + name + "}; use " + listVariables(objectVariables) + "."
	})
}

// ParseDatasetTemplate parses a dataset key template; "" is
// DefaultDatasetKeyTemplate. Errors are EINVALID on dataset_key_template.
func ParseDatasetTemplate(text string) (Template, error) {
	if text == "" {
		text = DefaultDatasetKeyTemplate
	}
	return parseTemplate(FieldDatasetKeyTemplate, text, func(name string) string {
		for _, v := range datasetVariables {
			if name == v {
				return ""
			}
		}
		return "unknown variable {" + name + "}; use " + listVariables(datasetVariables) + "."
	})
}

func listVariables(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "{" + n + "}"
	}
	return strings.Join(out, ", ")
}

// parseTemplate splits text into parts; check returns why a variable is
// refused, "" when it is known.
func parseTemplate(field, text string, check func(string) string) (Template, error) {
	t := Template{field: field}
	if !utf8.ValidString(text) {
		return t, blobmark.FieldErrorf(field, "The template is not valid UTF-8.")
	}
	if len(text) > MaxKeyLength {
		return t, blobmark.FieldErrorf(field, "Ensure this field has no more than %d characters.", MaxKeyLength)
	}
	rest := text
	for rest != "" {
		open := strings.IndexAny(rest, "{}")
		if open < 0 {
			t.parts = append(t.parts, templatePart{literal: rest})
			break
		}
		if rest[open] == '}' {
			return t, blobmark.FieldErrorf(field, "Unmatched \"}\" at %q: braces are reserved for {variables}.", rest[open:])
		}
		if open > 0 {
			t.parts = append(t.parts, templatePart{literal: rest[:open]})
		}
		end := strings.IndexAny(rest[open+1:], "{}")
		if end < 0 || rest[open+1+end] != '}' {
			return t, blobmark.FieldErrorf(field, "Unclosed \"{\" at %q: braces are reserved for {variables}.", rest[open:])
		}
		name := rest[open+1 : open+1+end]
		if why := check(name); why != "" {
			return t, blobmark.FieldErrorf(field, "%s", why)
		}
		t.parts = append(t.parts, templatePart{variable: name})
		rest = rest[open+1+end+1:]
	}
	return t, nil
}

// ObjectVars are what a per-object template is rendered with.
type ObjectVars struct {
	TaskID       int64
	AnnotationID int64
	// Data is the task's data as exported (the $undefined$ key renamed).
	Data json.RawMessage
	// SourceKeys are the data keys to look in first for {source_key}, the
	// label config's, in its order.
	SourceKeys []string
}

// ErrKeyTemplate marks an error rendering a key for one task (a missing
// data field, no blob reference, a key too long): the task's own problem,
// so a sync lists it as a failure and goes on with the others.
var ErrKeyTemplate = errors.New("key template")

// RenderObject renders a per-object template under prefix; the key always
// ends in ".json". A variable the task cannot fill is an EINVALID error
// wrapping ErrKeyTemplate and naming the task and the variable.
func (t Template) RenderObject(prefix string, v ObjectVars) (string, error) {
	var fields map[string]json.RawMessage
	var source string
	sourceErr := error(nil)
	sourceDone := false
	return t.render(prefix, "json", v.TaskID, func(name string) (string, error) {
		switch name {
		case "task_id":
			return strconv.FormatInt(v.TaskID, 10), nil
		case "annotation_id":
			return strconv.FormatInt(v.AnnotationID, 10), nil
		case "source_key", "source_name", "source_stem":
			if !sourceDone {
				source, sourceErr = sourceKey(v)
				sourceDone = true
			}
			if sourceErr != nil {
				return "", sourceErr
			}
			switch name {
			case "source_name":
				return path.Base(source), nil
			case "source_stem":
				base := path.Base(source)
				return strings.TrimSuffix(base, path.Ext(base)), nil
			}
			return source, nil
		}
		key := strings.TrimPrefix(name, "data.")
		if fields == nil {
			fields = map[string]json.RawMessage{}
			_ = json.Unmarshal(v.Data, &fields)
		}
		raw, ok := fields[key]
		if !ok {
			return "", keyErrorf("task %d has no data field %q for {%s} in key_template", v.TaskID, key, name)
		}
		s, ok := scalar(raw)
		if !ok {
			return "", keyErrorf("task %d's data field %q is not a string or a number, so {%s} cannot name its object", v.TaskID, key, name)
		}
		return s, nil
	})
}

// sourceKey finds the blob name of the task's azure-blob:// reference:
// the first one among the config's data keys, else the first top-level one.
func sourceKey(v ObjectVars) (string, error) {
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(v.Data, &fields)
	try := func(raw json.RawMessage) (string, bool) {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		_, key, err := blobmark.ParseBlobURI(s)
		return key, err == nil
	}
	for _, k := range v.SourceKeys {
		if key, ok := try(fields[k]); ok {
			return key, nil
		}
	}
	for _, f := range topLevelKeys(v.Data) {
		if key, ok := try(fields[f]); ok {
			return key, nil
		}
	}
	return "", keyErrorf("task %d has no %s:// reference in its data for {source_key} in key_template", v.TaskID, blobmark.BlobURIScheme)
}

// topLevelKeys lists a JSON object's keys in document order, so the
// fallback of sourceKey does not depend on map order.
func topLevelKeys(raw json.RawMessage) []string {
	d := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	var keys []string
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return keys
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if d.Decode(&skip) != nil {
			return keys
		}
	}
	return keys
}

// scalar returns a JSON string's text or a number's literal.
func scalar(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	if raw[0] == '"' {
		var s string
		return s, json.Unmarshal(raw, &s) == nil
	}
	if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return "", false
	}
	return string(raw), json.Valid(raw)
}

func keyErrorf(format string, args ...any) error {
	e := blobmark.Errorf(blobmark.EINVALID, format, args...)
	e.Err = ErrKeyTemplate
	return e
}

// DatasetVars are what a dataset template is rendered with.
type DatasetVars struct {
	ProjectID, StorageID int64
	// Format is the export format's name ("COCO"); Ext its file extension.
	Format, Ext string
	Started     time.Time
}

// RenderDataset renders a dataset template under prefix; the key always ends
// in the format's extension.
func (t Template) RenderDataset(prefix string, v DatasetVars) (string, error) {
	return t.render(prefix, v.Ext, 0, func(name string) (string, error) {
		switch name {
		case "project_id":
			return strconv.FormatInt(v.ProjectID, 10), nil
		case "storage_id":
			return strconv.FormatInt(v.StorageID, 10), nil
		case "format":
			return strings.ToLower(v.Format), nil
		}
		return v.Started.UTC().Format("20060102T150405Z"), nil
	})
}

// render fills the variables and makes the result a safe name under
// prefix (see cleanKey) ending in "."+ext.
func (t Template) render(prefix, ext string, taskID int64, lookup func(string) (string, error)) (string, error) {
	var b strings.Builder
	for _, p := range t.parts {
		if p.variable == "" {
			b.WriteString(p.literal)
			continue
		}
		s, err := lookup(p.variable)
		if err != nil {
			return "", err
		}
		b.WriteString(s)
	}
	name := cleanKey(b.String())
	if name == "" {
		return "", keyErrorf("%s renders an empty name%s", t.field, forTask(taskID))
	}
	if ext != "" && !strings.HasSuffix(name, "."+ext) {
		name += "." + ext
	}
	key := joinPrefix(prefix, name)
	if n := utf8.RuneCountInString(key); n > MaxKeyLength {
		return "", keyErrorf("%s renders a name of %d characters%s; Azure allows %d", t.field, n, forTask(taskID), MaxKeyLength)
	}
	return key, nil
}

func forTask(id int64) string {
	if id == 0 {
		return ""
	}
	return " for task " + strconv.FormatInt(id, 10)
}

// cleanKey makes a rendered name a relative path that stays under the
// storage's prefix whatever the task data holds: backslashes count as
// slashes (Azure turns them into slashes), empty segments (a leading
// slash, "//") are dropped, a segment of dots ("..", which a URL would
// resolve upwards) has its dots replaced by "_", and control characters
// and invalid UTF-8 become "_".
func cleanKey(name string) string {
	name = strings.ToValidUTF8(name, "_")
	name = strings.Map(func(r rune) rune {
		switch {
		case r == '\\':
			return '/'
		case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
			return '_'
		}
		return r
	}, name)
	var segs []string
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" {
			continue
		}
		if strings.Trim(seg, ".") == "" {
			seg = strings.Repeat("_", len(seg))
		}
		segs = append(segs, seg)
	}
	return strings.Join(segs, "/")
}
