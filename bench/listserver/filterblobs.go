package listserver

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"regexp"
	"strconv"
)

// Every generated blob i carries one index tag, parity, whose value is
// "even" or "odd" by i, so a sync filtered by tags can be run at scale.
// Azurite answers Find Blobs by Tags too, but ends a page without a
// marker when the container holds blobs that do not match, so paging by
// marker is tested here.

// ParityTag is the index tag every generated blob carries.
const ParityTag = "parity"

// Parity returns the value of blob i's parity tag.
func Parity(i int) string {
	if i%2 == 0 {
		return "even"
	}
	return "odd"
}

// parityWhere is the one expression Filter Blobs is answered for: an
// equality on the parity tag, as Azure's documentation writes it.
var parityWhere = regexp.MustCompile(`^\s*"` + ParityTag + `"\s*=\s*'(even|odd)'\s*$`)

// filterBlobs answers Filter Blobs on the container (Find Blobs by Tags,
// GET ?restype=container&comp=blobs&where=…[&marker][&maxresults]) in the
// shape of Azure's REST reference: each matching blob's name, container
// and the tags the expression matched, then NextMarker. Another
// expression is refused with 400 InvalidQueryParameterValue, as Azure
// refuses one it cannot parse.
func (h *Handler) filterBlobs(w http.ResponseWriter, r *http.Request) {
	h.listCalls.Add(1)
	q := r.URL.Query()
	m := parityWhere.FindStringSubmatch(q.Get("where"))
	if m == nil {
		h.fail(w, r, http.StatusBadRequest, "InvalidQueryParameterValue", "Error parsing query: only \""+ParityTag+"\" = 'even' or 'odd' is served.")
		return
	}
	limit, ok := h.pageLimit(w, r)
	if !ok {
		return
	}
	i := 0
	if s := q.Get("marker"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 || v > h.n {
			h.fail(w, r, http.StatusBadRequest, "InvalidQueryParameterValue", "The marker is not valid.")
			return
		}
		i = v
	}
	if Parity(i) != m[1] {
		i++ // the first blob of the wanted parity
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="http://`)
	xml.EscapeText(&b, []byte(r.Host))
	b.WriteString("/" + h.account + `/"><Where>`)
	xml.EscapeText(&b, []byte(q.Get("where")))
	b.WriteString(`</Where><Blobs>`)
	for count := 0; count < limit && i < h.n; count++ {
		b.WriteString(`<Blob><Name>` + Name(i) + `</Name><ContainerName>` + h.container + `</ContainerName><Tags><TagSet><Tag><Key>` +
			ParityTag + `</Key><Value>` + m[1] + `</Value></Tag></TagSet></Tags></Blob>`)
		i += 2
	}
	b.WriteString(`</Blobs><NextMarker>`)
	if i < h.n {
		b.WriteString(strconv.Itoa(i))
	}
	b.WriteString(`</NextMarker></EnumerationResults>`)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}
