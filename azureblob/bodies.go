package azureblob

import (
	"fmt"
	"io"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// maxAnswerBytes bounds an answer the SDK reads whole (a listing page, a
// delegation key, a token, an error): a real one is a few megabytes at
// most, and an endpoint a user typed may answer with an endless body.
const maxAnswerBytes = 32 << 20

// boundedAnswers caps the body of every answer but a blob's content, which
// is streamed to its reader and never held.
type boundedAnswers struct{ next policy.Transporter }

// Do implements policy.Transporter.
func (b boundedAnswers) Do(r *http.Request) (*http.Response, error) {
	resp, err := b.next.Do(r)
	if err != nil || resp.Body == nil || isBlobRead(r) {
		return resp, err
	}
	resp.Body = &cappedBody{ReadCloser: resp.Body, left: maxAnswerBytes, host: r.URL.Host}
	return resp, nil
}

// isBlobRead reports whether r reads a blob's content: a GET with no
// comp or restype operation.
func isBlobRead(r *http.Request) bool {
	q := r.URL.Query()
	return r.Method == http.MethodGet && q.Get("comp") == "" && q.Get("restype") == ""
}

// cappedBody fails a read past its limit instead of handing on more.
type cappedBody struct {
	io.ReadCloser
	left int64
	host string
}

func (c *cappedBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, answerTooLarge{host: c.host}
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.ReadCloser.Read(p)
	c.left -= int64(n)
	return n, err
}

// answerTooLarge is a capped answer. Asking again would bring the same
// answer, so the SDK's retries stop at it.
type answerTooLarge struct{ host string }

func (e answerTooLarge) Error() string {
	return fmt.Sprintf("the answer from %s is larger than %d MiB; no Azure Storage answer is", e.host, maxAnswerBytes>>20)
}

// NonRetriable tells the SDK's retry policy not to try again.
func (answerTooLarge) NonRetriable() {}
