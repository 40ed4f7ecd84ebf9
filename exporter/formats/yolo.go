package formats

import (
	"strconv"
	"strings"
)

// writeYOLO writes labels/<image stem>.txt per record, classes.txt and
// notes.json, as the converter's YOLO does. Coordinates are Label
// Studio's percentages divided by 100, which needs no image size. A
// rectangle is "class x_center y_center width height" with its rotation
// dropped, or with obb "class x1 y1 x2 y2 x3 y3 x4 y4", its corners
// clockwise from the top-left one (rotated in pixels when the region
// carries the image size); a polygon is "class x1 y1 x2 y2 …". Key points
// have no YOLO detection line and are listed in report.json. A task
// without annotations gets an empty file.
//
// The converter overwrites the file of an image met twice, so the last
// (oldest) annotation would win by accident; a zip cannot overwrite, so
// blobmark keeps the first, the newest annotation, and reports the rest.
func writeYOLO(obb bool) func(*converter, *zipWriter) error {
	return func(c *converter, z *zipWriter) error {
		c.cats = newCategories(c)
		key := c.dataKey("Image")
		err := c.each(func(r record) error {
			name := "labels/" + stem(baseName(dataString(r.task, key))) + ".txt"
			if dup, err := z.has(name); err != nil || dup {
				if dup {
					c.report.add(r, "", "%s was already written for a newer annotation or another image with the same file name; left out", name)
				}
				return err
			}
			var b strings.Builder
			for _, reg := range r.regions(c) {
				g, k, label := reg.shape()
				var coords []float64
				switch k {
				case kindRectangle:
					if obb {
						w, h, ok := reg.size()
						var pts [4][2]float64
						if ok {
							pts = pixelRect(g, w, h)
							for i := range pts {
								pts[i][0], pts[i][1] = pts[i][0]/w, pts[i][1]/h
							}
						} else {
							pts = corners(g.X/100, g.Y/100, g.Width/100, g.Height/100, g.Rotation)
						}
						for _, p := range pts {
							coords = append(coords, p[0], p[1])
						}
					} else {
						coords = []float64{(g.X + g.Width/2) / 100, (g.Y + g.Height/2) / 100, g.Width / 100, g.Height / 100}
					}
				case kindPolygon:
					for _, p := range g.Points {
						if len(p) >= 2 {
							coords = append(coords, p[0]/100, p[1]/100)
						}
					}
				case kindKeyPoint:
					c.report.add(r, reg.ID, "YOLO detection labels have no key points; left out")
					continue
				default:
					continue
				}
				b.WriteString(strconv.Itoa(c.cats.id(label)))
				for _, v := range coords {
					b.WriteByte(' ')
					b.WriteString(num(v))
				}
				b.WriteByte('\n')
			}
			return z.WriteFile(name, []byte(b.String()))
		})
		if err != nil {
			return err
		}
		var classes strings.Builder
		cats := c.cats.sorted()
		for _, cat := range cats {
			classes.WriteString(cat.Name + "\n")
		}
		if err := z.WriteFile("classes.txt", []byte(classes.String())); err != nil {
			return err
		}
		return writeJSONEntry(z, "notes.json", map[string]any{
			"categories": cats,
			"info":       map[string]any{"year": c.now.Year(), "version": "1.0", "contributor": "Label Studio"},
		})
	}
}
