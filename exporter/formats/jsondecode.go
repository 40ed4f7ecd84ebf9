package formats

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// This file reads a stored JSON export, the input of every snapshot
// conversion. encoding/json's Decoder goes over each item twice (to find
// its end, then to decode it) and decodes it by reflection, which was most
// of a conversion's time. The stored export is blobmark's own output,
// compact and in a known shape, so each item is decoded in one pass over
// its bytes by decodeTask; anything outside that shape (whitespace,
// escapes in strings, a key spelled in another case, a repeated key, a
// value of another type) makes decodeTask give up, and the item is decoded
// by encoding/json, which then also reports what is wrong with it.
// TestDecodeJSONMatchesEncodingJSON holds the two to the same tasks.

// DecodeJSON reads a Label Studio JSON export (an array of tasks) one
// task at a time, so a stored snapshot converts in the memory of a task.
func DecodeJSON(r io.Reader) Source {
	return &jsonSource{r: r}
}

// jsonSource reads the array's items from r: buf[off:] is what was read
// and not yet decoded.
type jsonSource struct {
	r     io.Reader
	buf   []byte
	off   int
	state int
}

// The states of a jsonSource: before the array's '[', before its first
// item, before a later item (a ',' first), after its ']'.
const (
	beforeArray = iota
	firstItem
	laterItem
	afterArray
)

// readSize is how much jsonSource reads at a time.
const readSize = 64 << 10

