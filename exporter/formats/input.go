package formats

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/blobmark/blobmark/readahead"
)

// Source yields the tasks of an export one at a time, in a stable order.
// Next returns io.EOF after the last task.
type Source interface {
	Next(ctx context.Context) (*Task, error)
}

// Task is the part of a Label Studio JSON export item a converter reads;
// its JSON tags are the export's keys, so a stored JSON export decodes
// into it directly.
type Task struct {
	ID          int64           `json:"id"`
	Data        json.RawMessage `json:"data"`
	Annotations []Annotation    `json:"annotations"`
}

// Annotation is one annotation of a Task.
type Annotation struct {
	ID int64 `json:"id"`
	// CompletedBy is the annotator as the JSON export writes it: an object
	// with id and email, or a bare id.
	CompletedBy  json.RawMessage `json:"completed_by"`
	Result       []Region        `json:"result"`
	WasCancelled bool            `json:"was_cancelled"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
	LeadTime     float64         `json:"lead_time"`
}

// Region is one item of an annotation's result.
type Region struct {
	ID             string          `json:"id"`
	FromName       string          `json:"from_name"`
	ToName         string          `json:"to_name"`
	Type           string          `json:"type"`
	Value          json.RawMessage `json:"value"`
	OriginalWidth  *float64        `json:"original_width,omitempty"`
	OriginalHeight *float64        `json:"original_height,omitempty"`
	OriginalLength *float64        `json:"original_length,omitempty"`
}

// annotator is the converter's annotator of an annotation: the email when
// completed_by is an object, else completed_by itself.
func (a *Annotation) annotator() json.RawMessage {
	raw := bytes.TrimSpace(a.CompletedBy)
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	if raw[0] != '{' {
		return raw
	}
	var u struct {
		Email *string `json:"email"`
	}
	if json.Unmarshal(raw, &u) != nil || u.Email == nil {
		return json.RawMessage("null")
	}
	b, _ := json.Marshal(*u.Email)
	return b
}

// record is one unit of the converter's output: a task with one of its
// annotations, or with none (ann nil) when the task has no annotations.
type record struct {
	task *Task
	ann  *Annotation
}

// records returns the records of a task as Label Studio's converter makes
// them: a task without annotations gives one empty record; cancelled
// (skipped) annotations are dropped, and a task with only those gives
// none; the others give one record each, newest first (by created_at,
// ties by id descending so the order does not depend on input order).
func records(t *Task) []record {
	if len(t.Annotations) == 0 {
		return []record{{task: t}}
	}
	var out []record
	for i := range t.Annotations {
		if !t.Annotations[i].WasCancelled {
			out = append(out, record{task: t, ann: &t.Annotations[i]})
		}
	}
	slices.SortStableFunc(out, func(x, y record) int {
		if c := y.ann.CreatedAt.Compare(x.ann.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(y.ann.ID, x.ann.ID)
	})
	return out
}

// regions returns the record's regions whose from_name is a control tag
// of the config, as the converter reads only those.
func (r record) regions(c *converter) []Region {
	if r.ann == nil {
		return nil
	}
	var out []Region
	for _, reg := range r.ann.Result {
		if c.cfg.Control(reg.FromName) != nil {
			out = append(out, reg)
		}
	}
	return out
}

// geometry is the part of a region value the image formats read.
type geometry struct {
	X, Y, Width, Height, Rotation float64
	Points                        [][]float64
	RectangleLabels               []string `json:"rectanglelabels"`
	PolygonLabels                 []string `json:"polygonlabels"`
	KeyPointLabels                []string `json:"keypointlabels"`
	Labels                        []string `json:"labels"`
	Text                          []string `json:"text"`
	Start, End                    json.RawMessage
}

// kind names the shape of a region for the image formats.
type kind int

const (
	kindNone kind = iota
	kindRectangle
	kindPolygon
	kindKeyPoint
)

// shape parses a region's value and tells its shape and first label, as
// the converter picks it: the first non-empty of rectanglelabels,
// polygonlabels, keypointlabels and labels; a generic "labels" region
// (a Rectangle or Polygon tag paired with Labels) is told by its fields.
func (reg Region) shape() (geometry, kind, string) {
	var g struct {
		geometry
		Width, Height *float64
	}
	if !decodeGeometry(reg.Value, &g.geometry, &g.Width, &g.Height) {
		g.geometry, g.Width, g.Height = geometry{}, nil, nil
		if json.Unmarshal(reg.Value, &g) != nil {
			return geometry{}, kindNone, ""
		}
	}
	if g.Width != nil && g.Height != nil {
		g.geometry.Width, g.geometry.Height = *g.Width, *g.Height
	}
	switch {
	case len(g.RectangleLabels) > 0:
		return g.geometry, kindRectangle, g.RectangleLabels[0]
	case len(g.PolygonLabels) > 0:
		return g.geometry, kindPolygon, g.PolygonLabels[0]
	case len(g.KeyPointLabels) > 0:
		return g.geometry, kindKeyPoint, g.KeyPointLabels[0]
	case len(g.Labels) == 0:
		return g.geometry, kindNone, ""
	case g.Points != nil:
		return g.geometry, kindPolygon, g.Labels[0]
	case g.Width != nil && g.Height != nil:
		return g.geometry, kindRectangle, g.Labels[0]
	}
	return g.geometry, kindNone, g.Labels[0]
}

// size returns the region's original image size in pixels.
func (reg Region) size() (w, h float64, ok bool) {
	if reg.OriginalWidth == nil || reg.OriginalHeight == nil || *reg.OriginalWidth <= 0 || *reg.OriginalHeight <= 0 {
		return 0, 0, false
	}
	return *reg.OriginalWidth, *reg.OriginalHeight, true
}

// readAheadTasks is how many tasks readAhead decodes before its caller
// takes them: enough to smooth out tasks of uneven size, few enough for
// flat memory.
const readAheadTasks = 64

// readAhead returns a Source that reads src's tasks on a goroutine of its
// own, up to readAheadTasks ahead of its caller, so decoding a task and
// converting the one before run at the same time. stop ends the read-ahead
// and waits for it: src is not used once stop has returned.
func readAhead(ctx context.Context, src Source) (ahead Source, stop func()) {
	next, stop := readahead.Start(ctx, readAheadTasks, src.Next, func(*Task) bool { return false })
	return sourceFunc(next), stop
}

// sourceFunc is a Source made of its Next.
type sourceFunc func(context.Context) (*Task, error)

// Next implements Source.
func (f sourceFunc) Next(ctx context.Context) (*Task, error) { return f(ctx) }
