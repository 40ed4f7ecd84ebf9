package formats

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
)

// The expected values below are derived by hand from Label Studio's
// converter conventions (its export documentation and converter source),
// not from this package: percent × original size / 100 for pixels,
// percent / 100 for YOLO, categories = config labels sorted and numbered
// from 0 with <Label category="N"> pinned, newest annotation first,
// cancelled annotations skipped, a task without annotations one empty
// record. The derivation of each number is written next to it.

const imageConfig = `<View>
  <Image name="img" value="$image"/>
  <RectangleLabels name="box" toName="img"><Label value="Dog"/><Label value="Cat"/><Label value="Bird" category="5"/></RectangleLabels>
  <PolygonLabels name="poly" toName="img"><Label value="Cat"/></PolygonLabels>
  <KeyPointLabels name="kp" toName="img"><Label value="Nose"/></KeyPointLabels>
  <Choices name="quality" toName="img"><Choice value="good"/></Choices>
</View>`

// imageTasks: task 1 has an older annotation by ann (a 640×480 rectangle)
// and a newer one by bob (on a 640×640 image: a rectangle rotated 90°, a
// polygon, a key point), and a cancelled one; task 2 has no annotations;
// task 3 only a cancelled one; task 4 a rectangle without image size;
// task 5 a rectangle whose pixels are not whole.
const imageTasks = `[
 {"id":1,"data":{"image":"azure-blob://c/photos/a.jpg"},"annotations":[
  {"id":10,"completed_by":{"id":1,"email":"ann@example.com"},"created_at":"2024-01-01T10:00:00Z","updated_at":"2024-01-01T10:00:00Z","lead_time":1,
   "result":[{"id":"r1","from_name":"box","to_name":"img","type":"rectanglelabels","original_width":640,"original_height":480,
              "value":{"x":10,"y":20,"width":30,"height":40,"rotation":0,"rectanglelabels":["Dog"]}},
             {"id":"c1","from_name":"quality","to_name":"img","type":"choices","value":{"choices":["good"]}}]},
  {"id":11,"completed_by":{"id":2,"email":"bob@example.com"},"created_at":"2024-01-02T10:00:00Z","updated_at":"2024-01-02T10:00:00Z","lead_time":2,
   "result":[{"id":"r2","from_name":"box","to_name":"img","type":"rectanglelabels","original_width":640,"original_height":640,
              "value":{"x":50,"y":50,"width":10,"height":20,"rotation":90,"rectanglelabels":["Cat"]}},
             {"id":"p1","from_name":"poly","to_name":"img","type":"polygonlabels","original_width":640,"original_height":640,
              "value":{"points":[[10,10],[20,10],[20,30]],"polygonlabels":["Cat"]}},
             {"id":"k1","from_name":"kp","to_name":"img","type":"keypointlabels","original_width":640,"original_height":640,
              "value":{"x":50,"y":25,"width":1,"keypointlabels":["Nose"]}}]},
  {"id":12,"completed_by":1,"was_cancelled":true,"created_at":"2024-01-03T10:00:00Z","result":[]}]},
 {"id":2,"data":{"image":"azure-blob://c/photos/b.png"},"annotations":[]},
 {"id":3,"data":{"image":"azure-blob://c/photos/c.jpg"},"annotations":[{"id":14,"was_cancelled":true,"result":[]}]},
 {"id":4,"data":{"image":"azure-blob://c/photos/d.jpg"},"annotations":[
  {"id":13,"completed_by":1,"created_at":"2024-01-01T00:00:00Z","result":[{"id":"r4","from_name":"box","to_name":"img","type":"rectanglelabels",
   "value":{"x":0,"y":0,"width":50,"height":50,"rectanglelabels":["Bird"]}}]}]},
 {"id":5,"data":{"image":"azure-blob://c/photos/e.jpg"},"annotations":[
  {"id":15,"completed_by":1,"created_at":"2024-01-01T00:00:00Z","result":[{"id":"r5","from_name":"box","to_name":"img","type":"rectanglelabels",
   "original_width":1000,"original_height":500,"value":{"x":12.34,"y":56.78,"width":10,"height":10,"rectanglelabels":["Dog"]}}]}]}
]`

var fixedNow = time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC)

