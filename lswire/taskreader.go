package lswire

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// TaskReader reads a task import one task at a time, so that memory holds
// one task rather than the whole file or request body. It reads what Label
// Studio accepts: a JSON array of tasks or one task object and, when lines
// is set (task files), JSON lines — one object per line, blank lines
// allowed. A leading UTF-8 BOM is skipped. The reader only splits the input
// into tasks; what a task must contain is ParseTask's to check.
type TaskReader struct {
	br    *bufio.Reader
	lines bool
	dec   *json.Decoder // array and single-object input
	state readerState
	next  int    // index of the next task (0-based; line number - 1 for JSON lines)
	where string // the task Next returned last, in words
	line  []byte
	atEOF bool  // JSON lines: the last line has been read
	pos   int64 // bytes consumed before the decoder (BOM, white space) or the current line
}

type readerState int

const (
	stateStart readerState = iota
	stateArray
	stateObject
	stateLines
	stateDone
)

// ErrEmpty is returned by Next for an input with nothing but white space.
var ErrEmpty = errors.New("empty input; expected JSON tasks")

// ShapeError is an input that starts with something other than a JSON
// array or object.
type ShapeError struct {
	// First is the input's first byte that is not white space.
	First byte
}

func (e *ShapeError) Error() string {
	return "not JSON tasks (expected a JSON object, a JSON array or JSON lines)"
}

// SyntaxError is an input that is not well-formed JSON of an accepted shape.
type SyntaxError struct {
	// Task is the index of the task at fault (its line number - 1 in JSON
	// lines), or -1 when the fault lies outside every task.
	Task int
	// Where names that task as messages about files do: "array index 3",
	// "line 7"; "" outside tasks.
	Where string
	// Offset is the byte offset of the offending byte in a single object;
	// elsewhere, where the task at fault (or the data after the array)
	// starts, as the decoder does not say more.
	Offset int64
	// Reason says what is wrong, e.g. "unexpected end of input".
	Reason string
}

func (e *SyntaxError) Error() string {
	if e.Where != "" {
		return fmt.Sprintf("%s: invalid JSON: %s (at byte offset %d)", e.Where, e.Reason, e.Offset)
	}
	return fmt.Sprintf("%s (at byte offset %d)", e.Reason, e.Offset)
}

// NewTaskReader returns a reader of the tasks in r; lines permits JSON lines.
// Memory use is bounded by the largest task (or line), not by r's size.
func NewTaskReader(r io.Reader, lines bool) *TaskReader {
	return &TaskReader{br: bufio.NewReaderSize(r, 64<<10), lines: lines}
}

// Next returns the next task's JSON text, or io.EOF after the last. In an
// array or a single object each task is well-formed JSON, though not
// necessarily an object; a JSON line is handed over as it is, for
// ParseTask to judge. The slice is the caller's to keep. Errors are
// ErrEmpty, *ShapeError and *SyntaxError about the content, or the
// source's own read error, returned as it is.
func (t *TaskReader) Next() (json.RawMessage, error) {
	switch t.state {
	case stateStart:
		if err := t.start(); err != nil {
			return nil, err
		}
		return t.Next()
	case stateArray:
		return t.nextInArray()
	case stateObject:
		return t.nextObject()
	case stateLines:
		return t.nextLine()
	}
	return nil, io.EOF
}

// Where names the task Next returned last: "array index 3", "line 7", or ""
// for the only task of a single-object input.
func (t *TaskReader) Where() string { return t.where }

// start skips a BOM and white space and picks the input's shape by its first
// byte. An object followed by a line break, or by nothing, is the first of
// JSON lines when lines are allowed (a one-line object is the same task
// either way); an object spread over several lines is a single task.
func (t *TaskReader) start() error {
	if b, _ := t.br.Peek(len(utf8BOM)); bytes.Equal(b, utf8BOM) {
		_, _ = t.br.Discard(len(utf8BOM))
		t.pos = int64(len(utf8BOM))
	}
	first, err := t.firstByte()
	if err == io.EOF {
		t.state = stateDone
		return ErrEmpty
	} else if err != nil {
		return err
	}
	switch first {
	case '[':
		t.dec = json.NewDecoder(t.br)
		if _, err := t.dec.Token(); err != nil {
			return err // a read error: '[' itself is a valid token
		}
		t.state = stateArray
		return nil
	case '{':
		if !t.lines {
			t.dec = json.NewDecoder(t.br)
			t.state = stateObject
			return nil
		}
		line, err := t.br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return err
		}
		if trimmed := bytes.TrimSpace(line); json.Valid(trimmed) {
			t.line, t.atEOF, t.state = line, err == io.EOF, stateLines
			return nil
		}
		t.dec = json.NewDecoder(io.MultiReader(bytes.NewReader(line), t.br))
		t.state = stateObject
		return nil
	}
	t.state = stateDone
	return &ShapeError{First: first}
}

