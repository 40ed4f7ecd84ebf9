package formats

import (
	"math"
	"strconv"
)

// corners returns the corners of a rectangle whose top-left corner is at
// (x, y), sized w × h and rotated by deg degrees clockwise about that
// corner, as Label Studio draws it: top-left, top-right, bottom-right,
// bottom-left. The axes point right and down, so the usual rotation
// matrix turns clockwise on screen.
func corners(x, y, w, h, deg float64) [4][2]float64 {
	s, c := math.Sincos(deg * math.Pi / 180)
	at := func(dx, dy float64) [2]float64 { return [2]float64{x + dx*c - dy*s, y + dx*s + dy*c} }
	return [4][2]float64{at(0, 0), at(w, 0), at(w, h), at(0, h)}
}

// hull returns the axis-aligned box [x, y, w, h] around points.
func hull(points [][2]float64) [4]float64 {
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, p := range points {
		minX, maxX = min(minX, p[0]), max(maxX, p[0])
		minY, maxY = min(minY, p[1]), max(maxY, p[1])
	}
	return [4]float64{minX, minY, maxX - minX, maxY - minY}
}

// shoelace returns the area of a simple polygon.
func shoelace(points [][2]float64) float64 {
	var a float64
	for i, p := range points {
		q := points[(i+1)%len(points)]
		a += p[0]*q[1] - q[0]*p[1]
	}
	return math.Abs(a) / 2
}

// pixelRect returns a rectangle region's corners in pixels: its percent
// geometry scaled by the image size first, so a rotation turns the real
// shape even when the image is not square.
func pixelRect(g geometry, w, h float64) [4][2]float64 {
	return corners(g.X*w/100, g.Y*h/100, g.Width*w/100, g.Height*h/100, g.Rotation)
}

// num writes a coordinate as the shortest decimal that reads back the
// same float, as Python's str does (without its trailing ".0").
func num(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}