func convert(t *testing.T, format, config, tasks string) []byte {
	t.Helper()
	cfg, err := blobmark.ParseLabelConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Check(format, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Write(context.Background(), &out, f, cfg, DecodeJSON(strings.NewReader(tasks)), Options{Now: fixedNow}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func unzip(t *testing.T, b []byte) map[string]string {
	t.Helper()
	z, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range z.File {
		if _, dup := out[f.Name]; dup {
			t.Fatalf("zip entry %s twice", f.Name)
		}
		r, _ := f.Open()
		data, _ := io.ReadAll(r)
		out[f.Name] = string(data)
	}
	return out
}

func reportOf(t *testing.T, files map[string]string) report {
	t.Helper()
	var rep report
	if raw, ok := files["report.json"]; ok {
		if err := json.Unmarshal([]byte(raw), &rep); err != nil {
			t.Fatal(err)
		}
	}
	return rep
}

func TestCategories(t *testing.T) {
	cfg, _ := blobmark.ParseLabelConfig(imageConfig)
	// Bird is pinned to 5; the others, sorted (Cat, Dog, Nose; Cat once
	// though two controls offer it), take 0, 1, 2. Choices are no classes.
	got := newCategories(&converter{cfg: cfg}).sorted()
	want := []category{{0, "Cat"}, {1, "Dog"}, {2, "Nose"}, {5, "Bird"}}
	if !equalJSON(got, want) {
		t.Fatalf("categories %v, want %v", got, want)
	}
}

func TestCOCO(t *testing.T) {
	files := unzip(t, convert(t, "COCO", imageConfig, imageTasks))
	var got struct {
		Images      []cocoImage
		Categories  []category
		Annotations []cocoAnnotation
		Info        map[string]any
	}
	if err := json.Unmarshal([]byte(files["result.json"]), &got); err != nil {
		t.Fatal(err)
	}
	f := func(v float64) *float64 { return &v }
	// One image per record: task 1's newest annotation (11) first, then
	// 10; task 2 with no annotations; task 3 (only cancelled) none; 4; 5.
	wantImages := []cocoImage{
		{f(640), f(640), 0, "azure-blob://c/photos/a.jpg"},
		{f(640), f(480), 1, "azure-blob://c/photos/a.jpg"},
		{nil, nil, 2, "azure-blob://c/photos/b.png"},
		{nil, nil, 3, "azure-blob://c/photos/d.jpg"}, // its only region has no size
		{f(1000), f(500), 4, "azure-blob://c/photos/e.jpg"},
	}
	if !equalJSON(got.Images, wantImages) {
		t.Fatalf("images %s", mustJSON(got.Images))
	}
	if !equalJSON(got.Categories, []category{{0, "Cat"}, {1, "Dog"}, {2, "Nose"}, {5, "Bird"}}) {
		t.Fatalf("categories %v", got.Categories)
	}
	want := []cocoAnnotation{
		// r2: x = 50% × 640 = 320, y = 50% × 640 = 320, w = 10% × 640 = 64,
		// h = 20% × 640 = 128, turned 90° clockwise about (320, 320): the
		// corners go to (320,320) (320,384) (192,384) (192,320), whose hull
		// is [192, 320, 128, 64], area 128 × 64 = 8192.
		{ID: 0, ImageID: 0, CategoryID: 0, BBox: [4]float64{192, 320, 128, 64}, Area: 8192},
		// p1: (10,10) (20,10) (20,30) % of 640 = (64,64) (128,64) (128,192);
		// bbox [64, 64, 64, 128]; area = ½ × 64 × 128 = 4096.
		{ID: 1, ImageID: 0, CategoryID: 0, Segmentation: [][]float64{{64, 64, 128, 64, 128, 192}}, BBox: [4]float64{64, 64, 64, 128}, Area: 4096},
		// k1: (50% × 640, 25% × 640) = (320, 160), visible (2).
		{ID: 2, ImageID: 0, CategoryID: 2, BBox: [4]float64{320, 160, 0, 0}, Keypoints: []float64{320, 160, 2}},
		// r1 on 640×480: x = 10% × 640 = 64, y = 20% × 480 = 96,
		// w = 30% × 640 = 192, h = 40% × 480 = 192; area 36864.
		{ID: 3, ImageID: 1, CategoryID: 1, BBox: [4]float64{64, 96, 192, 192}, Area: 36864},
		// r5 on 1000×500: x = 12.34% × 1000 = 123.4, y = 56.78% × 500 = 283.9,
		// w = 10% × 1000 = 100, h = 10% × 500 = 50; area 5000.
		{ID: 4, ImageID: 4, CategoryID: 1, BBox: [4]float64{123.4, 283.9, 100, 50}, Area: 5000},
	}
	if len(got.Annotations) != len(want) {
		t.Fatalf("annotations %s", mustJSON(got.Annotations))
	}
	for i, a := range got.Annotations {
		w := want[i]
		if a.ID != w.ID || a.ImageID != w.ImageID || a.CategoryID != w.CategoryID || !near(a.BBox[:], w.BBox[:]) || !near([]float64{a.Area}, []float64{w.Area}) ||
			!near(a.Keypoints, w.Keypoints) || len(a.Segmentation) != len(w.Segmentation) || len(w.Segmentation) == 1 && !near(a.Segmentation[0], w.Segmentation[0]) {
			t.Errorf("annotation %d = %s, want %s", i, mustJSON(a), mustJSON(w))
		}
	}
	if got.Info["contributor"] != "Label Studio" || got.Info["date_created"] != "2024-02-03 04:05:06.000000" {
		t.Errorf("info %v", got.Info)
	}
	rep := reportOf(t, files)
	if rep.Count != 1 || rep.Problems[0].Task != 4 || rep.Problems[0].Region != "r4" {
		t.Errorf("report %+v: want the sizeless region of task 4", rep)
	}
}

func TestYOLO(t *testing.T) {
	files := unzip(t, convert(t, "YOLO", imageConfig, imageTasks))
	want := map[string]string{
		// Newest annotation of a.jpg (11): r2 centre ((50 + 10/2)/100,
		// (50 + 20/2)/100) = (0.55, 0.6), size (0.1, 0.2), rotation dropped;
		// p1's points / 100. Its key point has no YOLO line (reported), and
		// annotation 10 would write a.txt again (reported).
		"labels/a.txt": "0 0.55 0.6 0.1 0.2\n0 0.1 0.1 0.2 0.1 0.2 0.3\n",
		"labels/b.txt": "", // no annotations: an empty file
		// Bird (pinned 5): centre (0 + 50/2)/100 = 0.25; no size needed.
		"labels/d.txt": "5 0.25 0.25 0.5 0.5\n",
		// (12.34 + 5)/100 = 0.1734, (56.78 + 5)/100 = 0.6178.
		"labels/e.txt": "1 0.1734 0.6178 0.1 0.1\n",
		"classes.txt":  "Cat\nDog\nNose\nBird\n", // in id order
	}
	for name, body := range want {
		if got, ok := files[name]; !ok || !sameLines(got, body) {
			t.Errorf("%s = %q, want %q", name, got, body)
		}
	}
	var notes struct{ Categories []category }
	if err := json.Unmarshal([]byte(files["notes.json"]), &notes); err != nil || len(notes.Categories) != 4 {
		t.Errorf("notes.json %s (%v)", files["notes.json"], err)
	}
	if rep := reportOf(t, files); rep.Count != 2 {
		t.Errorf("report %+v: want the key point and the second a.txt", rep)
	}
	if len(files) != 7 { // 4 labels, classes, notes, report; no c.txt
		t.Errorf("files %v", keys(files))
	}
}

func TestYOLOOBB(t *testing.T) {
	files := unzip(t, convert(t, "YOLO_OBB", imageConfig, imageTasks))
	// r2's pixel corners (see TestCOCO) / 640: (0.5,0.5) (0.5,0.6)
	// (0.3,0.6) (0.3,0.5), clockwise from the top-left corner.
	if got := strings.SplitN(files["labels/a.txt"], "\n", 2)[0]; !sameLines(got, "0 0.5 0.5 0.5 0.6 0.3 0.6 0.3 0.5") {
		t.Errorf("a.txt first line %q", got)
	}
	// Unrotated, without image size: corners in percent / 100.
	if got := files["labels/d.txt"]; !sameLines(got, "5 0 0 0.5 0 0.5 0.5 0 0.5\n") {
		t.Errorf("d.txt %q", got)
	}
}

func TestVOC(t *testing.T) {
	files := unzip(t, convert(t, "VOC", imageConfig, imageTasks))
	// a.jpg from annotation 11 (newest): r2 with rotation ignored:
	// xmin = 50% × 640 = 320, ymin = 320, xmax = 60% × 640 = 384,
	// ymax = 70% × 640 = 448. b.png has no rectangle, d.jpg only a sizeless
	// one (reported), so neither gets a file.
	a := files["Annotations/a.xml"]
	for _, s := range []string{"<filename>a.jpg</filename>", "<annotator>bob@example.com</annotator>", "<width>640</width>", "<height>640</height>", "<depth>3</depth>",
		"<name>Cat</name>", "<pose>Unspecified</pose>", "<xmin>320</xmin>", "<ymin>320</ymin>", "<xmax>384</xmax>", "<ymax>448</ymax>", "<segmented>0</segmented>"} {
		if !strings.Contains(a, s) {
			t.Errorf("a.xml lacks %s:\n%s", s, a)
		}
	}
	// e.jpg: 12.34% × 1000 = 123.4 → 123, 56.78% × 500 = 283.9 → 283,
	// 22.34% × 1000 = 223.4 → 223, 66.78% × 500 = 333.9 → 333 (truncated).
	e := files["Annotations/e.xml"]
	for _, s := range []string{"<xmin>123</xmin>", "<ymin>283</ymin>", "<xmax>223</xmax>", "<ymax>333</ymax>"} {
		if !strings.Contains(e, s) {
			t.Errorf("e.xml lacks %s:\n%s", s, e)
		}
	}
	if len(files) != 3 || reportOf(t, files).Count != 2 {
		t.Errorf("files %v, report %+v", keys(files), reportOf(t, files))
	}
}

const textConfig = `<View><Text name="text" value="$text"/>
  <Labels name="ner" toName="text"><Label value="PER"/><Label value="LOC"/></Labels>
  <Choices name="sentiment" toName="text"><Choice value="pos"/><Choice value="neg"/></Choices></View>`

const textTasks = `[
 {"id":1,"data":{"text":"Ada Lovelace lives in London."},"annotations":[
  {"id":20,"completed_by":{"id":1,"email":"ann@example.com"},"created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z","lead_time":2.5,
   "result":[{"id":"s1","from_name":"ner","to_name":"text","type":"labels","value":{"start":0,"end":12,"text":"Ada Lovelace","labels":["PER"]}},
             {"id":"s2","from_name":"ner","to_name":"text","type":"labels","value":{"start":22,"end":28,"text":"London","labels":["LOC"]}},
             {"id":"c1","from_name":"sentiment","to_name":"text","type":"choices","value":{"choices":["pos"]}}]}]},
 {"id":2,"data":{"text":"Nothing here"},"annotations":[]}
]`

func TestJSONMin(t *testing.T) {
	got := convert(t, "JSON_MIN", textConfig, textTasks)
	// Data keys, id, one key per control (a single choice becomes its
	// value), then the annotation's fields; null for a task without one.
	want := `[{"text":"Ada Lovelace lives in London.","id":1,` +
		`"ner":[{"start":0,"end":12,"text":"Ada Lovelace","labels":["PER"]},{"start":22,"end":28,"text":"London","labels":["LOC"]}],` +
		`"sentiment":"pos","annotator":"ann@example.com","annotation_id":20,"created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z","lead_time":2.5},` +
		`{"text":"Nothing here","id":2,"annotator":null,"annotation_id":null,"created_at":null,"updated_at":null,"lead_time":null}]`
	if string(got) != want {
		t.Fatalf("JSON_MIN\n got %s\nwant %s", got, want)
	}
}

func TestCSVAndTSV(t *testing.T) {
	// Sorted union of keys; numbers bare, strings quoted, lists as quoted
	// JSON, nulls and missing keys empty.
	ner := `"[{""start"":0,""end"":12,""text"":""Ada Lovelace"",""labels"":[""PER""]},{""start"":22,""end"":28,""text"":""London"",""labels"":[""LOC""]}]"`
	header := []string{`"annotation_id"`, `"annotator"`, `"created_at"`, `"id"`, `"lead_time"`, `"ner"`, `"sentiment"`, `"text"`, `"updated_at"`}
	row1 := []string{"20", `"ann@example.com"`, `"2024-01-01T00:00:00Z"`, "1", "2.5", ner, `"pos"`, `"Ada Lovelace lives in London."`, `"2024-01-01T00:00:00Z"`}
	row2 := []string{"", "", "", "2", "", "", "", `"Nothing here"`, ""}
	for format, sep := range map[string]string{"CSV": ",", "TSV": "\t"} {
		want := strings.Join(header, sep) + "\n" + strings.Join(row1, sep) + "\n" + strings.Join(row2, sep) + "\n"
		if got := string(convert(t, format, textConfig, textTasks)); got != want {
			t.Errorf("%s\n got %q\nwant %q", format, got, want)
		}
	}
}

func TestCSVRenamesCollidingDataKey(t *testing.T) {
	cfg := `<View><Text name="text" value="$text"/><Choices name="label" toName="text"><Choice value="a"/></Choices></View>`
	got := string(convert(t, "CSV", cfg, `[{"id":1,"data":{"text":"t","label":"from data"},"annotations":[]}]`))
	if !strings.HasPrefix(got, `"_data_label","annotation_id"`) || !strings.Contains(got, `"from data"`) {
		t.Fatalf("CSV %q", got)
	}
}

func TestCoNLL(t *testing.T) {
	// Tokens: Ada[0,3) Lovelace[4,12) lives in London[22,28) "."; spans
	// PER [0,12) and LOC [22,28) give B-PER I-PER O O B-LOC O.
	want := "-DOCSTART- -X- O\n" +
		"Ada -X- _ B-PER\nLovelace -X- _ I-PER\nlives -X- _ O\nin -X- _ O\nLondon -X- _ B-LOC\n. -X- _ O\n\n" +
		"Nothing -X- _ O\nhere -X- _ O\n\n"
	if got := string(convert(t, "CONLL2003", textConfig, textTasks)); got != want {
		t.Fatalf("CoNLL\n got %q\nwant %q", got, want)
	}
}

func TestASRManifest(t *testing.T) {
	cfg := `<View><Audio name="audio" value="$audio"/><TextArea name="transcription" toName="audio"/></View>`
	tasks := `[{"id":1,"data":{"audio":"azure-blob://c/a.wav"},"annotations":[{"id":30,"completed_by":{"id":3,"email":"c@example.com"},
	  "result":[{"id":"t","from_name":"transcription","to_name":"audio","type":"textarea","original_length":3.5,"value":{"text":["hello world"]}}]}]},
	 {"id":2,"data":{"audio":"azure-blob://c/b.wav"},"annotations":[]}]`
	want := `{"audio_filepath":"azure-blob://c/a.wav","duration":3.5,"text":"hello world","annotator":"c@example.com"}` + "\n"
	if got := string(convert(t, "ASR_MANIFEST", cfg, tasks)); got != want {
		t.Fatalf("manifest %q", got)
	}
}

func TestOfferedAndCheck(t *testing.T) {
	text, _ := blobmark.ParseLabelConfig(textConfig)
	offers := Offered(text)
	var enabled, disabled []string
	for i, o := range offers {
		if o.Disabled == "" {
			if len(disabled) > 0 {
				t.Fatalf("enabled %s after a disabled one at %d", o.Name, i)
			}
			enabled = append(enabled, o.Name)
		} else {
			disabled = append(disabled, o.Name)
		}
	}
	if strings.Join(enabled, " ") != "JSON JSON_MIN CSV TSV CONLL2003" || strings.Join(disabled, " ") != "COCO VOC YOLO YOLO_OBB ASR_MANIFEST" {
		t.Fatalf("text project offers %v, disables %v", enabled, disabled)
	}
	if _, err := Check("coco", text); blobmark.ErrorCode(err) != blobmark.EINVALID || !strings.Contains(blobmark.ErrorMessage(err), "Image") {
		t.Errorf("COCO for a text project: %v", err)
	}
	if _, err := Check("PNG", text); blobmark.ErrorCode(err) != blobmark.EINVALID || !strings.Contains(blobmark.ErrorMessage(err), "PNG") {
		t.Errorf("unknown format: %v", err)
	}
	// KeyPointLabels alone qualify for COCO and YOLO; two data keys leave
	// only the tabular formats.
	kp, _ := blobmark.ParseLabelConfig(`<View><Image name="i" value="$image"/><KeyPointLabels name="k" toName="i"><Label value="a"/></KeyPointLabels></View>`)
	if _, err := Check("YOLO", kp); err != nil {
		t.Errorf("YOLO with key points: %v", err)
	}
	two, _ := blobmark.ParseLabelConfig(`<View><Image name="i" value="$image"/><Image name="j" value="$other"/><RectangleLabels name="r" toName="i"><Label value="a"/></RectangleLabels></View>`)
	if _, err := Check("COCO", two); err == nil {
		t.Error("COCO with two images")
	}
}

func equalJSON(a, b any) bool { return bytes.Equal(mustJSON(a), mustJSON(b)) }

func near(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-9 {
			return false
		}
	}
	return true
}

// sameLines compares YOLO lines number by number within rounding, as
// 0.1734 may print as 0.17340000000000003.
func sameLines(got, want string) bool {
	g, w := strings.Fields(got), strings.Fields(want)
	if len(g) != len(w) || strings.Count(got, "\n") != strings.Count(want, "\n") {
		return false
	}
	for i := range g {
		var x, y float64
		if json.Unmarshal([]byte(g[i]), &x) != nil || json.Unmarshal([]byte(w[i]), &y) != nil {
			if g[i] != w[i] {
				return false
			}
			continue
		}
		if math.Abs(x-y) > 1e-9 {
			return false
		}
	}
	return true
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
