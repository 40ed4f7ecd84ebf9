package azureblob

import (
	"context"
	"errors"
	"net"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// failFastKey marks a context whose requests answer a person waiting on a
// form: a connection check or a file preview.
type failFastKey struct{}

// failFast marks ctx so that a request which cannot connect at all is not
// retried. The SDK's pipeline retries a refused connection or an unknown
// host three times with growing pauses (about 9 s in all), which suits a
// sync or an export riding out a blip, but a person checking a storage
// form gets the same answer after the first try: the endpoint is wrong.
// Answers from the service (throttling, 5xx) keep their retries.
func failFast(ctx context.Context) context.Context {
	return context.WithValue(ctx, failFastKey{}, true)
}

// failFastDials is the transport side of failFast: in a marked context it
// turns a failure to connect into an error the retry policy does not retry.
type failFastDials struct{ next policy.Transporter }

// Do implements policy.Transporter.
func (f failFastDials) Do(r *http.Request) (*http.Response, error) {
	resp, err := f.next.Do(r)
	if err != nil && r.Context().Value(failFastKey{}) != nil && isDialFailure(err) {
		return resp, unreachable{err}
	}
	return resp, err
}

// isDialFailure reports whether err is a failure to connect (refused, no
// such host, no route), as opposed to a connection that broke later.
func isDialFailure(err error) bool {
	var oe *net.OpError
	var de *net.DNSError
	return errors.As(err, &oe) && oe.Op == "dial" || errors.As(err, &de)
}

// unreachable is a failure to connect that is not to be retried.
type unreachable struct{ err error }

func (u unreachable) Error() string { return u.err.Error() }
func (u unreachable) Unwrap() error { return u.err }

// NonRetriable tells the SDK's retry policy not to try again.
func (unreachable) NonRetriable() {}
