package azureblob

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/blobmark/blobmark"
)

// DefaultMediaCacheTTL is how long MediaResolver keeps a project's storage
// locations and their clients. Rendering a page of tasks and the resolve
// requests its images trigger then cost no storage lookup (and no unsealing
// of secrets) each; a changed or deleted storage is seen within seconds.
const DefaultMediaCacheTTL = 5 * time.Second

// MediaResolver implements blobmark.MediaResolver over the server's
// Connector: it turns a project's source storages into media locations,
// signs SAS URLs and opens blobs for the proxy. Set the exported fields and
// use it; the zero cache is ready.
type MediaResolver struct {
	Connector *Connector
	Storages  blobmark.SourceStorageService
	// Tasks says which storage synced a task; nil means none is known and
	// a URI is matched among all of the project's storages.
	Tasks blobmark.TaskSourceFinder
	// CacheTTL overrides DefaultMediaCacheTTL; negative disables the cache.
	CacheTTL time.Duration

	mu       sync.Mutex
	projects map[int64]cachedLocations
	storages map[int64]cachedContainer
}

// Interface check.
var _ blobmark.MediaResolver = (*MediaResolver)(nil)

type cachedLocations struct {
	locs    []blobmark.MediaLocation
	expires time.Time
}

type cachedContainer struct {
	c       *Container
	expires time.Time
}

func (m *MediaResolver) ttl() time.Duration {
	if m.CacheTTL == 0 {
		return DefaultMediaCacheTTL
	}
	return m.CacheTTL
}

// MediaLocations returns the locations of the project's source storages.
// A storage whose connection cannot be set up is left out: it cannot serve
// media, and one broken storage must not hide the others' images.
func (m *MediaResolver) MediaLocations(ctx context.Context, projectID int64) ([]blobmark.MediaLocation, error) {
	now := time.Now()
	m.mu.Lock()
	if e, ok := m.projects[projectID]; ok && now.Before(e.expires) {
		m.mu.Unlock()
		return e.locs, nil
	}
	m.mu.Unlock()

	storages, err := m.Storages.FindSourceStoragesWithSecrets(ctx, projectID)
	if err != nil {
		return nil, err
	}
	locs := make([]blobmark.MediaLocation, 0, len(storages))
	conts := make(map[int64]*Container, len(storages))
	for _, st := range storages {
		c, err := m.open(ctx, st)
		if err != nil {
			continue
		}
		conts[st.ID] = c
		locs = append(locs, blobmark.MediaLocation{
			StorageID: st.ID, Account: c.AccountName(), ServiceURL: c.Endpoint(),
			Container: st.Container, Prefix: st.Prefix,
			Presign: st.Presign, PresignTTL: st.PresignTTL, CanSign: c.canSign(),
		})
	}
	if ttl := m.ttl(); ttl > 0 {
		exp := now.Add(ttl)
		m.mu.Lock()
		if m.projects == nil {
			m.projects, m.storages = map[int64]cachedLocations{}, map[int64]cachedContainer{}
		}
		m.projects[projectID] = cachedLocations{locs: locs, expires: exp}
		for id, c := range conts {
			m.storages[id] = cachedContainer{c: c, expires: exp}
		}
		m.mu.Unlock()
	}
	return locs, nil
}

// TaskSourceStorage returns the storage that synced the task, or 0.
func (m *MediaResolver) TaskSourceStorage(ctx context.Context, taskID int64) (int64, error) {
	if m.Tasks == nil {
		return 0, nil
	}
	return m.Tasks.TaskSourceStorageID(ctx, taskID)
}

// SignMediaURL returns a read-only, single-blob SAS URL (service or user
// delegation, as the storage's credential allows) valid for ttl.
func (m *MediaResolver) SignMediaURL(ctx context.Context, storageID int64, container, key string, ttl time.Duration) (string, error) {
	c, err := m.container(ctx, storageID, container)
	if err != nil {
		return "", err
	}
	u, _, err := c.SignURL(ctx, key, ttl)
	return u, err
}

// OpenMedia returns one blob of the storage for the proxy.
func (m *MediaResolver) OpenMedia(ctx context.Context, storageID int64, container, key string) (blobmark.MediaBlob, error) {
	c, err := m.container(ctx, storageID, container)
	if err != nil {
		return nil, err
	}
	return mediaBlob{c: c, key: key}, nil
}

// container returns the client of a storage, which must read container.
func (m *MediaResolver) container(ctx context.Context, storageID int64, container string) (*Container, error) {
	now := time.Now()
	m.mu.Lock()
	e, ok := m.storages[storageID]
	m.mu.Unlock()
	c := e.c
	if !ok || !now.Before(e.expires) {
		st, err := m.Storages.FindSourceStorageWithSecrets(ctx, storageID)
		if err != nil {
			return nil, err
		}
		if c, err = m.open(ctx, st); err != nil {
			return nil, err
		}
		if ttl := m.ttl(); ttl > 0 {
			m.mu.Lock()
			if m.storages == nil {
				m.projects, m.storages = map[int64]cachedLocations{}, map[int64]cachedContainer{}
			}
			m.storages[storageID] = cachedContainer{c: c, expires: now.Add(ttl)}
			m.mu.Unlock()
		}
	}
	if c.Name() != container {
		return nil, blobmark.Errorf(blobmark.ENOTFOUND, "the storage does not read that container")
	}
	return c, nil
}

func (m *MediaResolver) open(ctx context.Context, st *blobmark.SourceStorage) (*Container, error) {
	return m.Connector.StorageContainer(ctx, st.Organization, st.Connection, st.Secrets, st.Container)
}

// canSign reports whether SignURL can mint a SAS with this container's
// credential: an account key signs a service SAS, every Entra ID identity a
// user delegation SAS.
func (c *Container) canSign() bool {
	return c.acc.cred.sharedKey != nil || c.acc.cred.token != nil
}

// mediaBlob is one blob read through a Container.
type mediaBlob struct {
	c   *Container
	key string
}

func (b mediaBlob) Properties(ctx context.Context) (blobmark.MediaBlobInfo, error) {
	p, err := b.c.Properties(ctx, b.key)
	if err != nil {
		return blobmark.MediaBlobInfo{}, err
	}
	return mediaInfo(p), nil
}

// Open downloads the bytes and reads the blob's properties from the same
// response: one request, whatever the range. Azure refuses a range that
// starts at or past the end (any range of an empty blob) with 416 and
// "Content-Range: bytes */size" but no validators; the size is then all
// that is returned, with an empty body.
func (b mediaBlob) Open(ctx context.Context, offset, count int64) (blobmark.MediaBlobInfo, io.ReadCloser, error) {
	if count < 0 {
		count = 0 // download reads to the end
	}
	d, err := b.c.download(ctx, b.key, offset, count)
	if err == nil {
		return mediaInfo(d.BlobProperties), d.Body, nil
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusRequestedRangeNotSatisfiable && re.RawResponse != nil {
		if size, ok := rangeTotal(re.RawResponse.Header.Get("Content-Range")); ok {
			return blobmark.MediaBlobInfo{Size: size}, http.NoBody, nil
		}
	}
	return blobmark.MediaBlobInfo{}, nil, b.c.fail(err, opRead, b.key)
}

func mediaInfo(p BlobProperties) blobmark.MediaBlobInfo {
	return blobmark.MediaBlobInfo{Size: p.Size, ETag: p.ETag, LastModified: p.LastModified, ContentType: p.ContentType}
}
