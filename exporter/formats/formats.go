package formats

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/blobmark/blobmark"
)

// Format is one export format: its Label Studio name and description,
// whether it fits a label config, and how its output is packaged.
type Format struct {
	Name        string
	Title       string
	Description string
	Link        string
	Tags        []string
	// Ext is the extension of the download's file name ("json", "zip", ...).
	Ext string
	// ContentType is the download's media type.
	ContentType string
	// needs returns why the format does not fit a config, "" when it does.
	needs func(*configShape) string
	// write writes the output; nil for JSON, which the caller writes from
	// whole task rows.
	write func(c *converter, w io.Writer) error
}

// JSON is the name of Label Studio's raw JSON export (blobmark.ExportJSON).
const JSON = blobmark.ExportJSON

const linkBase = "https://labelstud.io/guide/export.html#"

// all lists the formats in the order Label Studio offers them.
var all = []Format{
	{Name: JSON, Title: "JSON", Description: "List of items in raw JSON format stored in one JSON file. Use to export both the data and the annotations for a dataset. It's Label Studio Common Format",
		Link: linkBase + "JSON", Tags: []string{}, Ext: "json", ContentType: "application/json", needs: always},
	{Name: "JSON_MIN", Title: "JSON-MIN", Description: `List of items where only "from_name", "to_name" values from the raw JSON format are exported. Use to export only the annotations for a dataset.`,
		Link: linkBase + "JSON-MIN", Tags: []string{}, Ext: "json", ContentType: "application/json", needs: always, write: writeJSONMin},
	{Name: "CSV", Title: "CSV", Description: "Results are stored as comma-separated values with the column names specified by the values of the \"from_name\" and \"to_name\" fields.",
		Link: linkBase + "CSV", Tags: []string{}, Ext: "csv", ContentType: "text/csv", needs: always, write: writeCSV(',')},
	{Name: "TSV", Title: "TSV", Description: "Results are stored in tab-separated tabular file with column names specified by \"from_name\" \"to_name\" values",
		Link: linkBase + "TSV", Tags: []string{}, Ext: "tsv", ContentType: "text/tab-separated-values", needs: always, write: writeCSV('\t')},
	{Name: "CONLL2003", Title: "CONLL2003", Description: "Popular format used for the CoNLL-2003 named entity recognition challenge.",
		Link: linkBase + "CONLL2003", Tags: []string{"text", "sequence labeling", "named entity recognition"}, Ext: "conll", ContentType: "text/plain", needs: needsCoNLL, write: writeCoNLL},
	{Name: "COCO", Title: "COCO", Description: "Popular machine learning format used by the COCO dataset for object detection and image segmentation tasks with polygons and rectangles.",
		Link: linkBase + "COCO", Tags: []string{"image segmentation", "object detection"}, Ext: "zip", ContentType: "application/zip", needs: needsDetection, write: zipped(writeCOCO)},
	{Name: "VOC", Title: "Pascal VOC XML", Description: "Popular XML format used for object detection and polygon image segmentation tasks.",
		Link: linkBase + "Pascal-VOC-XML", Tags: []string{"image segmentation", "object detection"}, Ext: "zip", ContentType: "application/zip", needs: needsVOC, write: zipped(writeVOC)},
	{Name: "YOLO", Title: "YOLO", Description: "Popular TXT format is created for each image file. Each txt file contains annotations for the corresponding image file, that is object class, object coordinates, height & width.",
		Link: linkBase + "YOLO", Tags: []string{"image segmentation", "object detection"}, Ext: "zip", ContentType: "application/zip", needs: needsDetection, write: zipped(writeYOLO(false))},
	{Name: "YOLO_OBB", Title: "YOLOv8 OBB", Description: "Popular TXT format is created for each image file. Each txt file contains annotations for the corresponding image file. The YOLO OBB format designates bounding boxes by their four corner points with coordinates normalized between 0 and 1, so it is possible to export rotated objects.",
		Link: linkBase + "YOLOv8-OBB", Tags: []string{"image segmentation", "object detection"}, Ext: "zip", ContentType: "application/zip", needs: needsDetection, write: zipped(writeYOLO(true))},
	{Name: "ASR_MANIFEST", Title: "ASR Manifest", Description: "Export audio transcription labels for automatic speech recognition as the JSON manifest file used by NVIDIA NeMo models.",
		Link: linkBase + "ASR-MANIFEST", Tags: []string{"speech recognition"}, Ext: "json", ContentType: "application/json", needs: needsASR, write: writeASR},
}

