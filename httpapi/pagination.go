package httpapi

import (
	"math"
	"net/http"
	"net/url"
	"strconv"

	"github.com/blobmark/blobmark"
)

// pageRequest is a page of a list as DRF's PageNumberPagination reads it
// from ?page=N&page_size=M: pages count from 1.
type pageRequest struct {
	number int
	size   int
}

// parsePage reads page and page_size. A page that is not a positive integer
// is DRF's 404 "Invalid page."; a bad page_size is a 400 (DRF silently uses
// the default, which hides the caller's mistake). page_size above max is
// capped, as DRF's max_page_size does.
func parsePage(r *http.Request, defaultSize, maxSize int) (pageRequest, error) {
	q := r.URL.Query()
	p := pageRequest{number: 1, size: defaultSize}
	if s := q.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return p, invalidPage()
		}
		p.number = n
	}
	if s := q.Get("page_size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return p, blobmark.FieldErrorf("page_size", "A valid positive integer is required, got %q (a page holds at most %d).", s, maxSize)
		}
		p.size = min(n, maxSize)
	}
	if p.number-1 > (math.MaxInt32-1)/p.size {
		// Past any list a database will hold; also keeps the offset from overflowing.
		return p, invalidPage()
	}
	return p, nil
}

func (p pageRequest) page() blobmark.Page {
	return blobmark.Page{Offset: (p.number - 1) * p.size, Limit: p.size}
}

// checkExists applies DRF's rule: page 1 always exists (possibly empty),
// later pages only when they hold something.
func (p pageRequest) checkExists(n int) error {
	if p.number > 1 && n == 0 {
		return invalidPage()
	}
	return nil
}

// links returns DRF's next and previous: absolute URLs of the neighbouring
// pages with the caller's other query parameters kept, or nil at the ends.
func (p pageRequest) links(r *http.Request, n, total int) (next, previous *string) {
	if p.page().Offset+n < total {
		next = pageURL(r, p.number+1)
	}
	if p.number > 1 {
		previous = pageURL(r, p.number-1)
	}
	return next, previous
}

func pageURL(r *http.Request, number int) *string {
	q := r.URL.Query()
	if number == 1 {
		q.Del("page") // as DRF: the first page has no page parameter
	} else {
		q.Set("page", strconv.Itoa(number))
	}
	u := url.URL{Scheme: requestScheme(r), Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
	s := u.String()
	return &s
}

// requestScheme is the scheme the client used, trusting a reverse proxy's
// X-Forwarded-Proto: the value only shapes links handed back to the client.
func requestScheme(r *http.Request) string {
	switch r.Header.Get("X-Forwarded-Proto") {
	case "https":
		return "https"
	case "http":
		return "http"
	}
	if r.TLS != nil {
		return "https"
	}
	return "http"
}
