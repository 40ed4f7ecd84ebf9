package exporter

import "testing"

func TestWants(t *testing.T) {
	for _, c := range []struct {
		format    Format
		canDelete bool
		change    Change
		want      bool
	}{
		{FormatAnnotation, false, Saved, true},
		{FormatAnnotation, true, Saved, true},
		{FormatTask, false, Saved, true},
		{FormatAnnotation, false, Deleted, false},
		{FormatAnnotation, true, Deleted, true},
		{FormatTask, false, Deleted, true},
		{FormatTask, true, Deleted, true},
	} {
		if got := Wants(c.format, c.canDelete, c.change); got != c.want {
			t.Errorf("Wants(%s, delete %v, %v) = %v", c.format, c.canDelete, c.change, got)
		}
	}
}
