package formats

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"strings"

	"github.com/blobmark/blobmark/lswire"
)

// minRecord returns the flat record JSON_MIN, CSV and TSV write for r, in
// the converter's key order: the task's data keys, id, one key per
// control (from_name) holding its regions, then annotator, annotation_id,
// created_at, updated_at and lead_time (null for a task without
// annotations). dataPrefix, when not empty, renames data keys that
// collide with a control's name.
func (c *converter) minRecord(r record, dataPrefix string) []field {
	var out []field
	for _, f := range fields(r.task.Data) {
		if dataPrefix != "" && c.cfg.Control(f.key) != nil {
			f.key = dataPrefix + f.key
		}
		out = append(out, f)
	}
	out = append(out, field{"id", mustJSON(r.task.ID)})
	var names []string
	byName := map[string][]Region{}
	for _, reg := range r.regions(c) {
		if _, ok := byName[reg.FromName]; !ok {
			names = append(names, reg.FromName)
		}
		byName[reg.FromName] = append(byName[reg.FromName], reg)
	}
	for _, name := range names {
		out = append(out, field{name, c.prettify(name, byName[name])})
	}
	null := json.RawMessage("null")
	if r.ann == nil {
		return append(out, field{"annotator", null}, field{"annotation_id", null}, field{"created_at", null},
			field{"updated_at", null}, field{"lead_time", null})
	}
	return append(out,
		field{"annotator", r.ann.annotator()},
		field{"annotation_id", mustJSON(r.ann.ID)},
		field{"created_at", mustJSON(lswire.Time(r.ann.CreatedAt))},
		field{"updated_at", mustJSON(lswire.Time(r.ann.UpdatedAt))},
		field{"lead_time", mustJSON(lswire.PyFloat(r.ann.LeadTime))})
}

// prettify returns the regions of one control as the converter's
// JSON_MIN does: each region's value with the image size beside it and no
// type; a Choices or TextArea value holding one item becomes that item,
// and such a control with a single region becomes that item alone.
func (c *converter) prettify(name string, regs []Region) json.RawMessage {
	typ := c.cfg.Control(name).Type
	items := make([]json.RawMessage, 0, len(regs))
	for _, reg := range regs {
		var single struct {
			Choices []json.RawMessage `json:"choices"`
			Text    []json.RawMessage `json:"text"`
		}
		_ = json.Unmarshal(reg.Value, &single)
		switch {
		case typ == "Choices" && len(single.Choices) == 1:
			items = append(items, single.Choices[0])
			continue
		case typ == "TextArea" && len(single.Text) == 1:
			items = append(items, single.Text[0])
			continue
		}
		fs := fields(reg.Value)
		if reg.OriginalWidth != nil {
			fs = append(fs, field{"original_width", mustJSON(*reg.OriginalWidth)})
		}
		if reg.OriginalHeight != nil {
			fs = append(fs, field{"original_height", mustJSON(*reg.OriginalHeight)})
		}
		var buf bytes.Buffer
		writeObject(&buf, fs)
		items = append(items, buf.Bytes())
	}
	if (typ == "Choices" || typ == "TextArea") && len(items) == 1 {
		return items[0]
	}
	return mustJSON(items)
}

// writeJSONMin writes JSON_MIN: an array of flat records.
func writeJSONMin(c *converter, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteByte('[')
	first := true
	var buf bytes.Buffer
	err := c.each(func(r record) error {
		buf.Reset()
		if !first {
			buf.WriteByte(',')
		}
		first = false
		writeObject(&buf, c.minRecord(r, ""))
		_, err := bw.Write(buf.Bytes())
		return err
	})
	if err != nil {
		return err
	}
	bw.WriteByte(']')
	return bw.Flush()
}

// writeCSV writes the JSON_MIN records as a table separated by sep. Its
// header is the sorted union of every record's keys, known only at the
// end, so rows are spooled as JSON lines first. A data key that has a
// control's name becomes _data_<key>, so both columns survive.
func writeCSV(sep byte) func(*converter, io.Writer) error {
	return func(c *converter, w io.Writer) error {
		sp, err := newSpool()
		if err != nil {
			return err
		}
		defer sp.close()
		keys := map[string]bool{}
		var buf bytes.Buffer
		err = c.each(func(r record) error {
			buf.Reset()
			fs := c.minRecord(r, "_data_")
			for _, f := range fs {
				keys[f.key] = true
			}
			writeObject(&buf, fs)
			buf.WriteByte('\n')
			_, err := sp.Write(buf.Bytes())
			return err
		})
		if err != nil {
			return err
		}
		header := slices.Sorted(func(yield func(string) bool) {
			for k := range keys {
				if !yield(k) {
					return
				}
			}
		})
		bw := bufio.NewWriterSize(w, 64<<10)
		for i, k := range header {
			if i > 0 {
				bw.WriteByte(sep)
			}
			bw.WriteString(csvQuote(k))
		}
		bw.WriteByte('\n')
		rd, err := sp.reader()
		if err != nil {
			return err
		}
		d := json.NewDecoder(rd)
		for {
			var row map[string]json.RawMessage
			if err := d.Decode(&row); err == io.EOF {
				break
			} else if err != nil {
				return err
			}
			for i, k := range header {
				if i > 0 {
					bw.WriteByte(sep)
				}
				bw.WriteString(csvCell(row[k]))
			}
			if err := bw.WriteByte('\n'); err != nil {
				return err
			}
		}
		return bw.Flush()
	}
}

// csvCell writes one value as the converter's CSV does (pandas with
// non-numeric quoting): numbers bare, strings quoted, other values as
// quoted JSON, missing values and null empty.
func csvCell(v json.RawMessage) string {
	if len(v) == 0 || string(v) == "null" {
		return ""
	}
	switch v[0] {
	case '"':
		var s string
		_ = json.Unmarshal(v, &s)
		return csvQuote(s)
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return string(v)
	}
	return csvQuote(string(v))
}

func csvQuote(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
