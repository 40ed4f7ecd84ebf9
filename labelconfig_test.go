package blobmark_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/blobmark/blobmark"
)

func TestParseLabelConfigDataKeys(t *testing.T) {
	tests := []struct {
		name   string
		config string
		keys   []string
		types  map[string]string
	}{
		{
			name:   "image classification",
			config: `<View><Image name="img" value="$image"/><Choices name="c" toName="img"><Choice value="Cat"/></Choices></View>`,
			keys:   []string{"image"},
			types:  map[string]string{"image": "Image"},
		},
		{
			name: "document order and duplicates",
			config: `<?xml version="1.0"?>
<!-- a comment before the root -->
<View>
  <Header value="$title"/>
  <Text name="t1" value="$text"/>
  <View><Audio name="a" value="$audio"/></View>
  <Text name="t2" value="$text"/>
  <Paragraphs name="p" value="$dialogue" layout="dialogue"/>
</View>`,
			keys:  []string{"text", "audio", "dialogue"},
			types: map[string]string{"text": "Text", "audio": "Audio", "dialogue": "Paragraphs"},
		},
		{
			name:   "video wins over audio for the same key",
			config: `<View><Audio name="a" value="$url"/><Video name="v" value="$url"/></View>`,
			keys:   []string{"url"},
			types:  map[string]string{"url": "Video"},
		},
		{
			name:   "valueList and dotted keys",
			config: `<View><Image name="imgs" valueList="$images"/><HyperText name="h" value="$page.html"/></View>`,
			keys:   []string{"images", "page.html"},
			types:  map[string]string{"images": "Image", "page.html": "HyperText"},
		},
		{
			name:   "template value takes its first variable",
			config: `<View><Text name="t" value="Review: $review by $author"/></View>`,
			keys:   []string{"review"},
			types:  map[string]string{"review": "Text"},
		},
		{
			name:   "literal values and unnamed tags are not data keys",
			config: `<View><Header value="Pick one"/><Text name="t" value="static"/><Choices name="c" toName="t"><Choice value="$"/></Choices></View>`,
			keys:   nil,
			types:  map[string]string{},
		},
		{
			name:   "html entities are accepted",
			config: `<View><Header value="a&nbsp;b"/><TimeSeries name="ts" value="$csv" valueType="url"/></View>`,
			keys:   []string{"csv"},
			types:  map[string]string{"csv": "TimeSeries"},
		},
		{
			name:   "default config",
			config: blobmark.DefaultLabelConfig,
			keys:   nil,
			types:  map[string]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := blobmark.ParseLabelConfig(tt.config)
			if err != nil {
				t.Fatalf("ParseLabelConfig: %v", err)
			}
			if !reflect.DeepEqual(c.DataKeys, tt.keys) {
				t.Errorf("DataKeys = %q, want %q", c.DataKeys, tt.keys)
			}
			if !reflect.DeepEqual(c.DataTypes, tt.types) {
				t.Errorf("DataTypes = %v, want %v", c.DataTypes, tt.types)
			}
			want := ""
			if len(tt.keys) > 0 {
				want = tt.keys[0]
			}
			if got := c.FirstDataKey(); got != want {
				t.Errorf("FirstDataKey = %q, want %q", got, want)
			}
		})
	}
}

