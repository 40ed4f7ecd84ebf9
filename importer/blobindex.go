package importer

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/blobmark/blobmark"
)

// AllKeys, as the only entry of metadata_keys or tag_keys, selects every
// metadata name or index tag of a blob.
const AllKeys = "*"

// blobIndexProblems returns, by storage field, what is wrong with the
// metadata, tag and tag filter settings of o.
//
// A task file's tasks carry their own data, so copying blob metadata into
// them is refused rather than silently ignored. Find Blobs by Tags reports
// neither a blob's version nor its metadata, and a blob whose tags stop
// matching is indistinguishable from a deleted one, so a tag filter is
// refused with the settings that would need them.
func (o Options) blobIndexProblems() map[string]string {
	out := map[string]string{}
	for field, keys := range map[string][]string{"metadata_keys": o.MetadataKeys, "tag_keys": o.TagKeys} {
		if msg := checkKeyList(field, keys); msg != "" {
			out[field] = msg
		} else if len(keys) > 0 && !o.UseBlobURLs {
			out[field] = field + " applies to one task per file (use_blob_urls true) only: tasks read from JSON task files keep their own data"
		}
	}
	if strings.TrimSpace(o.TagFilter) == "" {
		return out
	}
	if err := CheckTagFilter(o.TagFilter); err != nil {
		out["tag_filter"] = blobmark.ErrorMessage(err)
	}
	for field, set := range map[string]bool{"sync_changed": o.SyncChanged, "sync_deleted": o.SyncDeleted, "metadata_keys": len(o.MetadataKeys) > 0} {
		if set && out[field] == "" {
			out[field] = field + " cannot be combined with tag_filter: Find Blobs by Tags reports only a blob's name and tags " +
				"(no version, no metadata), and a blob whose tags stop matching looks the same as a deleted one"
		}
	}
	return out
}

// checkKeyList checks a metadata_keys or tag_keys list: names without
// blanks, or "*" alone.
func checkKeyList(field string, keys []string) string {
	for _, k := range keys {
		switch {
		case strings.TrimSpace(k) == "" || strings.TrimSpace(k) != k:
			return field + " entries must be non-empty names without surrounding blanks"
		case k == AllKeys && len(keys) > 1:
			return field + ` takes either "*" alone (all of them) or a list of names`
		}
	}
	return ""
}

// CheckTagFilter checks the shape of a Find Blobs by Tags expression
// before Azure sees it: quoted tag names ("split") and values ('train')
// are closed, and there is at least one comparison. Azure checks the rest
// (operators, AND only, at most ten conditions) and its 400 is reported on
// the same field. The error is an EINVALID *blobmark.Error on tag_filter.
func CheckTagFilter(expr string) error {
	comparisons := 0
	var open rune
	for _, r := range expr {
		switch {
		case open != 0 && r == open:
			open = 0
		case open != 0:
		case r == '"' || r == '\'':
			open = r
		case r == '=' || r == '<' || r == '>':
			comparisons++
		}
	}
	msg := ""
	switch {
	case strings.TrimSpace(expr) == "":
		msg = "tag_filter is empty"
	case open != 0:
		msg = "tag_filter has an unclosed " + string(open) + ` quote: write tag names in double quotes and values in single quotes, as in "split" = 'train'`
	case comparisons == 0:
		msg = `tag_filter has no comparison: write conditions such as "split" = 'train' AND "camera" = 'c1'`
	default:
		return nil
	}
	return &blobmark.Error{Code: blobmark.EINVALID, Field: "tag_filter", Message: msg, Fields: map[string][]string{"tag_filter": {msg}}}
}

// listRequest is the first List request of a sync of s: it asks Azure for
// metadata and tags only when the storage copies them, as they lengthen
// every page of the listing.
func (s *Source) listRequest() ListRequest {
	return ListRequest{Prefix: s.Prefix, Recursive: s.Recursive, MaxResults: s.PageSize,
		Metadata: len(s.MetadataKeys) > 0, Tags: len(s.TagKeys) > 0, TagFilter: s.TagFilter}
}

// listedOnly reports whether only a listing can tell what a new task of
// s holds (its blob's metadata or tags) or whether its blob is in scope at
// all (a tag filter): an event names a blob, not those, so events leave
// new blobs to the next sync.
func (s *Source) listedOnly() bool {
	return s.TagFilter != "" || len(s.MetadataKeys) > 0 || len(s.TagKeys) > 0
}

// fileTask returns the Files-mode task of a listed blob, with the metadata
// and tags the storage selects under their data keys.
func (s *Source) fileTask(o Object) *blobmark.TaskImport {
	t := FileTask(s.Container, o.Key)
	if len(s.MetadataKeys) == 0 && len(s.TagKeys) == 0 {
		return t
	}
	data := bytes.TrimSuffix(t.Data, []byte("}"))
	if len(s.MetadataKeys) > 0 {
		data = appendObject(data, blobmark.DataKeyBlobMetadata, pick(o.Metadata, s.MetadataKeys, strings.EqualFold))
	}
	if len(s.TagKeys) > 0 {
		data = appendObject(data, blobmark.DataKeyBlobTags, pick(o.Tags, s.TagKeys, func(a, b string) bool { return a == b }))
	}
	t.Data = append(data, '}')
	return t
}

// pick returns the values of have that keys selects, named as keys names
// them (all of them, named as Azure does, for "*"). Metadata names are
// matched without regard to case, as Azure treats them; tag keys exactly.
func pick(have map[string]string, keys []string, same func(a, b string) bool) map[string]string {
	if len(keys) == 1 && keys[0] == AllKeys {
		if have == nil {
			return map[string]string{}
		}
		return have
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		for name, v := range have {
			if same(name, k) {
				out[k] = v
				break
			}
		}
	}
	return out
}

// appendObject appends `,"name":{…}` to the JSON object data left open.
func appendObject(data []byte, name string, values map[string]string) []byte {
	var b bytes.Buffer
	b.Write(data)
	b.WriteByte(',')
	writeJSONString(&b, name)
	b.WriteByte(':')
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(values) // a map of strings always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
