package media

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
)

// storages is an in-memory blobmark.MediaResolver over fixed locations: a
// test double of the domain's seam whose signing and opening fail as told.
type storages struct {
	locs    []blobmark.MediaLocation
	locsErr error
	signErr error
	openErr error
}

func (s storages) MediaLocations(context.Context, int64) ([]blobmark.MediaLocation, error) {
	return s.locs, s.locsErr
}

func (s storages) TaskSourceStorage(context.Context, int64) (int64, error) { return 0, nil }

func (s storages) SignMediaURL(_ context.Context, id int64, container, key string, ttl time.Duration) (string, error) {
	if s.signErr != nil {
		return "", s.signErr
	}
	return "https://signed.example/" + container + "/" + key + "?ttl=" + ttl.String(), nil
}

func (s storages) OpenMedia(context.Context, int64, string, string) (blobmark.MediaBlob, error) {
	if s.openErr != nil {
		return nil, s.openErr
	}
	return newMemBlob([]byte("bytes"), "image/png"), nil
}

func TestResolverDecides(t *testing.T) {
	signing := located(publicSvc, 1, "images", "data")
	signing.Presign, signing.CanSign, signing.PresignTTL = true, true, 30
	unsignable := signing
	unsignable.CanSign = false
	task := &blobmark.Task{ID: 7, ProjectID: 1, Data: json.RawMessage(`{"image":"azure-blob://images/data/a.png"}`)}
	inData := EncodeFileURI("azure-blob://images/data/a.png")
	cantSign := blobmark.Errorf(blobmark.ENOTIMPLEMENTED, "no key")
	down := blobmark.Errorf(blobmark.EUNAVAILABLE, "account acct unreachable")

	tests := []struct {
		name    string
		st      storages
		mode    Mode
		fileuri string
		// want is "redirect", "stream", or the failure: an error code with
		// Status 0, or a storage failure's status.
		want       string
		wantStatus int
	}{
		{"presigned storage redirects", storages{locs: []blobmark.MediaLocation{signing}}, ModeAuto, inData, "redirect", 0},
		{"unsignable storage streams", storages{locs: []blobmark.MediaLocation{unsignable}}, ModeAuto, inData, "stream", 0},
		{"proxy mode streams", storages{locs: []blobmark.MediaLocation{signing}}, ModeProxy, inData, "stream", 0},
		{"credential that cannot sign after all streams", storages{locs: []blobmark.MediaLocation{signing}, signErr: cantSign}, ModeAuto, inData, "stream", 0},
		{"presign-only never streams", storages{locs: []blobmark.MediaLocation{signing}, signErr: cantSign}, ModePresignOnly, inData, "", http.StatusBadGateway},
		{"presign-only refuses an unsignable storage", storages{locs: []blobmark.MediaLocation{unsignable}}, ModePresignOnly, inData, blobmark.ENOTIMPLEMENTED, 0},
		{"storage down", storages{locs: []blobmark.MediaLocation{unsignable}, openErr: down}, ModeAuto, inData, "", http.StatusServiceUnavailable},
		{"blob missing", storages{locs: []blobmark.MediaLocation{unsignable}, openErr: blobmark.Errorf(blobmark.ENOTFOUND, "gone")}, ModeAuto, inData, "", http.StatusNotFound},
		{"locations unavailable", storages{locsErr: down}, ModeAuto, inData, blobmark.EUNAVAILABLE, 0},
		{"URI not in the task", storages{locs: []blobmark.MediaLocation{signing}}, ModeAuto, EncodeFileURI("azure-blob://images/data/b.png"), blobmark.ENOTFOUND, 0},
		{"no storage of the container", storages{locs: []blobmark.MediaLocation{located(publicSvc, 1, "other", "")}}, ModeAuto, inData, blobmark.ENOTFOUND, 0},
		{"fileuri not decodable", storages{locs: []blobmark.MediaLocation{signing}}, ModeAuto, "%%%", blobmark.ENOTFOUND, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Resolver{Media: tt.st, Mode: tt.mode}.ResolveTask(context.Background(), task, tt.fileuri)
			checkDecision(t, d, tt.want, tt.wantStatus)
			if tt.want == "redirect" && (d.TTL != 30*time.Minute || d.Redirect != "https://signed.example/images/data/a.png?ttl=30m0s") {
				t.Fatalf("redirect to %q for %v, want the SAS URL for the storage's 30 minutes", d.Redirect, d.TTL)
			}
		})
	}
}

func TestResolverProjectNeedsPrefix(t *testing.T) {
	st := storages{locs: []blobmark.MediaLocation{located(publicSvc, 1, "images", "data")}}
	r := Resolver{Media: st}
	checkDecision(t, r.ResolveProject(context.Background(), 1, EncodeFileURI("azure-blob://images/data/a.png")), "stream", 0)
	checkDecision(t, r.ResolveProject(context.Background(), 1, EncodeFileURI("azure-blob://images/other/a.png")), blobmark.ENOTFOUND, 0)
}

// checkDecision asserts that d is a redirect, a stream, a refusal with
// error code want (Status 0) or a storage failure with status.
func checkDecision(t *testing.T, d Decision, want string, status int) {
	t.Helper()
	var got string
	switch {
	case d.Redirect != "":
		got = "redirect"
	case d.Blob != nil:
		got = "stream"
		if d.Key == "" {
			t.Fatal("stream decision without the blob's key")
		}
	case d.Err == nil:
		t.Fatalf("decision %+v is neither redirect, stream nor error", d)
	case d.Status == 0:
		got = blobmark.ErrorCode(d.Err)
	}
	if got != want || d.Status != status {
		t.Fatalf("decision = %q status %d (err %v), want %q status %d", got, d.Status, d.Err, want, status)
	}
}