func TestParseLabelConfigInvalid(t *testing.T) {
	tests := []struct {
		name   string
		config string
		want   string // part of the message
	}{
		{"empty", "", "must not be empty"},
		{"blank", "  \n ", "must not be empty"},
		{"not xml", "hello", "outside its <View>"},
		{"unclosed", `<View><Image name="i" value="$image">`, "not valid XML"},
		{"mismatched", `<View><Text name="t" value="$t"></View>`, "not valid XML"},
		{"bad attribute", `<View><Image name=i value="$image"/></View>`, "not valid XML"},
		{"wrong root", `<Image name="i" value="$image"/>`, "must be <View>, not <Image>"},
		{"lowercase root", `<view></view>`, "must be <View>, not <view>"},
		{"two roots", `<View></View><View></View>`, "single <View> root"},
		{"text after root", `<View></View> trailing`, "outside its <View>"},
		{"only a comment", `<!-- nothing -->`, "needs a <View> root"},
		{"unknown entity", `<View><Header value="&bogus;"/></View>`, "not valid XML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := blobmark.ParseLabelConfig(tt.config)
			if err == nil {
				t.Fatalf("ParseLabelConfig(%q) = %v, want an error", tt.config, c)
			}
			var e *blobmark.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not a *blobmark.Error", err)
			}
			if e.Code != blobmark.EINVALID || e.Field != "label_config" {
				t.Errorf("code=%q field=%q, want invalid on label_config", e.Code, e.Field)
			}
			if len(e.Fields["label_config"]) != 1 {
				t.Errorf("Fields = %v, want one label_config message", e.Fields)
			}
			if !strings.Contains(e.Message, tt.want) {
				t.Errorf("message %q does not contain %q", e.Message, tt.want)
			}
		})
	}
}

func TestLabelConfigReplaceUndefinedKey(t *testing.T) {
	c, err := blobmark.ParseLabelConfig(`<View><Image name="img" value="$image"/><Text name="t" value="$caption"/></View>`)
	if err != nil {
		t.Fatal(err)
	}
	decode := func(raw json.RawMessage) map[string]any {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("result %s is not an object: %v", raw, err)
		}
		return m
	}

	got := decode(c.ReplaceUndefinedKey(json.RawMessage(`{"$undefined$":"azure-blob://c/a.jpg","caption":"x"}`)))
	want := map[string]any{"image": "azure-blob://c/a.jpg", "caption": "x"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("replaced = %v, want %v", got, want)
	}

	for _, unchanged := range []string{
		`{"image":"a.jpg"}`,
		`{"note":"mentions \"$undefined$\" in a value only"}`,
		`["$undefined$"]`,
		`not json "$undefined$"`,
	} {
		if got := string(c.ReplaceUndefinedKey(json.RawMessage(unchanged))); got != unchanged {
			t.Errorf("ReplaceUndefinedKey(%s) = %s, want it unchanged", unchanged, got)
		}
	}

	empty, err := blobmark.ParseLabelConfig(blobmark.DefaultLabelConfig)
	if err != nil {
		t.Fatal(err)
	}
	in := `{"$undefined$":"x"}`
	if got := string(empty.ReplaceUndefinedKey(json.RawMessage(in))); got != in {
		t.Errorf("config without keys changed data: %s", got)
	}
	var nilConfig *blobmark.LabelConfig
	if got := string(nilConfig.ReplaceUndefinedKey(json.RawMessage(in))); got != in {
		t.Errorf("nil config changed data: %s", got)
	}
}

func TestParseLabelConfigControls(t *testing.T) {
	c, err := blobmark.ParseLabelConfig(`<View><Image name="img" value="$image"/>
	  <RectangleLabels name="box" toName="img"><Label value="Dog"/><Label value="Bird" category="5"/><Label value="Cat" category="x"/></RectangleLabels>
	  <Header value="not a control"/><Choices name="q" toName="img"><View><Choice value="good"/></View></Choices></View>`)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Controls) != 2 || c.Controls[0].Type != "RectangleLabels" || c.Controls[1].Name != "q" {
		t.Fatalf("controls %+v", c.Controls)
	}
	box := c.Control("box").Labels
	if len(box) != 3 || box[0].Category != nil || box[1].Category == nil || *box[1].Category != 5 || box[2].Category != nil {
		t.Fatalf("labels %+v: only a numeric category pins", box)
	}
	if q := c.Control("q").Labels; len(q) != 1 || q[0].Value != "good" {
		t.Fatalf("a choice nested in a view belongs to its control: %+v", q)
	}
}