// Lookup returns the format named name (case-insensitively), ok false
// when there is none.
func Lookup(name string) (Format, bool) {
	i := slices.IndexFunc(all, func(f Format) bool { return strings.EqualFold(f.Name, name) })
	if i < 0 {
		return Format{}, false
	}
	return all[i], true
}

// Offer is a format as a project's format list shows it.
type Offer struct {
	Format
	// Disabled says why the format does not fit the project's label
	// config; "" when it does.
	Disabled string
}

// Offered lists every format for a label config, those that fit first,
// each group in Label Studio's order, as its format list shows them.
func Offered(cfg *blobmark.LabelConfig) []Offer {
	shape := shapeOf(cfg)
	out := make([]Offer, 0, len(all))
	for _, f := range all {
		out = append(out, Offer{Format: f, Disabled: f.needs(shape)})
	}
	slices.SortStableFunc(out, func(a, b Offer) int {
		return boolInt(a.Disabled != "") - boolInt(b.Disabled != "")
	})
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Check returns a 400 naming export_type when name is not a format or
// does not fit the config, and the format otherwise.
func Check(name string, cfg *blobmark.LabelConfig) (Format, error) {
	f, ok := Lookup(name)
	if !ok {
		names := make([]string, len(all))
		for i, f := range all {
			names[i] = f.Name
		}
		return Format{}, blobmark.FieldErrorf("export_type", "Unknown export format %q; use one of %s.", name, strings.Join(names, ", "))
	}
	if why := f.needs(shapeOf(cfg)); why != "" {
		return Format{}, blobmark.FieldErrorf("export_type", "Export format %s does not fit this project's label config: %s", f.Name, why)
	}
	return f, nil
}

// configShape is what the format rules read of a label config.
type configShape struct {
	dataKeys int
	objects  map[string]bool // object tag types: Image, Text, Audio, ...
	controls map[string]bool // control tag types: RectangleLabels, Labels, ...
}

func shapeOf(cfg *blobmark.LabelConfig) *configShape {
	s := &configShape{objects: map[string]bool{}, controls: map[string]bool{}}
	if cfg == nil {
		return s
	}
	s.dataKeys = len(cfg.DataKeys)
	for _, t := range cfg.DataTypes {
		s.objects[t] = true
	}
	for _, c := range cfg.Controls {
		s.controls[c.Type] = true
	}
	return s
}

// The rules below are Label Studio's (its "supported formats" check): a
// format that reads one kind of object is offered only for a config with
// one data key of that kind and a control that produces what it writes.

func always(*configShape) string { return "" }

func oneKey(s *configShape) string {
	if s.dataKeys > 1 {
		return "the config reads more than one data key, and this format describes one object per task."
	}
	return ""
}

func needsDetection(s *configShape) string {
	if why := oneKey(s); why != "" {
		return why
	}
	c := s.controls
	if !s.objects["Image"] || !(c["RectangleLabels"] || c["PolygonLabels"] || c["KeyPointLabels"] ||
		(c["Rectangle"] || c["Polygon"]) && c["Labels"]) {
		return "it needs an <Image> with <RectangleLabels>, <PolygonLabels> or <KeyPointLabels>."
	}
	return ""
}

func needsVOC(s *configShape) string {
	if why := oneKey(s); why != "" {
		return why
	}
	if !s.objects["Image"] || !(s.controls["RectangleLabels"] || s.controls["Rectangle"] && s.controls["Labels"]) {
		return "it needs an <Image> with <RectangleLabels>."
	}
	return ""
}

func needsCoNLL(s *configShape) string {
	if why := oneKey(s); why != "" {
		return why
	}
	if !s.objects["Text"] || !s.controls["Labels"] {
		return "it needs a <Text> with <Labels>."
	}
	return ""
}

func needsASR(s *configShape) string {
	if why := oneKey(s); why != "" {
		return why
	}
	if !(s.objects["Audio"] || s.objects["AudioPlus"]) || !s.controls["TextArea"] {
		return "it needs an <Audio> with a <TextArea>."
	}
	return ""
}

// Options tune a conversion.
type Options struct {
	// Now stamps COCO's info.date_created and notes.json; zero means now.
	Now time.Time
}

// Write converts the tasks of src into format f and writes the result to
// w as it goes. An error can come after part of the output was written.
func Write(ctx context.Context, w io.Writer, f Format, cfg *blobmark.LabelConfig, src Source, opt Options) error {
	if f.write == nil {
		return blobmark.Errorf(blobmark.EINTERNAL, "format %s is written from task rows, not converted", f.Name)
	}
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	c := &converter{ctx: ctx, cfg: cfg, src: src, now: opt.Now}
	if cfg == nil {
		c.cfg = &blobmark.LabelConfig{}
	}
	return f.write(c, w)
}

// converter is the state of one conversion.
type converter struct {
	ctx    context.Context
	cfg    *blobmark.LabelConfig
	src    Source
	now    time.Time
	cats   *categories
	report report
}

// each calls fn for every record of every task of the source. The tasks
// are read ahead (readAhead): decoding them, most of a conversion's work,
// overlaps with converting and writing them.
func (c *converter) each(fn func(record) error) error {
	src, stop := readAhead(c.ctx, c.src)
	defer stop()
	for {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		t, err := src.Next(c.ctx)
		if errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		for _, r := range records(t) {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
}

// dataKey returns the config's data key read by an object tag of type
// typ, falling back to the first data key.
func (c *converter) dataKey(typ string) string {
	for _, k := range c.cfg.DataKeys {
		if c.cfg.DataTypes[k] == typ {
			return k
		}
	}
	return c.cfg.FirstDataKey()
}

// zipped packages a multi-file format as a zip streamed to w (zipWriter).
// Entries are written one after the other, never held whole, and a report.json lists
// what could not be converted (see report) when anything could not.
func zipped(write func(c *converter, z *zipWriter) error) func(*converter, io.Writer) error {
	return func(c *converter, w io.Writer) error {
		z, err := newZipWriter(w)
		if err != nil {
			return err
		}
		if err := write(c, z); err != nil {
			z.dir.close()
			return err
		}
		if err := c.report.writeTo(z); err != nil {
			return err
		}
		return z.Close()
	}
}

// maxReport caps the problems a report lists, so a project where every
// region lacks its image size still converts in flat memory; the count
// stays exact.
const maxReport = 1000

// report collects what a conversion left out and why, instead of
// guessing: regions without the image size a pixel format needs, files
// that two images would share.
type report struct {
	Count    int       `json:"count"`
	Problems []problem `json:"problems"`
}

type problem struct {
	Task       int64  `json:"task"`
	Annotation *int64 `json:"annotation"`
	Region     string `json:"region,omitempty"`
	Problem    string `json:"problem"`
}

func (rep *report) add(r record, region, format string, args ...any) {
	rep.Count++
	if len(rep.Problems) >= maxReport {
		return
	}
	p := problem{Task: r.task.ID, Region: region, Problem: fmt.Sprintf(format, args...)}
	if r.ann != nil {
		p.Annotation = &r.ann.ID
	}
	rep.Problems = append(rep.Problems, p)
}

func (rep *report) writeTo(z *zipWriter) error {
	if rep.Count == 0 {
		return nil
	}
	return writeJSONEntry(z, "report.json", rep)
}
