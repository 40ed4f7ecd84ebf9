package formats

import (
	"bufio"
	"encoding/json"
	"io"
	"regexp"
	"slices"
	"unicode/utf8"
)

// conllToken is a word or a single punctuation mark.
var conllToken = regexp.MustCompile(`\w+|[^\w\s]`)

// writeCoNLL writes CoNLL 2003 as the converter does: a "-DOCSTART- -X- O"
// line, then per record one "token -X- _ tag" line per token and a blank
// line. Tags are BIO over the spans of the record's first Labels control:
// a token overlapping a span is B-<label> if it is the span's first such
// token and I-<label> after, others O. Offsets are Label Studio's
// character offsets (runes here, which agree with the browser's UTF-16
// units outside the astral planes).
func writeCoNLL(c *converter, w io.Writer) error {
	key := c.dataKey("Text")
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString("-DOCSTART- -X- O\n")
	err := c.each(func(r record) error {
		type span struct {
			Start, End int
			Labels     []string
		}
		var spans []span
		from := ""
		for _, reg := range r.regions(c) {
			if c.cfg.Control(reg.FromName).Type != "Labels" || from != "" && reg.FromName != from {
				continue
			}
			var s span
			if json.Unmarshal(reg.Value, &s) != nil || len(s.Labels) == 0 || s.End <= s.Start {
				continue
			}
			from = reg.FromName
			spans = append(spans, s)
		}
		slices.SortFunc(spans, func(a, b span) int { return a.Start - b.Start })
		s := dataString(r.task, key)
		begun := make([]bool, len(spans))
		for _, loc := range conllToken.FindAllStringIndex(s, -1) {
			start := utf8.RuneCountInString(s[:loc[0]])
			end := start + utf8.RuneCountInString(s[loc[0]:loc[1]])
			tag := "O"
			for i, sp := range spans {
				if start < sp.End && end > sp.Start {
					tag = "I-" + sp.Labels[0]
					if !begun[i] {
						tag, begun[i] = "B-"+sp.Labels[0], true
					}
					break
				}
			}
			bw.WriteString(s[loc[0]:loc[1]] + " -X- _ " + tag + "\n")
		}
		_, err := bw.WriteString("\n")
		return err
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

// writeASR writes NeMo's ASR manifest as the converter does: one JSON
// line {audio_filepath, duration, text, annotator} per record with a
// transcription (the first TextArea region's first text). duration is the
// region's original_length in seconds when the annotator recorded it, else
// null: blobmark does not read the audio to measure it. Records without a
// transcription are left out, as a line without text would train on
// silence.
func writeASR(c *converter, w io.Writer) error {
	key := c.dataKey("Audio")
	if c.cfg.DataTypes[key] != "Audio" {
		key = c.dataKey("AudioPlus")
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	err := c.each(func(r record) error {
		line := struct {
			AudioFilepath string          `json:"audio_filepath"`
			Duration      *float64        `json:"duration"`
			Text          string          `json:"text"`
			Annotator     json.RawMessage `json:"annotator"`
		}{AudioFilepath: dataString(r.task, key)}
		found := false
		for _, reg := range r.regions(c) {
			var v struct{ Text []string }
			if c.cfg.Control(reg.FromName).Type != "TextArea" || json.Unmarshal(reg.Value, &v) != nil || len(v.Text) == 0 {
				continue
			}
			line.Text, line.Duration, found = v.Text[0], reg.OriginalLength, true
			break
		}
		if !found {
			return nil
		}
		line.Annotator = r.ann.annotator()
		b, err := json.Marshal(line)
		if err != nil {
			return err
		}
		bw.Write(b)
		return bw.WriteByte('\n')
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}
