package azureblob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/blobmark/blobmark"
)

// Use says what a storage is for, which decides the checks it must pass.
type Use string

// The uses Diagnose understands.
const (
	// UseSource storages are listed and read (import, media).
	UseSource Use = "source"
	// UseTarget storages are written and deleted in (export).
	UseTarget Use = "target"
)

// Check is one line of a diagnosis.
type Check struct {
	Name string
	// Needed is true when the requested use cannot work without this check.
	Needed  bool
	OK      bool
	Skipped bool
	// Detail says what was found; Fix, for a failure, says what to change,
	// and Field, when the failure is about one, the field to change.
	Detail string
	Fix    string
	Field  string
}

// Report is the outcome of Diagnose.
type Report struct {
	Use       Use
	AuthType  AuthType
	Endpoint  string
	Container string
	Prefix    string
	SASKind   SASKind
	Checks    []Check
}

// OK reports whether every check needed for the use passed.
func (r Report) OK() bool {
	for _, c := range r.Checks {
		if c.Needed && !c.OK && !c.Skipped {
			return false
		}
	}
	return len(r.Checks) > 0
}

// Diagnose runs, in order, the checks an operator needs when a storage
// "doesn't work": authenticate, container exists, list, read, write, delete,
// and mint (and use) a SAS URL, each with the exact fix when it fails. The
// write and delete checks use a probe blob under prefix, and run only for
// target storages so that diagnosing an import source never writes to it.
// Someone is waiting on the answer, so an endpoint that cannot be connected
// to fails on the first try (failFast).
func Diagnose(ctx context.Context, conn *Connector, cfg Config, container, prefix string, use Use) Report {
	if use != UseTarget {
		use = UseSource
	}
	ctx = failFast(ctx)
	r := Report{Use: use, Container: container, Prefix: prefix, AuthType: cfg.Normalized().AuthType}
	add := func(c Check) { r.Checks = append(r.Checks, c) }
	fail := func(name string, needed bool, err error) {
		add(Check{Name: name, Needed: needed, Fix: blobmark.ErrorMessage(err), Field: blobmark.ErrorField(err)})
	}
	notRun := func(names ...string) {
		for _, n := range names {
			add(Check{Name: n, Needed: true, Detail: "not run: an earlier check failed"})
		}
	}

	c, err := conn.Container(ctx, cfg, container)
	if err != nil {
		fail("configuration", true, err)
		return r
	}
	r.Endpoint = c.Endpoint()
	add(Check{Name: "configuration", Needed: true, OK: true, Detail: fmt.Sprintf("auth_type %s, endpoint %s", r.AuthType, r.Endpoint)})

	if tc := c.acc.cred.token; tc != nil {
		if _, err := tc.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{storageScope}}); err != nil {
			fail("authenticate", true, c.fail(err, opList, ""))
			notRun("list", "read")
			return r
		}
		add(Check{Name: "authenticate", Needed: true, OK: true, Detail: "got a token for " + c.acc.cred.identity})
	}

	var first string
	listErr := c.List(ctx, ListOptions{Prefix: prefix, Recursive: true, PageSize: 5}, func(page []BlobItem) error {
		for _, b := range page {
			if !IsFolderMarker(b) {
				first = b.Name
				break
			}
		}
		return errStopListing
	})
	if errors.Is(listErr, errStopListing) {
		listErr = nil
	}
	if c.acc.cred.token == nil {
		switch blobmark.ErrorCode(listErr) {
		case blobmark.EUNAVAILABLE:
			// Nothing answered, so the credential was never tried: what to
			// fix is where the requests go, or the network on the way.
			add(Check{Name: "connect", Needed: true, Field: endpointField(c.acc.cfg), Fix: connectFix(listErr)})
			notRun("authenticate", "list", "read")
			return r
		case blobmark.EUNAUTHORIZED:
			fail("authenticate", true, listErr)
			notRun("list", "read")
			return r
		}
		add(Check{Name: "authenticate", Needed: true, OK: true, Detail: "the storage accepted the credential"})
	}
	if exists, err := c.Exists(ctx); err == nil && !exists {
		add(Check{Name: "container exists", Needed: true, Fix: fmt.Sprintf("container %q does not exist in account %s: create it or correct the container name", container, c.AccountName())})
		return r
	}
	if listErr != nil {
		fail("list", use == UseSource, listErr)
	} else {
		detail := "no blobs under the prefix"
		if first != "" {
			detail = "first blob: " + first
		}
		add(Check{Name: "list", Needed: use == UseSource, OK: true, Detail: detail})
	}

	switch {
	case first == "":
		add(Check{Name: "read", Needed: use == UseSource, Skipped: true, Detail: "no blob to read under the prefix"})
	default:
		if d, err := c.Download(ctx, first, 0, 1); err != nil {
			fail("read", use == UseSource, err)
		} else {
			_, _ = io.Copy(io.Discard, d.Body)
			d.Body.Close()
			add(Check{Name: "read", Needed: use == UseSource, OK: true, Detail: "read " + first})
		}
	}

	probe := strings.TrimSuffix(prefix, "/")
	if probe != "" {
		probe += "/"
	}
	probe += ".blobmark-check-" + randomSuffix()
	wrote := false
	if use == UseTarget {
		if _, err := c.UploadBytes(ctx, probe, []byte("blobmark check-storage probe\n"), "text/plain"); err != nil {
			fail("write", true, err)
		} else {
			wrote = true
			add(Check{Name: "write", Needed: true, OK: true, Detail: "wrote " + probe})
		}
		switch {
		case !wrote:
			add(Check{Name: "delete", Needed: true, Skipped: false, Detail: "not run: nothing was written"})
		default:
			if err := c.Delete(ctx, probe); err != nil {
				fail("delete", true, err)
			} else {
				add(Check{Name: "delete", Needed: true, OK: true, Detail: "deleted " + probe})
			}
		}
	} else {
		add(Check{Name: "write", Skipped: true, Detail: "not needed for a source storage (run with --use target to check)"})
		add(Check{Name: "delete", Skipped: true, Detail: "not needed for a source storage"})
	}

	sasTarget := first
	if sasTarget == "" {
		sasTarget = probe
	}
	url, kind, err := c.SignURL(ctx, sasTarget, 5*time.Minute)
	switch {
	case blobmark.ErrorCode(err) == blobmark.ENOTIMPLEMENTED:
		add(Check{Name: "mint SAS", Skipped: true, Detail: blobmark.ErrorMessage(err)})
	case err != nil:
		fail("mint SAS", false, err)
	default:
		r.SASKind = kind
		detail := fmt.Sprintf("%s SAS", kind)
		if first != "" {
			status, gerr := fetchStatus(ctx, conn.opts.Transport, url)
			switch {
			case gerr != nil:
				add(Check{Name: "mint SAS", Detail: detail, Fix: "the SAS URL could not be fetched: " + networkReason(gerr)})
				return r
			case status != http.StatusOK:
				add(Check{Name: "mint SAS", Detail: detail, Fix: fmt.Sprintf("storage answered %d to the SAS URL: for a user delegation SAS the identity needs %q on the account", status, roleFor(opDelegate))})
				return r
			}
			detail += ", fetched " + first + " with it"
		}
		add(Check{Name: "mint SAS", OK: true, Detail: detail})
	}
	return r
}

