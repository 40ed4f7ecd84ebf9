package lswire

import (
	"bytes"
	"cmp"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
)

// encodeTaskJSON is TaskJSON written with Encode from the wire structs,
// as it was before AppendTaskJSON wrote it by hand: the reference whose
// bytes AppendTaskJSON must keep.
func encodeTaskJSON(task *blobmark.Task, annotations []*blobmark.Annotation, predictions []*blobmark.Prediction, users map[int64]*blobmark.User) ([]byte, error) {
	anns := []json.RawMessage{}
	for _, a := range slices.SortedFunc(slices.Values(annotations), func(x, y *blobmark.Annotation) int { return cmp.Compare(x.ID, y.ID) }) {
		user := struct {
			CompletedBy *ExportUser `json:"completed_by"`
		}{(*ExportUser)(NewUser(a.CompletedBy, users[a.CompletedBy]))}
		b, err := Encode(ExportAnnotationKeys, NewAnnotation(a), user)
		if err != nil {
			return nil, err
		}
		anns = append(anns, b)
	}
	out := struct {
		Annotations []json.RawMessage `json:"annotations"`
		Drafts      []int64           `json:"drafts"`
		Predictions []Prediction      `json:"predictions"`
	}{Annotations: anns, Drafts: []int64{}, Predictions: []Prediction{}}
	for _, p := range slices.SortedFunc(slices.Values(predictions), func(x, y *blobmark.Prediction) int { return cmp.Compare(x.ID, y.ID) }) {
		out.Predictions = append(out.Predictions, NewPrediction(p))
	}
	return Encode(ExportTaskKeys, NewTask(task), out)
}

// TestAppendTaskJSONMatchesEncode feeds the hand-written export item
// random tasks with what the generic encoding handles specially: JSON
// columns with whitespace in and between tokens, escapes and separators
// inside strings, null and empty columns, names that need escaping,
// floats of every shape, times with and without microseconds, in other
// zones and out of the usual years, rows out of id order.
func TestAppendTaskJSONMatchesEncode(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pick := func(s ...string) string { return s[r.IntN(len(s))] }
	objects := []string{"", "null", " null ", "{}", `{"image":"azure-blob://c/a.jpg"}`, "{ \"a\" : [ 1 , 2 ],\n\t\"b\":\"x y\\\" , }\" }\r\n",
		` {"t":"a < b & c \u2028 é","n":{"m":[{"k":"\\"}]}} `, `{"$undefined$":"v"}`}
	results := []string{"", "null", "[]", " [ ] ", `[{"type":"choices","value":{"choices":["a,b"]}}]`,
		"[ {\"id\" : \"x]\" , \"v\":[1,2,{}]} ,\n {\"id\":\"y\\\\\"} ]", `{"not":"a list"}`, `[1,2,3]`}
	names := []string{"", "Ada", "O'Brien <ob@x>", "Zoë", "tab\there", `quote"back\slash`, "\u2028line", "bad\xffutf8", "del\x7f"}
	floats := []float64{0, 4, 4.288, -2, 1e-7, 1e-6, 123456789, 1e21, 1e20, 3.5e-300, math.NaN(), math.Inf(1), 0.1 + 0.2}
	times := []time.Time{{}, time.Date(2021, 3, 9, 21, 52, 49, 513742000, time.UTC), time.Date(2021, 3, 9, 22, 16, 8, 0, time.FixedZone("CET", 3600)),
		time.Date(1999, 12, 31, 23, 59, 59, 999, time.UTC), time.Date(10000, 1, 2, 3, 4, 5, 6000, time.UTC), time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC),
		time.Date(2024, 2, 29, 1, 2, 3, 100000, time.FixedZone("", -7*3600-1800))}
	timeAt := func() time.Time {
		if r.IntN(3) == 0 {
			return time.Unix(r.Int64N(4e9), r.Int64N(1e9))
		}
		return times[r.IntN(len(times))]
	}
	floatAt := func() float64 {
		if r.IntN(3) == 0 {
			return math.Float64frombits(r.Uint64())
		}
		return floats[r.IntN(len(floats))]
	}
	users := map[int64]*blobmark.User{}
	for id := int64(1); id <= 5; id++ {
		users[id] = &blobmark.User{ID: id, Email: pick(names...), FirstName: pick(names...), LastName: pick(names...)}
	}
	var buf []byte
	for i := range 2000 {
		task := &blobmark.Task{ID: r.Int64N(1e6), ProjectID: r.Int64N(100), InnerID: r.Int64N(1e6), Data: json.RawMessage(pick(objects...)),
			Meta: json.RawMessage(pick(objects...)), TotalAnnotations: r.IntN(5), CancelledAnnotations: r.IntN(2), TotalPredictions: r.IntN(2),
			CreatedAt: timeAt(), UpdatedAt: timeAt()}
		var anns []*blobmark.Annotation
		for range r.IntN(4) {
			anns = append(anns, &blobmark.Annotation{ID: r.Int64N(1000), TaskID: task.ID, ProjectID: task.ProjectID, CompletedBy: r.Int64N(8),
				Result: json.RawMessage(pick(results...)), WasCancelled: r.IntN(2) == 0, GroundTruth: r.IntN(2) == 0,
				LeadTime: floatAt(), CreatedAt: timeAt(), UpdatedAt: timeAt()})
		}
		var preds []*blobmark.Prediction
		for range r.IntN(3) {
			score := floatAt()
			preds = append(preds, &blobmark.Prediction{ID: r.Int64N(1000), TaskID: task.ID, ProjectID: task.ProjectID, Score: &score,
				ModelVersion: pick(names...), Result: json.RawMessage(pick(results...)), CreatedAt: timeAt()})
		}
		want, err := encodeTaskJSON(task, anns, preds, users)
		if err != nil {
			t.Fatal(err)
		}
		prefix := len(buf)
		if buf, err = AppendTaskJSON(buf, task, anns, preds, users); err != nil {
			t.Fatal(err)
		}
		if got := buf[prefix:]; !bytes.Equal(got, want) {
			t.Fatalf("item %d\n got %s\nwant %s", i, got, want)
		}
		if i%100 == 0 {
			buf = buf[:0]
		}
	}
}

