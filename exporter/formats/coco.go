package formats

import (
	"bufio"
	"encoding/json"
	"io"
)

type cocoImage struct {
	Width    *float64 `json:"width"`
	Height   *float64 `json:"height"`
	ID       int      `json:"id"`
	FileName string   `json:"file_name"`
}

type cocoAnnotation struct {
	ID           int         `json:"id"`
	ImageID      int         `json:"image_id"`
	CategoryID   int         `json:"category_id"`
	Segmentation [][]float64 `json:"segmentation"`
	BBox         [4]float64  `json:"bbox"`
	Ignore       int         `json:"ignore"`
	IsCrowd      int         `json:"iscrowd"`
	Area         float64     `json:"area"`
	Keypoints    []float64   `json:"keypoints,omitempty"`
	NumKeypoints *int        `json:"num_keypoints,omitempty"`
}

// writeCOCO writes result.json as the converter's COCO: one image per
// record (so a task with two annotations is two images, ids from 0),
// categories, annotations in pixels, and info. file_name is the task's
// image reference as stored: blobmark does not copy images into the zip,
// which is the converter's output when it cannot download an image.
//
// Pixels come from each region's original_width/original_height; a
// region without them is left out and listed in report.json, and the
// image's width and height are those of its first sized region (null
// when it has none). Rectangles become bbox [x, y, w, h] with an empty
// segmentation, a rotated one its axis-aligned hull; polygons a
// segmentation with bbox and area computed from it; key points a COCO
// keypoint triple (x, y, 2 = visible) with a zero-sized bbox.
//
// Annotations follow the images array in the file but are produced with
// them, so they are spooled to a temporary file and copied in at the end.
func writeCOCO(c *converter, z *zipWriter) error {
	c.cats = newCategories(c)
	key := c.dataKey("Image")
	sp, err := newSpool()
	if err != nil {
		return err
	}
	defer sp.close()
	zw, err := z.Create("result.json")
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(zw, 64<<10)
	w.WriteString(`{"images":[`)
	imageID, annID := 0, 0
	err = c.each(func(r record) error {
		img := cocoImage{ID: imageID, FileName: dataString(r.task, key)}
		for _, reg := range r.regions(c) {
			g, k, label := reg.shape()
			if k == kindNone {
				continue
			}
			W, H, ok := reg.size()
			if !ok {
				c.report.add(r, reg.ID, "region has no original_width/original_height, so its pixel coordinates are unknown; left out")
				continue
			}
			if img.Width == nil {
				img.Width, img.Height = &W, &H
			}
			a := cocoAnnotation{ID: annID, ImageID: imageID, CategoryID: c.cats.id(label), Segmentation: [][]float64{}}
			switch k {
			case kindRectangle:
				pts := pixelRect(g, W, H)
				a.BBox = hull(pts[:])
				a.Area = a.BBox[2] * a.BBox[3]
			case kindPolygon:
				pts := make([][2]float64, len(g.Points))
				flat := make([]float64, 0, 2*len(g.Points))
				for i, p := range g.Points {
					if len(p) < 2 {
						continue
					}
					pts[i] = [2]float64{p[0] * W / 100, p[1] * H / 100}
					flat = append(flat, pts[i][0], pts[i][1])
				}
				a.Segmentation = [][]float64{flat}
				a.BBox = hull(pts)
				a.Area = shoelace(pts)
			case kindKeyPoint:
				x, y := g.X*W/100, g.Y*H/100
				one := 1
				a.BBox = [4]float64{x, y, 0, 0}
				a.Keypoints, a.NumKeypoints = []float64{x, y, 2}, &one
			}
			if annID > 0 {
				sp.WriteByte(',')
			}
			b, err := json.Marshal(a)
			if err != nil {
				return err
			}
			if _, err := sp.Write(b); err != nil {
				return err
			}
			annID++
		}
		if imageID > 0 {
			w.WriteByte(',')
		}
		imageID++
		_, err := w.Write(mustJSON(img))
		return err
	})
	if err != nil {
		return err
	}
	w.WriteString(`],"categories":`)
	w.Write(mustJSON(c.cats.sorted()))
	w.WriteString(`,"annotations":[`)
	rd, err := sp.reader()
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, rd); err != nil {
		return err
	}
	w.WriteString(`],"info":`)
	w.Write(mustJSON(map[string]any{
		"year": c.now.Year(), "version": "1.0", "description": "", "contributor": "Label Studio", "url": "",
		"date_created": c.now.Format("2006-01-02 15:04:05.000000"),
	}))
	w.WriteByte('}')
	return w.Flush()
}
