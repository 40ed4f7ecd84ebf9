package lswire

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// endlessArray is the start of a JSON array of tasks that does not end
// before 256 MiB, far more than a reader that streams may take.
type endlessArray struct {
	next    int
	pending []byte
	sent    int
}

func (a *endlessArray) Read(p []byte) (int, error) {
	if a.sent >= 256<<20 {
		return 0, io.EOF
	}
	for len(a.pending) < len(p) {
		if a.next == 0 {
			a.pending = append(a.pending, '[')
		} else {
			a.pending = append(a.pending, ',')
		}
		a.pending = fmt.Appendf(a.pending, `{"i":%d,"pad":"%s"}`, a.next, strings.Repeat("x", 100))
		a.next++
	}
	n := copy(p, a.pending)
	a.pending = a.pending[n:]
	a.sent += n
	return n, nil
}

// TestTaskReaderStreams: tasks come out while the input is still being
// read, and no more of it is read than a task and the buffers hold.
func TestTaskReaderStreams(t *testing.T) {
	src := &countingReader{r: &endlessArray{}}
	tr := NewTaskReader(src, false)
	const n = 10000
	for i := range n {
		raw, err := tr.Next()
		if err != nil {
			t.Fatalf("task %d: %v", i, err)
		}
		if want := fmt.Sprintf(`{"i":%d,`, i); !strings.HasPrefix(string(raw), want) {
			t.Fatalf("task %d = %.20s, want it to start %s", i, raw, want)
		}
		if tr.Where() != fmt.Sprintf("array index %d", i) {
			t.Fatalf("Where() = %q at task %d", tr.Where(), i)
		}
	}
	taskBytes := int64(len(fmt.Sprintf(`,{"i":%d,"pad":"%s"}`, n, strings.Repeat("x", 100))))
	if limit := n*taskBytes + 256<<10; src.n > limit {
		t.Fatalf("read %d bytes for %d tasks of ~%d bytes; a stream reads at most %d", src.n, n, taskBytes, limit)
	}
}

// TestTaskReaderShapes: without JSON lines (the API's body) the reader takes
// an array or one object and tells each other input apart.
func TestTaskReaderShapes(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		tasks []string
		err   func(error) bool
		about string // the error's Where and Offset, or its Task and Reason
	}{
		{name: "array", in: "\uFEFF [{\"a\": 1}, 2, \"x\"]\n", tasks: []string{`{"a": 1}`, `2`, `"x"`}},
		{name: "empty array", in: `[]`},
		{name: "pretty object", in: "{\n  \"a\": 1\n}\n", tasks: []string{"{\n  \"a\": 1\n}"}},
		{name: "empty", in: " \n", err: func(err error) bool { return errors.Is(err, ErrEmpty) }},
		{name: "scalar", in: ` "tasks"`, err: func(err error) bool {
			var se *ShapeError
			return errors.As(err, &se) && se.First == '"'
		}},
		{name: "json lines", in: "{\"a\": 1}\n{\"a\": 2}\n", about: "task -1 at 9: unexpected data after the JSON object"},
		{name: "bad task", in: `[{"a": 1},  {"a": x}]`, tasks: []string{`{"a": 1}`}, about: "task 1 at 12: invalid character 'x'"},
		{name: "missing comma", in: `[{"a": 1} {"a": 2}]`, tasks: []string{`{"a": 1}`}, about: "task 1 at 10: expected comma"},
		{name: "cut off", in: `[{"a": 1}, {"a": `, tasks: []string{`{"a": 1}`}, about: "task 1 at 11: unexpected end of input"},
		{name: "unclosed", in: `[{"a": 1}`, tasks: []string{`{"a": 1}`}, about: "task -1 at 9: invalid JSON array: unexpected end of input"},
		{name: "data after the array", in: `[{"a": 1}]  [2]`, tasks: []string{`{"a": 1}`}, about: "task -1 at 12: unexpected data after the JSON array"},
		{name: "bad object", in: ` {"a": 1,}`, about: "task -1 at 9: invalid JSON: invalid character '}'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTaskReader(strings.NewReader(tt.in), false)
			var got []string
			var err error
			for {
				var raw []byte
				if raw, err = tr.Next(); err != nil {
					break
				}
				got = append(got, string(raw))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.tasks) {
				t.Errorf("tasks %q, want %q", got, tt.tasks)
			}
			var se *SyntaxError
			switch {
			case tt.err != nil:
				if !tt.err(err) {
					t.Errorf("error %v (%T) is not the one expected", err, err)
				}
			case tt.about != "":
				if !errors.As(err, &se) {
					t.Fatalf("error %v (%T), want a *SyntaxError", err, err)
				}
				if about := fmt.Sprintf("task %d at %d: %s", se.Task, se.Offset, se.Reason); !strings.HasPrefix(about, tt.about) {
					t.Errorf("error is about %q, want %q…", about, tt.about)
				}
			case err != io.EOF:
				t.Errorf("error %v, want io.EOF", err)
			}
			if _, again := tr.Next(); tt.err == nil && tt.about == "" && again != io.EOF {
				t.Errorf("Next after the end = %v, want io.EOF", again)
			}
		})
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