// TestAppendCompactMatchesEncodingJSON checks appendCompact against the
// compaction encoding/json does, on values whose strings hold what looks
// like whitespace and structure.
func TestAppendCompactMatchesEncodingJSON(t *testing.T) {
	for _, in := range []string{`1`, " \"a b\" ", "{ \"a\\\" \" :\t[ 1 ,\n2 ] , \"b\\\\\" : { } }", "[\r\n]", `"\u0020 \\ "`} {
		var want bytes.Buffer
		if err := json.Compact(&want, []byte(in)); err != nil {
			t.Fatal(err)
		}
		if got := appendCompact([]byte("x"), []byte(in)); string(got) != "x"+want.String() {
			t.Errorf("appendCompact(%q) = %q, want %q", in, got[1:], want.String())
		}
	}
}

// TestScalarsMatchTheirFormerEncoding holds the digit-by-digit writers of
// floats, times and result_count to what they replaced: encoding/json's
// float64 with ".0" added, time.Format with Django's layouts, and the
// length of the result decoded as a list.
func TestScalarsMatchTheirFormerEncoding(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 100000 {
		v := math.Float64frombits(r.Uint64())
		if i%2 == 0 {
			v = float64(r.Int64N(1e6)) / float64(int64(1)<<r.IntN(40))
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		want, _ := json.Marshal(v)
		if !bytes.ContainsAny(want, ".eE") {
			want = append(want, ".0"...)
		}
		if got, _ := PyFloat(v).MarshalJSON(); !bytes.Equal(got, want) {
			t.Fatalf("PyFloat(%v) = %s, want %s", v, got, want)
		}
	}
	for range 100000 {
		tt := time.Unix(r.Int64N(1<<36)-1<<35, r.Int64N(1e9)).In(time.FixedZone("", r.IntN(50000)-25000))
		u := tt.UTC().Truncate(time.Microsecond)
		layout := `"2006-01-02T15:04:05Z"`
		if u.Nanosecond() != 0 {
			layout = `"2006-01-02T15:04:05.000000Z"`
		}
		if got, _ := Time(tt).MarshalJSON(); string(got) != u.Format(layout) {
			t.Fatalf("Time(%v) = %s, want %s", tt, got, u.Format(layout))
		}
	}
	for _, in := range []string{"[]", " [ ] ", `[1]`, `[{"a":[1,2]},"x,y",[3,{}]]`, "[ \"\\\",\" , 2 ]", `{"a":1}`, `"s"`, `3`} {
		var list []json.RawMessage
		_ = json.Unmarshal([]byte(in), &list) // not a list: none
		if got, want := regionCount(json.RawMessage(in)), len(list); got != want {
			t.Errorf("regionCount(%s) = %d, want %d", in, got, want)
		}
	}
}