// Next implements Source. An item is decoded where it was read, in the
// reader's buffer, which is never written again (see fill): the task's
// raw values are slices of it.
func (s *jsonSource) Next(ctx context.Context) (*Task, error) {
	if err := s.toItem(); err != nil {
		return nil, err
	}
	var t Task
	if n, ok := decodeTask(s.buf[s.off:], &t); ok {
		s.off += n
		return &t, nil
	}
	// The item is not all read yet, or not in the shape decodeTask knows:
	// read it whole and decode it again, by encoding/json if need be.
	item, err := s.wholeItem()
	if err != nil {
		return nil, err
	}
	t = Task{}
	if n, ok := decodeTask(item, &t); ok && n == len(item) {
		return &t, nil
	}
	t = Task{}
	if err := json.Unmarshal(item, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// toItem moves to the start of the array's next item; io.EOF after the
// last one. Like encoding/json's Decoder.More, it takes an input that
// ends where an item or the array could end (nothing at all, or no
// closing bracket) as the end of the array.
func (s *jsonSource) toItem() error {
	if s.state == afterArray {
		return io.EOF
	}
	c, err := s.peek()
	if err != nil {
		return err
	}
	if s.state == beforeArray {
		if c != '[' {
			return errors.New("a JSON export is an array of tasks")
		}
		s.off++
		s.state = firstItem
		if c, err = s.peek(); err != nil {
			return err
		}
	}
	if c == ']' || c == '}' { // '}' too, as for Decoder.More
		s.state = afterArray
		return io.EOF
	}
	if s.state == laterItem {
		if c != ',' {
			return errors.New("a JSON export's tasks are separated by commas")
		}
		s.off++
		if _, err := s.peek(); err != nil {
			return unexpectedEOF(err)
		}
	}
	s.state = laterItem
	return nil
}

// wholeItem reads until the item at off is all in buf, and returns it.
func (s *jsonSource) wholeItem() ([]byte, error) {
	for {
		if n := valueEnd(s.buf[s.off:]); n > 0 {
			item := s.buf[s.off : s.off+n]
			s.off += n
			return item, nil
		}
		if err := s.fill(); err != nil {
			return nil, unexpectedEOF(err)
		}
	}
}

// peek skips whitespace and returns the next byte without consuming it.
func (s *jsonSource) peek() (byte, error) {
	for {
		for ; s.off < len(s.buf); s.off++ {
			if c := s.buf[s.off]; !isSpace(c) {
				return c, nil
			}
		}
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
}

// fill reads more input after buf's end. What was read is never written
// again, as tasks keep slices of it: a full buffer is replaced by a new
// one, which starts with its unread bytes (and has room for an item
// longer than a read).
func (s *jsonSource) fill() error {
	if len(s.buf) == cap(s.buf) {
		unread := s.buf[s.off:]
		s.buf, s.off = append(make([]byte, 0, 2*len(unread)+readSize), unread...), 0
	}
	// A reader may return nothing and no error now and then; as bufio
	// does, only many such reads in a row are an error.
	for range 100 {
		read, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
		s.buf = s.buf[:len(s.buf)+read]
		if read > 0 {
			return nil
		} else if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// valueEnd returns the length of the JSON value that b starts with, 0 when
// b ends before the value does. It follows strings and brackets only: the
// item's syntax is checked as it is decoded.
func valueEnd(b []byte) int {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			if i >= len(b) {
				return 0
			}
			if depth == 0 {
				return i + 1
			}
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth == 0 { // the end of the object or array around a scalar
				return i
			}
			if depth--; depth == 0 {
				return i + 1
			}
		case c == ',' || isSpace(c):
			if depth == 0 {
				return i
			}
		}
	}
	return 0
}

// decodeTask decodes the object b starts with into t, which is zero, as
// json.Unmarshal would, and returns its length; false when the object is
// not in the shape it knows or b ends before it does, t then half filled.
// The raw values of t (data, completed_by, region values) are slices of b.
func decodeTask(b []byte, t *Task) (int, bool) {
	d := &itemDecoder{b: b}
	ok := d.object(taskKeys, func(key int) bool {
		switch key {
		case 0:
			return d.int(&t.ID)
		case 1:
			return d.raw(&t.Data)
		default:
			return array(d, &t.Annotations, d.annotation)
		}
	})
	return d.i, ok
}

// The keys decodeTask and the functions it calls read, each object's in
// the order of its struct fields. A member whose key is none of them is
// skipped, as encoding/json does.
var (
	taskKeys       = []string{"id", "data", "annotations"}
	annotationKeys = []string{"id", "completed_by", "result", "was_cancelled", "created_at", "updated_at", "lead_time"}
	regionKeys     = []string{"id", "from_name", "to_name", "type", "value", "original_width", "original_height", "original_length"}
)

func (d *itemDecoder) annotation(a *Annotation) bool {
	return d.object(annotationKeys, func(key int) bool {
		switch key {
		case 0:
			return d.int(&a.ID)
		case 1:
			return d.raw(&a.CompletedBy)
		case 2:
			return array(d, &a.Result, d.region)
		case 3:
			return d.bool(&a.WasCancelled)
		case 4:
			return d.time(&a.CreatedAt)
		case 5:
			return d.time(&a.UpdatedAt)
		default:
			return d.float(&a.LeadTime)
		}
	})
}

func (d *itemDecoder) region(r *Region) bool {
	return d.object(regionKeys, func(key int) bool {
		switch key {
		case 0:
			return d.string(&r.ID)
		case 1:
			return d.string(&r.FromName)
		case 2:
			return d.string(&r.ToName)
		case 3:
			return d.string(&r.Type)
		case 4:
			return d.raw(&r.Value)
		case 5:
			return d.floatPointer(&r.OriginalWidth)
		case 6:
			return d.floatPointer(&r.OriginalHeight)
		default:
			return d.floatPointer(&r.OriginalLength)
		}
	})
}

// itemDecoder reads compact JSON from b at i. Each method decodes one
// value as json.Unmarshal would into its argument, and returns false
// when the value is not one it decodes the same way.
type itemDecoder struct {
	b []byte
	i int
}

// object reads an object, calling member with the index in keys of each
// member's key, for it to decode the value; other members are skipped.
// A key repeated, spelled in another case or escaped is not decoded here,
// since encoding/json's rules for those are its own.
func (d *itemDecoder) object(keys []string, member func(key int) bool) bool {
	if !d.consume('{') {
		return false
	}
	if d.consume('}') {
		return true
	}
	seen := 0
	for {
		name, ok := d.plainString()
		if !ok || !d.consume(':') {
			return false
		}
		switch k := knownKey(keys, name); {
		case k >= 0:
			if seen&(1<<k) != 0 || !member(k) {
				return false
			}
			seen |= 1 << k
		case k == unknownKey:
			if _, ok := d.value(); !ok {
				return false
			}
		default:
			return false
		}
		if d.consume('}') {
			return true
		}
		if !d.consume(',') {
			return false
		}
	}
}

// unknownKey and foldedKey are what knownKey returns for a key that is
// none of keys, and for one that is in another case (or not ASCII, where
// encoding/json's case folding goes further).
const (
	unknownKey = -1
	foldedKey  = -2
)

// knownKey returns the index of name in keys, unknownKey or foldedKey.
// The keys are lower-case ASCII, so only a name with an upper-case or a
// non-ASCII letter can match one of them in another case.
func knownKey(keys []string, name []byte) int {
	for i, k := range keys {
		if string(name) == k {
			return i
		}
	}
	upper := false
	for _, c := range name {
		if c >= utf8.RuneSelf {
			return foldedKey
		}
		upper = upper || c >= 'A' && c <= 'Z'
	}
	for _, k := range keys {
		if upper && strings.EqualFold(string(name), k) {
			return foldedKey
		}
	}
	return unknownKey
}

// array reads an array into *out, decoding each element with elem; null
// leaves *out nil, as an empty array makes it empty but not nil.
func array[T any](d *itemDecoder, out *[]T, elem func(*T) bool) bool {
	if d.null() {
		return true
	}
	if !d.consume('[') {
		return false
	}
	*out = []T{}
	if d.consume(']') {
		return true
	}
	for {
		*out = append(*out, *new(T))
		if !elem(&(*out)[len(*out)-1]) {
			return false
		}
		if d.consume(']') {
			return true
		}
		if !d.consume(',') {
			return false
		}
	}
}

func (d *itemDecoder) consume(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// null consumes a null.
func (d *itemDecoder) null() bool {
	if bytes.HasPrefix(d.b[d.i:], []byte("null")) {
		d.i += len("null")
		return true
	}
	return false
}

// value returns the value at i, whole, and moves past it.
func (d *itemDecoder) value() ([]byte, bool) {
	n := valueEnd(d.b[d.i:])
	if n == 0 {
		return nil, false
	}
	v := d.b[d.i : d.i+n]
	d.i += n
	return v, true
}

// plainString reads a string that encoding/json would take as it is:
// valid UTF-8 without escapes or control characters. It returns its
// bytes without the quotes.
func (d *itemDecoder) plainString() ([]byte, bool) {
	if !d.consume('"') {
		return nil, false
	}
	start, ascii := d.i, true
	for ; d.i < len(d.b); d.i++ {
		switch c := d.b[d.i]; {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			return s, ascii || utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

func (d *itemDecoder) string(out *string) bool {
	if d.null() {
		return true
	}
	s, ok := d.plainString()
	*out = string(s)
	return ok
}

// raw reads a json.RawMessage: the value as it is, null included.
func (d *itemDecoder) raw(out *json.RawMessage) bool {
	v, ok := d.value()
	*out = v
	return ok
}

func (d *itemDecoder) bool(out *bool) bool {
	switch {
	case d.null():
	case bytes.HasPrefix(d.b[d.i:], []byte("true")):
		*out = true
		d.i += len("true")
	case bytes.HasPrefix(d.b[d.i:], []byte("false")):
		*out = false
		d.i += len("false")
	default:
		return false
	}
	return true
}

// number reads a JSON number and returns it as it is written.
func (d *itemDecoder) number() ([]byte, bool) {
	start := d.i
	d.consume('-')
	if !d.consume('0') && !d.digits() {
		return nil, false
	}
	if d.consume('.') && !d.digits() {
		return nil, false
	}
	if d.consume('e') || d.consume('E') {
		if !d.consume('+') {
			d.consume('-')
		}
		if !d.digits() {
			return nil, false
		}
	}
	if d.i < len(d.b) && isNumberByte(d.b[d.i]) {
		return nil, false
	}
	return d.b[start:d.i], true
}

// digits reads one digit or more.
func (d *itemDecoder) digits() bool {
	start := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	return d.i > start
}

// int reads an integer without a fraction or an exponent, of 18 digits
// at most, which cannot overflow.
func (d *itemDecoder) int(out *int64) bool {
	if d.null() {
		return true
	}
	num, ok := d.number()
	if !ok || len(num) > 18 || bytes.ContainsAny(num, ".eE") {
		return false
	}
	var n int64
	for _, c := range bytes.TrimPrefix(num, []byte("-")) {
		n = n*10 + int64(c-'0')
	}
	if num[0] == '-' {
		n = -n
	}
	*out = n
	return true
}

// float reads a number as encoding/json does, with strconv.ParseFloat.
func (d *itemDecoder) float(out *float64) bool {
	if d.null() {
		return true
	}
	num, ok := d.number()
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(string(num), 64)
	*out = f
	return err == nil
}

func (d *itemDecoder) floatPointer(out **float64) bool {
	if d.null() {
		return true
	}
	*out = new(float64)
	return d.float(*out)
}

// time reads a time.Time with its own UnmarshalJSON, as encoding/json
// does: a quoted RFC 3339 time, or null for the zero time.
func (d *itemDecoder) time(out *time.Time) bool {
	if d.i >= len(d.b) || d.b[d.i] != '"' && d.b[d.i] != 'n' {
		return false
	}
	v, ok := d.value()
	return ok && out.UnmarshalJSON(v) == nil
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// DecodeRegions decodes an annotation's result as json.Unmarshal would
// into a []Region, in one pass when it is in the shape the converter
// knows (decodeTask's rules).
func DecodeRegions(result []byte) ([]Region, error) {
	var out []Region
	if d := (&itemDecoder{b: result}); array(d, &out, d.region) && d.i == len(d.b) {
		return out, nil
	}
	out = nil
	err := json.Unmarshal(result, &out)
	return out, err
}

// dataString returns the string value of a task's data key, "" when it
// is missing or not a string. The data is read in one pass when it is in
// the shape decodeTask knows, else decoded as a map as Label Studio's
// converter reads it.
func dataString(t *Task, key string) string {
	var s string
	d := &itemDecoder{b: t.Data}
	if d.object([]string{key}, func(int) bool { return d.string(&s) }) && d.i == len(d.b) {
		return s
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(t.Data, &m) != nil {
		return ""
	}
	s = ""
	if json.Unmarshal(m[key], &s) != nil {
		return ""
	}
	return s
}

// geometryKeys are the keys of a region value that shape reads.
var geometryKeys = []string{"x", "y", "width", "height", "rotation", "points", "rectanglelabels", "polygonlabels",
	"keypointlabels", "labels", "text", "start", "end"}

// decodeGeometry decodes a region value as shape's json.Unmarshal would,
// width and height into their own pointers, in one pass when it is in the
// shape decodeTask knows; false when it is not, the outputs half filled.
func decodeGeometry(value []byte, g *geometry, width, height **float64) bool {
	d := &itemDecoder{b: value}
	return d.object(geometryKeys, func(key int) bool {
		switch key {
		case 0:
			return d.float(&g.X)
		case 1:
			return d.float(&g.Y)
		case 2:
			return d.floatPointer(width)
		case 3:
			return d.floatPointer(height)
		case 4:
			return d.float(&g.Rotation)
		case 5:
			return array(d, &g.Points, func(p *[]float64) bool { return array(d, p, d.float) })
		case 6:
			return array(d, &g.RectangleLabels, d.string)
		case 7:
			return array(d, &g.PolygonLabels, d.string)
		case 8:
			return array(d, &g.KeyPointLabels, d.string)
		case 9:
			return array(d, &g.Labels, d.string)
		case 10:
			return array(d, &g.Text, d.string)
		case 11:
			return d.raw(&g.Start)
		default:
			return d.raw(&g.End)
		}
	}) && d.i == len(d.b)
}
