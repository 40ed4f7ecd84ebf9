package metrics

import (
	"context"
	"io"

	"github.com/blobmark/blobmark"
)

// MediaResolver wraps the API's media resolver to count the bytes the proxy
// streams (blobmark_media_proxy_bytes_total); SAS redirects move no bytes
// through the server and are not counted.
type MediaResolver struct {
	blobmark.MediaResolver
	Metrics *Metrics
}

// OpenMedia opens the blob with a counting reader.
func (r MediaResolver) OpenMedia(ctx context.Context, storageID int64, container, key string) (blobmark.MediaBlob, error) {
	b, err := r.MediaResolver.OpenMedia(ctx, storageID, container, key)
	if err != nil {
		return nil, err
	}
	return countedBlob{b, r.Metrics}, nil
}

type countedBlob struct {
	blobmark.MediaBlob
	m *Metrics
}

func (b countedBlob) Open(ctx context.Context, offset, count int64) (blobmark.MediaBlobInfo, io.ReadCloser, error) {
	p, rc, err := b.MediaBlob.Open(ctx, offset, count)
	if err != nil {
		return p, nil, err
	}
	return p, &countingReader{rc, b.m}, nil
}

type countingReader struct {
	io.ReadCloser
	m *Metrics
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if n > 0 {
		c.m.proxyBytes.Add(float64(n))
	}
	return n, err
}
