package media

import (
	"context"
	"time"

	"github.com/blobmark/blobmark"
)

// Resolver decides how a request of /tasks/{id}/resolve/ or
// /projects/{id}/resolve/ is answered. The HTTP layer authorises the
// request, hands over the fileuri parameter and writes the Decision; which
// blob a URI names, which storage serves it and whether it is redirected to
// or streamed are decided here, in one place.
type Resolver struct {
	// Media reaches the project's import storages.
	Media blobmark.MediaResolver
	// Mode is the operator's policy (empty: ModeAuto).
	Mode Mode
}

// Decision is the answer to one resolve request: a redirect (Redirect set),
// a streamed blob (Blob set) or a failure (Err set).
type Decision struct {
	// Redirect is a presigned URL valid for TTL, for the Redirect function.
	Redirect string
	TTL      time.Duration
	// Blob is the blob to stream with ServeBlob; Key is its name.
	Blob blobmark.MediaBlob
	Key  string
	// Err is why the request is refused. When Status is 0, Err is a
	// blobmark error written for the client, answered as its code says.
	// Otherwise the storage failed and Status is the answer (404, 502 or
	// 503, as ServeBlob's OnError is given); Err may then name the account
	// or the credential and belongs in the log only.
	Err    error
	Status int
}

// errNotServed is the one answer to a fileuri that is not served: bad
// encoding, another scheme or host, not in the task's data, no storage of
// the project covering it. It says nothing about which.
func errNotServed() Decision {
	return Decision{Err: blobmark.Errorf(blobmark.ENOTFOUND, "Not found.")}
}

// ResolveTask answers for a URI of task t's data. The caller has checked
// that the user may read the task; the URI must occur in its data, and the
// task's own source storage is preferred to serve it.
func (r Resolver) ResolveTask(ctx context.Context, t *blobmark.Task, fileuri string) Decision {
	uri, err := DecodeFileURI(fileuri)
	if err != nil || !URIInTaskData(t.Data, uri) {
		return errNotServed()
	}
	locs, err := r.Media.MediaLocations(ctx, t.ProjectID)
	if err != nil {
		return Decision{Err: err}
	}
	ref, err := ParseBlobRef(uri, locs...)
	if err != nil {
		return errNotServed()
	}
	source, err := r.Media.TaskSourceStorage(ctx, t.ID)
	if err != nil {
		return Decision{Err: err}
	}
	loc, ok := PickLocation(ref, locs, source)
	if !ok {
		return errNotServed()
	}
	return r.deliver(ctx, loc, ref)
}

// ResolveProject answers for a URI of project projectID, which the caller
// has checked the user may read: the URI must lie under the container and
// prefix of one of the project's storages.
func (r Resolver) ResolveProject(ctx context.Context, projectID int64, fileuri string) Decision {
	uri, err := DecodeFileURI(fileuri)
	if err != nil {
		return errNotServed()
	}
	locs, err := r.Media.MediaLocations(ctx, projectID)
	if err != nil {
		return Decision{Err: err}
	}
	ref, err := ParseBlobRef(uri, locs...)
	if err != nil {
		return errNotServed()
	}
	var covering []blobmark.MediaLocation
	for _, l := range locs {
		if UnderPrefix(ref, l.Container, l.Prefix) {
			covering = append(covering, l)
		}
	}
	loc, ok := PickLocation(ref, covering, 0)
	if !ok {
		return errNotServed()
	}
	return r.deliver(ctx, loc, ref)
}

// deliver redirects to a SAS URL or streams the blob, as the storage and
// the operator's Mode decide. A storage whose credential turns out unable to
// sign is streamed instead, unless the operator forbids streaming.
func (r Resolver) deliver(ctx context.Context, loc blobmark.MediaLocation, ref BlobRef) Decision {
	delivery, err := Choose(loc.Presign, loc.CanSign, r.Mode)
	if err != nil {
		return Decision{Err: err}
	}
	if delivery == DeliverPresigned {
		ttl := PresignTTL(loc.PresignTTL)
		u, err := r.Media.SignMediaURL(ctx, loc.StorageID, ref.Container, ref.Key, ttl)
		switch {
		case err == nil:
			return Decision{Redirect: u, TTL: ttl}
		case blobmark.ErrorCode(err) != blobmark.ENOTIMPLEMENTED || r.Mode == ModePresignOnly:
			return storageFailed(err)
		}
	}
	blob, err := r.Media.OpenMedia(ctx, loc.StorageID, ref.Container, ref.Key)
	if err != nil {
		return storageFailed(err)
	}
	return Decision{Blob: blob, Key: ref.Key}
}

func storageFailed(err error) Decision {
	return Decision{Err: err, Status: failureStatus(err)}
}
