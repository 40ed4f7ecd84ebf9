package formats

import (
	"encoding/json"
	"encoding/xml"
)

type vocAnnotation struct {
	XMLName   xml.Name    `xml:"annotation"`
	Folder    string      `xml:"folder"`
	Filename  string      `xml:"filename"`
	Source    vocSource   `xml:"source"`
	Owner     vocOwner    `xml:"owner"`
	Size      vocSize     `xml:"size"`
	Segmented int         `xml:"segmented"`
	Objects   []vocObject `xml:"object"`
}

type vocSource struct {
	Database   string `xml:"database"`
	Annotation string `xml:"annotation"`
	Image      string `xml:"image"`
	FlickrID   string `xml:"flickrid"`
	Annotator  string `xml:"annotator"`
}

type vocOwner struct {
	FlickrID string `xml:"flickrid"`
	Name     string `xml:"name"`
}

type vocSize struct {
	Width  int `xml:"width"`
	Height int `xml:"height"`
	Depth  int `xml:"depth"`
}

type vocObject struct {
	Name      string `xml:"name"`
	Pose      string `xml:"pose"`
	Truncated int    `xml:"truncated"`
	Difficult int    `xml:"difficult"`
	BndBox    struct {
		XMin int `xml:"xmin"`
		YMin int `xml:"ymin"`
		XMax int `xml:"xmax"`
		YMax int `xml:"ymax"`
	} `xml:"bndbox"`
}

// writeVOC writes Annotations/<image stem>.xml for each record with a
// rectangle, as the converter's Pascal VOC: the size is the first sized
// region's original_width/original_height with depth 3, each rectangle an
// object whose box is in pixels truncated toward zero, rotation ignored.
// A rectangle without the image size is left out and reported, as is a
// second record for an image already written (the newest annotation is
// kept; see writeYOLO).
func writeVOC(c *converter, z *zipWriter) error {
	key := c.dataKey("Image")
	return c.each(func(r record) error {
		file := baseName(dataString(r.task, key))
		doc := vocAnnotation{Folder: "images", Filename: file,
			Source: vocSource{Database: "MyDatabase", Annotation: "COCO2017", Image: "flickr", FlickrID: "NULL"},
			Owner:  vocOwner{FlickrID: "NULL", Name: "Label Studio"}, Size: vocSize{Depth: 3}}
		if r.ann != nil {
			var email string
			if json.Unmarshal(r.ann.annotator(), &email) != nil {
				email = string(r.ann.annotator())
			}
			doc.Source.Annotator = email
		}
		for _, reg := range r.regions(c) {
			g, k, label := reg.shape()
			if k != kindRectangle {
				continue
			}
			w, h, ok := reg.size()
			if !ok {
				c.report.add(r, reg.ID, "rectangle has no original_width/original_height, so its pixel box is unknown; left out")
				continue
			}
			if len(doc.Objects) == 0 {
				doc.Size.Width, doc.Size.Height = int(w), int(h)
			}
			o := vocObject{Name: label, Pose: "Unspecified"}
			o.BndBox.XMin, o.BndBox.YMin = int(g.X*w/100), int(g.Y*h/100)
			o.BndBox.XMax, o.BndBox.YMax = int((g.X+g.Width)*w/100), int((g.Y+g.Height)*h/100)
			doc.Objects = append(doc.Objects, o)
		}
		if len(doc.Objects) == 0 {
			return nil
		}
		name := "Annotations/" + stem(file) + ".xml"
		if dup, err := z.has(name); err != nil || dup {
			if dup {
				c.report.add(r, "", "%s was already written for a newer annotation or another image with the same file name; left out", name)
			}
			return err
		}
		b, err := xml.MarshalIndent(doc, "", "  ")
		if err != nil {
			return err
		}
		return z.WriteFile(name, append(append([]byte(xml.Header), b...), '\n'))
	})
}
