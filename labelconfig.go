package blobmark

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode"
)

// DefaultLabelConfig is the label config of a project created without one,
// as in Label Studio.
const DefaultLabelConfig = "<View></View>"

// LabelConfig is what blobmark needs to know of a project's label config
// (Label Studio's XML labeling interface). It is parsed just far enough to
// know which task data keys the interface reads; the annotator in the
// browser does the rest.
type LabelConfig struct {
	// DataKeys are the task data keys the config reads ($key in a tag's
	// value or valueList attribute), in document order, without duplicates.
	DataKeys []string
	// DataTypes maps each data key to the tag that reads it (Image, Text,
	// Audio, ...). When several tags read one key, Video wins, then the first.
	DataTypes map[string]string
	// Controls are the control tags (those with a toName: RectangleLabels,
	// Choices, TextArea, ...) in document order, with the labels each
	// offers. Exports read them to decide which formats fit a project and
	// how categories are numbered.
	Controls []ControlTag
}

// ControlTag is one control tag of a label config.
type ControlTag struct {
	// Type is the tag name: "RectangleLabels", "Choices", "TextArea", ...
	Type string
	// Name is the tag's name attribute, the from_name of its results.
	Name string
	// Labels are the values of its <Label> and <Choice> children, in order.
	Labels []ConfigLabel
}

// ConfigLabel is one <Label> or <Choice> of a control tag.
type ConfigLabel struct {
	Value string
	// Category is the label's category attribute, which pins its id in
	// COCO and YOLO exports; nil when the label has none or it is not a
	// non-negative integer.
	Category *int
}

// ParseLabelConfig parses a label config. It returns an EINVALID *Error on
// field label_config when s is not well-formed XML with a single <View> root.
func ParseLabelConfig(s string) (*LabelConfig, error) {
	if strings.TrimSpace(s) == "" {
		return nil, FieldErrorf("label_config", "The label config must not be empty; it needs a <View> root element.")
	}
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = true
	// Configs often carry HTML entities such as &nbsp; inside <Header> or
	// <Style> text; the browser understands them, so must we.
	d.Entity = xml.HTMLEntity

	c := &LabelConfig{DataTypes: map[string]string{}}
	depth, rootSeen := 0, false
	// control is the index in c.Controls of the control tag being read and
	// controlDepth its depth, so <Label> children find their tag.
	control, controlDepth := -1, 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, FieldErrorf("label_config", "The label config is not valid XML: %s (line %d).", se.Msg, se.Line)
			}
			return nil, FieldErrorf("label_config", "The label config is not valid XML: %v.", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				if rootSeen {
					return nil, FieldErrorf("label_config", "The label config must have a single <View> root element; found <%s> after it.", t.Name.Local)
				}
				if t.Name.Local != "View" || t.Name.Space != "" {
					return nil, FieldErrorf("label_config", "The root element of the label config must be <View>, not <%s>.", qualifiedName(t.Name))
				}
				rootSeen = true
			}
			depth++
			c.addElement(t)
			if control < 0 && attr(t, "toName") != "" && attr(t, "name") != "" {
				c.Controls = append(c.Controls, ControlTag{Type: t.Name.Local, Name: attr(t, "name")})
				control, controlDepth = len(c.Controls)-1, depth
			} else if control >= 0 && (t.Name.Local == "Label" || t.Name.Local == "Choice") {
				c.Controls[control].Labels = append(c.Controls[control].Labels, ConfigLabel{Value: attr(t, "value"), Category: category(attr(t, "category"))})
			}
		case xml.EndElement:
			if depth == controlDepth {
				control, controlDepth = -1, 0
			}
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return nil, FieldErrorf("label_config", "The label config has text outside its <View> root element.")
			}
		}
	}
	if !rootSeen {
		return nil, FieldErrorf("label_config", "The label config needs a <View> root element.")
	}
	return c, nil
}

// attr returns the value of an element's attribute, "" when absent.
func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// category parses a <Label category="N"> pin.
func category(s string) *int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return nil
	}
	return &n
}

func qualifiedName(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

// addElement records the data keys of one element. Like Label Studio, only
// named tags count: <Header value="$title"/> shows data but is not an
// object tag, so it must not decide where "$undefined$" data goes.
func (c *LabelConfig) addElement(t xml.StartElement) {
	var name string
	var values []string
	for _, a := range t.Attr {
		switch a.Name.Local {
		case "name":
			name = a.Value
		case "value", "valueList":
			values = append(values, a.Value)
		}
	}
	if name == "" {
		return
	}
	for _, v := range values {
		key := dataKeyOf(v)
		if key == "" {
			continue
		}
		prev, seen := c.DataTypes[key]
		if !seen {
			c.DataKeys = append(c.DataKeys, key)
		}
		if !seen || (prev != "Video" && t.Name.Local == "Video") {
			c.DataTypes[key] = t.Name.Local
		}
	}
}

// dataKeyOf returns the data key a value attribute refers to: the whole
// value after "$" when it starts with one ("$image", "$meta.url"), else the
// first $variable inside a template such as "Doc: $title". "" when none.
func dataKeyOf(v string) string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "$") {
		if k := v[1:]; k != "" && !strings.ContainsFunc(k, unicode.IsSpace) {
			return k
		}
	}
	for i := 0; i < len(v); i++ {
		if v[i] != '$' {
			continue
		}
		j := i + 1
		for j < len(v) && isWordByte(v[j]) {
			j++
		}
		if j > i+1 {
			return v[i+1 : j]
		}
	}
	return ""
}

func isWordByte(b byte) bool {
	return b == '_' || '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}

// FirstDataKey returns the first data key of the config, or "" when it has none.
func (c *LabelConfig) FirstDataKey() string {
	if c == nil || len(c.DataKeys) == 0 {
		return ""
	}
	return c.DataKeys[0]
}

// ReplaceUndefinedKey returns task data with the UndefinedDataKey placeholder
// renamed to the config's first data key, as Label Studio presents tasks
// imported before the config named a key. Data without the placeholder, a
// config without data keys, or data that is not a JSON object come back
// unchanged.
func (c *LabelConfig) ReplaceUndefinedKey(data json.RawMessage) json.RawMessage {
	key := c.FirstDataKey()
	if key == "" || !bytes.Contains(data, []byte(`"`+UndefinedDataKey+`"`)) {
		return data
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return data
	}
	v, ok := m[UndefinedDataKey]
	if !ok {
		return data
	}
	delete(m, UndefinedDataKey)
	m[key] = v
	out, err := json.Marshal(m)
	if err != nil {
		return data
	}
	return out
}

// Control returns the control tag named name, or nil.
func (c *LabelConfig) Control(name string) *ControlTag {
	if c == nil {
		return nil
	}
	for i := range c.Controls {
		if c.Controls[i].Name == name {
			return &c.Controls[i]
		}
	}
	return nil
}
