package formats

import (
	"slices"
	"strings"
)

// category is one class of the detection formats.
type category struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// categories numbers labels as the converter does: labels pinned with
// <Label category="N"> keep N, the others are sorted by name and take
// the free ids from 0 up. Labels found in results but absent from the
// config are appended as they are met, so nothing is dropped.
type categories struct {
	list []category
	ids  map[string]int
}

func newCategories(c *converter) *categories {
	cs := &categories{ids: map[string]int{}}
	taken := map[int]bool{}
	var free []string
	for _, ctl := range c.cfg.Controls {
		// Only label controls name classes; Choices classify whole tasks.
		if !strings.HasSuffix(ctl.Type, "Labels") {
			continue
		}
		for _, l := range ctl.Labels {
			if _, dup := cs.ids[l.Value]; dup || slices.Contains(free, l.Value) {
				continue
			}
			if l.Category != nil && !taken[*l.Category] {
				cs.ids[l.Value] = *l.Category
				taken[*l.Category] = true
				cs.list = append(cs.list, category{*l.Category, l.Value})
				continue
			}
			free = append(free, l.Value)
		}
	}
	slices.Sort(free)
	next := 0
	for _, name := range free {
		for taken[next] {
			next++
		}
		cs.ids[name] = next
		taken[next] = true
		cs.list = append(cs.list, category{next, name})
	}
	return cs
}

// id returns the id of a label, adding it when the config lacks it.
func (cs *categories) id(name string) int {
	if id, ok := cs.ids[name]; ok {
		return id
	}
	id := 0
	for _, c := range cs.list {
		id = max(id, c.ID+1)
	}
	cs.ids[name] = id
	cs.list = append(cs.list, category{id, name})
	return id
}

// sorted returns the categories in id order, the order of classes.txt.
func (cs *categories) sorted() []category {
	return slices.SortedFunc(slices.Values(cs.list), func(a, b category) int { return a.ID - b.ID })
}