var errStopListing = errors.New("stop listing")

// connectFix is what to change when nothing answered at all.
func connectFix(err error) string {
	return blobmark.ErrorMessage(err) + " (check the endpoint and that this server can reach it)"
}

func fetchStatus(ctx context.Context, tr policy.Transporter, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Range", "bytes=0-0")
	if tr == nil {
		tr = http.DefaultClient
	}
	resp, err := tr.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusPartialContent {
		return http.StatusOK, nil
	}
	return resp.StatusCode, nil
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// WriteTable prints the report as a readable table, one check per line,
// with the fix for each failure.
func (r Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "storage %s/%s (auth_type %s, use %s)\n", r.Endpoint, r.Container, r.AuthType, r.Use)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tRESULT\tDETAIL / FIX")
	for _, c := range r.Checks {
		result := "FAIL"
		text := c.Fix
		switch {
		case c.OK:
			result, text = "ok", c.Detail
		case c.Skipped:
			result, text = "skipped", c.Detail
		case c.Fix == "":
			text = c.Detail
		}
		if !c.Needed && !c.OK && !c.Skipped {
			result = "warn"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, result, text)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	verdict := "every check needed for a " + string(r.Use) + " storage passed"
	if !r.OK() {
		verdict = "NOT usable as a " + string(r.Use) + " storage: fix the failures above"
	}
	_, err := fmt.Fprintln(w, verdict)
	return err
}
