package azureblob

import (
	"context"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/exporter"
)

// ExportUploader writes a target storage's objects: it is the exporter's
// Uploader over one container. Errors are already blobmark errors (a missing
// blob is ENOTFOUND, auth failures EUNAUTHORIZED/EFORBIDDEN, throttling and
// outages EUNAVAILABLE), which is what blobmark.Decide sorts.
type ExportUploader struct {
	Container *Container
}

// Upload writes body to key with contentType and returns the new ETag.
func (u ExportUploader) Upload(ctx context.Context, key string, body []byte, contentType string) (string, error) {
	return u.Container.UploadBytes(ctx, key, body, contentType)
}

// StageBlock stages one block of a dataset export.
func (u ExportUploader) StageBlock(ctx context.Context, key, id string, body []byte) error {
	return u.Container.StageBlock(ctx, key, id, body)
}

// CommitBlocks commits a dataset export's blocks as key's content.
func (u ExportUploader) CommitBlocks(ctx context.Context, key string, ids []string, contentType string) (string, error) {
	return u.Container.CommitBlocks(ctx, key, ids, contentType)
}

// Delete removes key; a missing blob is ENOTFOUND.
func (u ExportUploader) Delete(ctx context.Context, key string) error {
	return u.Container.Delete(ctx, key)
}

// TargetOpener opens the container of a target storage through the
// server's Connector, so export jobs share its cached clients and tokens.
type TargetOpener struct {
	Connector *Connector
}

// OpenUploader returns the exporter's Uploader (and BlockUploader, for
// dataset exports) for storage s, built from its connection and secret
// fields as they are now.
func (o TargetOpener) OpenUploader(ctx context.Context, s *blobmark.TargetStorage) (exporter.ContainerWriter, error) {
	c, err := o.Connector.StorageContainer(ctx, s.Organization, s.Connection, s.Secrets, s.Container)
	if err != nil {
		return nil, err
	}
	return ExportUploader{Container: c}, nil
}