// firstByte returns the first non-whitespace byte without consuming it.
func (t *TaskReader) firstByte() (byte, error) {
	for {
		c, err := t.br.ReadByte()
		if err != nil {
			return 0, err
		}
		if !isSpace(c) {
			return c, t.br.UnreadByte()
		}
		t.pos++
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (t *TaskReader) nextInArray() (json.RawMessage, error) {
	if t.dec.More() {
		i := t.next
		t.next++
		t.where = fmt.Sprintf("array index %d", i)
		var raw json.RawMessage
		if err := t.dec.Decode(&raw); err != nil {
			return nil, t.syntax(err, i, t.where, t.faultStart(), "")
		}
		return raw, nil
	}
	t.state = stateDone
	if _, err := t.dec.Token(); err != nil { // the ']'
		return nil, t.syntax(err, -1, "", t.faultStart(), "invalid JSON array: ")
	}
	return nil, t.end("array")
}

func (t *TaskReader) nextObject() (json.RawMessage, error) {
	t.state = stateDone
	t.next, t.where = 1, ""
	var raw json.RawMessage
	if err := t.dec.Decode(&raw); err != nil {
		at := t.pos
		var se *json.SyntaxError
		if errors.As(err, &se) {
			at += se.Offset - 1 // a fresh decoder counts from the object, the offending byte included
		}
		return nil, t.syntax(err, -1, "", at, "invalid JSON: ")
	}
	if err := t.end("object (for several tasks use a JSON array or one object per line)"); err != io.EOF {
		return nil, err
	}
	return raw, nil
}

// end checks that nothing but white space follows the array or object, and
// returns io.EOF if so.
func (t *TaskReader) end(what string) error {
	start := t.faultStart()
	_, err := t.dec.Token()
	switch {
	case err == io.EOF:
		return io.EOF
	case isJSONError(err) || err == nil:
		return &SyntaxError{Task: -1, Offset: start, Reason: "unexpected data after the JSON " + what}
	}
	return err
}

// faultStart returns the offset of the next byte the decoder has not taken,
// white space skipped: after a failed Decode or Token, where the value at
// fault starts (the decoder does not move past what it rejects).
func (t *TaskReader) faultStart() int64 {
	off := t.pos + t.dec.InputOffset()
	rest := t.dec.Buffered()
	var b [1]byte
	for {
		if n, _ := rest.Read(b[:]); n == 0 || !isSpace(b[0]) {
			return off
		}
		off++
	}
}

func (t *TaskReader) nextLine() (json.RawMessage, error) {
	for {
		if t.line == nil {
			if t.atEOF {
				t.state = stateDone
				return nil, io.EOF
			}
			line, err := t.br.ReadBytes('\n')
			if err == io.EOF {
				t.atEOF = true
			} else if err != nil {
				return nil, err
			}
			t.line = line
		}
		start := t.pos
		t.pos += int64(len(t.line))
		line := bytes.TrimSpace(t.line)
		t.line = nil
		i := t.next
		t.next++
		if len(line) == 0 {
			continue
		}
		t.where = fmt.Sprintf("line %d", i+1)
		if line[0] != '{' { // an object is left to ParseTask, which decodes it anyway
			var v json.RawMessage
			if err := json.Unmarshal(line, &v); err != nil {
				return nil, &SyntaxError{Task: i, Where: t.where, Offset: start, Reason: jsonReason(err)}
			}
		}
		return line, nil
	}
}

// syntax turns a decoder error into a *SyntaxError about task i (or, when i
// is -1, about the data at start), and lets a read error of the source
// through.
func (t *TaskReader) syntax(err error, i int, where string, start int64, prefix string) error {
	t.state = stateDone
	if !isJSONError(err) {
		return err
	}
	return &SyntaxError{Task: i, Where: where, Offset: start, Reason: prefix + jsonReason(err)}
}

// isJSONError reports whether err is about the JSON itself rather than
// about reading it.
func isJSONError(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se) || err == io.ErrUnexpectedEOF || err == io.EOF
}

// jsonReason says what is wrong with JSON a decoder rejected.
func jsonReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Error()
	}
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return "unexpected end of input"
	}
	return err.Error()
}
