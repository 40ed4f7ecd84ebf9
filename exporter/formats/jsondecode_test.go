package formats

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/lswire"
)

// decodeAll reads every task of src.
func decodeAll(src Source) ([]*Task, error) {
	var out []*Task
	for {
		t, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return out, err
		}
		out = append(out, t)
	}
}

// decodeWithEncodingJSON is the reference DecodeJSON must agree with:
// encoding/json's Decoder, item by item, as the export was read before.
func decodeWithEncodingJSON(in string) ([]*Task, error) {
	d := json.NewDecoder(strings.NewReader(in))
	if tok, err := d.Token(); errors.Is(err, io.EOF) {
		return nil, nil
	} else if err != nil || tok != json.Delim('[') {
		return nil, fmt.Errorf("not an array: %v", err)
	}
	var out []*Task
	for d.More() {
		var t Task
		if err := d.Decode(&t); err != nil {
			return out, err
		}
		out = append(out, &t)
	}
	return out, nil
}

// exportItems returns n items as the JSON export writes them, with
// annotations of every kind of region and annotator.
func exportItems(t *testing.T, r *rand.Rand, n int) []string {
	results := []string{"", "[]", `[{"id":"a","from_name":"label","to_name":"image","type":"rectanglelabels","original_width":1280,` +
		`"original_height":960,"image_rotation":0,"value":{"x":1.5,"y":10,"width":20.5,"height":12.25,"rotation":0,"rectanglelabels":["Cat"]}}]`,
		`[{"id":"p","from_name":"poly","to_name":"image","type":"polygonlabels","original_width":null,"value":{"points":[[1,2],[3.5,4e-7]],"polygonlabels":["Dog \"big\""]}},` +
			`{"id":"t","from_name":"txt","to_name":"audio","type":"textarea","original_length":12.5,"value":{"text":["é \u2028 <b>"]},"meta":{"x":[{}]}}]`,
		`[{"id":"\u00e9\\n","from_name":"label","type":"labels","value":{"start":0,"end":3,"labels":["A"]}}]`}
	users := map[int64]*blobmark.User{1: {ID: 1, Email: "ada@example.com", FirstName: "Ada"}, 2: {ID: 2, Email: `q"uote`}}
	var out []string
	for i := range n {
		task := &blobmark.Task{ID: int64(i + 1), ProjectID: 1, Data: json.RawMessage(fmt.Sprintf(`{"image":"azure-blob://c/%d.jpg","n":[1,{"a":"]"}]}`, i)),
			Meta: json.RawMessage(`{"k":"v"}`), CreatedAt: time.Unix(r.Int64N(2e9), r.Int64N(1e9))}
		var anns []*blobmark.Annotation
		for j := range r.IntN(4) {
			anns = append(anns, &blobmark.Annotation{ID: int64(10*i + j), TaskID: task.ID, CompletedBy: r.Int64N(3), WasCancelled: r.IntN(3) == 0,
				Result: json.RawMessage(results[r.IntN(len(results))]), LeadTime: r.Float64() * 100, CreatedAt: time.Unix(r.Int64N(2e9), r.Int64N(1e9))})
		}
		score := 0.5
		preds := []*blobmark.Prediction{{ID: int64(i), TaskID: task.ID, Score: &score, Result: json.RawMessage(results[r.IntN(len(results))])}}
		b, err := lswire.TaskJSON(task, anns, preds[:r.IntN(2)], users)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// TestDecodeJSONMatchesEncodingJSON: the export's own items take the fast
// path (but for escaped strings), and every input, the export's or edited by hand into what the fast
// path leaves to encoding/json, decodes to the same tasks or fails alike,
// read whole, in halves of each read or a byte at a time.
func TestDecodeJSONMatchesEncodingJSON(t *testing.T) {
	items := exportItems(t, rand.New(rand.NewPCG(5, 6)), 300)
	for _, item := range items {
		var got Task
		// Escapes in strings the converter reads are left to encoding/json.
		if n, ok := decodeTask([]byte(item), &got); !strings.Contains(item, "\\") && (!ok || n != len(item)) {
			t.Fatalf("an item of the JSON export does not take the fast path: %s", item)
		}
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, []byte(items[0]), " ", "\t"); err != nil {
		t.Fatal(err)
	}
	edited := []string{
		indented.String(),
		`{"ID":7,"Data":{"x":1},"annotations":[{"Id":3,"result":[{"FROM_NAME":"a","value":{}}]}]}`,
		`{"id":7,"id":8,"data":{},"data":{"y":2}}`,
		`{"id":1,"annotations":[{"id":2,"result":[{"id":"x","value":{},"id":"y"}],"lead_time":1,"lead_time":2}]}`,
		`{"id":null,"data":null,"annotations":null}`,
		`{"id":1,"annotations":[{"id":null,"completed_by":null,"result":null,"was_cancelled":null,"created_at":null,"lead_time":null}]}`,
		`{"id":1,"annotations":[{"id":2,"result":[{"id":null,"original_width":null,"original_height":3,"value":null}]}]}`,
		`{"id":1,"annotations":[]}`, `{}`, `{"data":{"a":"b"},"other":[1,{"id":2}],"id":5}`,
		`{"id":1e3}`, `{"id":1.0}`, `{"id":"1"}`, `{"id":-0}`, `{"id":123456789012345678901}`, `{"id":1,"annotations":[{"lead_time":"1"}]}`,
		`{"id":1,"annotations":[{"lead_time":1e400}]}`, `{"id":1,"annotations":[{"lead_time":-2.5E-3}]}`,
		`{"id":1,"annotations":[{"created_at":"2021-03-09T22:16:08.728353Z","updated_at":"2021-03-09T23:16:08+01:00"}]}`,
		`{"id":1,"annotations":[{"created_at":"yesterday"}]}`, `{"id":1,"annotations":[{"created_at":12}]}`,
		`{"id":1,"annotations":[{"was_cancelled":1}]}`, `{"id":1,"annotations":[null]}`, `{"id":1,"annotations":[{"result":[null]}]}`,
		`{"id":1,"annotations":[{"result":[{"type":"a\"b","to_name":"\u0041","from_name":"\ud800"}]}]}`,
		`{"id":1,"annotations":[{"result":[{"type":"` + "\xff" + `"}]}]}`, `{"ſd":4,"İd":5}`,
		`[1]`, `3`, `"s"`, `null`, `{"id":1,}`, `{"id":1`, `{"id":1}}`,
	}
	cases := []string{"", "[]", " [ ] ", "[" + strings.Join(items, ",") + "]", "\n[\n" + strings.Join(items[:5], " ,\n") + "\n]\n",
		"{}", "[", "[{}", "[{},", "[{} {}]", "[{}]garbage"}
	for _, e := range edited {
		cases = append(cases, "["+items[1]+","+e+"]")
	}
	for _, in := range cases {
		want, wantErr := decodeWithEncodingJSON(in)
		for _, r := range []io.Reader{strings.NewReader(in), iotest.HalfReader(strings.NewReader(in)), iotest.OneByteReader(strings.NewReader(in))} {
			got, err := decodeAll(DecodeJSON(r))
			if (err != nil) != (wantErr != nil) || !reflect.DeepEqual(got, want) {
				t.Fatalf("%.300s\n got %v, %v\nwant %v, %v", in, tasksString(got), err, tasksString(want), wantErr)
			}
		}
	}
}

func tasksString(ts []*Task) string {
	b, _ := json.Marshal(ts)
	return string(b)
}

// TestOnePassDecodersMatchEncodingJSON holds the one-pass readers of a
// result, a region value and a data key to what json.Unmarshal gives.
func TestOnePassDecodersMatchEncodingJSON(t *testing.T) {
	values := []string{`{}`, `null`, `[]`, `3`, `"s"`, `{"x":1.5,"y":-2,"width":20.5,"height":null,"rotation":90,"rectanglelabels":["Cat","Dog"]}`,
		`{"points":[[1,2],[3.5,4e-7],null,[null,1]],"polygonlabels":["a"],"closed":true}`, `{"x":1,"y":2,"keypointlabels":["k"],"width":0.5}`,
		`{"start":0,"end":"12","labels":["L"],"text":["t"]}`, `{"X":1,"Width":3}`, `{"x":1,"x":2}`, `{"labels":["\u00e9"]}`, `{"labels":[1]}`,
		`{"points":[[1,"2"]]}`, `{"start":{"a":[1]},"end":null,"extra":{"points":[1]}}`, `{"x":1 ,"y":2}`, `{"width":1e400}`, `{"x":01}`}
	for _, v := range values {
		var want struct {
			geometry
			Width, Height *float64
		}
		wantErr := json.Unmarshal([]byte(v), &want)
		var got geometry
		var w, h *float64
		if decodeGeometry([]byte(v), &got, &w, &h) {
			want.geometry.Width, want.geometry.Height = 0, 0
			if wantErr != nil || !reflect.DeepEqual(got, want.geometry) || !reflect.DeepEqual(w, want.Width) || !reflect.DeepEqual(h, want.Height) {
				t.Errorf("decodeGeometry(%s) = %+v %v %v, want %+v %v %v (%v)", v, got, w, h, want.geometry, want.Width, want.Height, wantErr)
			}
		}
	}
	results := []string{"", "null", "[]", " [] ", `[{"id":"a","from_name":"f","to_name":"t","type":"x","value":{"x":1},"original_width":10,"original_height":null}]`,
		`[{"id":"a"},null]`, `[{"ID":"a"}]`, `[{"id":"a\"b"}]`, `{"id":"a"}`, `[1]`, `[{"id":"a"}]x`}
	for _, r := range results {
		var want []Region
		wantErr := json.Unmarshal([]byte(r), &want)
		got, err := DecodeRegions([]byte(r))
		if (err != nil) != (wantErr != nil) || err == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("DecodeRegions(%s) = %+v, %v; want %+v, %v", r, got, err, want, wantErr)
		}
	}
	for _, data := range []string{`{"image":"a.jpg"}`, `{"x":1,"image":"b.jpg","y":[{"image":"no"}]}`, `{"image":null}`, `{"image":3}`,
		`{"image":"c\/d.jpg"}`, `{"Image":"e.jpg"}`, `{"image":"f.jpg","image":"g.jpg"}`, `{}`, `null`, `[]`, `"image"`, `{"other":"h"}`, ` {"image":"i.jpg"} `} {
		var m map[string]json.RawMessage
		var want string
		if json.Unmarshal([]byte(data), &m) == nil && json.Unmarshal(m["image"], &want) != nil {
			want = ""
		}
		if got := dataString(&Task{Data: json.RawMessage(data)}, "image"); got != want {
			t.Errorf("dataString(%s) = %q, want %q", data, got, want)
		}
	}
}
