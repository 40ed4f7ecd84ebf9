package azureblob

import (
	"context"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/importer"
)

// SourceOpener opens what the import workers read of a source storage (its
// container and its event queue) through the server's Connector, so they
// share its cached clients and tokens and never build a client themselves.
type SourceOpener struct {
	Connector *Connector
}

// OpenSource returns the importer's view of storage st's container, built
// from its connection and secret fields as they are now.
func (o SourceOpener) OpenSource(ctx context.Context, st *blobmark.SourceStorage) (importer.Container, error) {
	c, err := o.Connector.StorageContainer(ctx, st.Organization, st.Connection, st.Secrets, st.Container)
	if err != nil {
		return nil, err
	}
	return sourceContainer{Container: c}, nil
}

// OpenEventQueue returns queue (a name or a URL, see queueURL) of storage
// st's account, reached with the storage's own credential.
func (o SourceOpener) OpenEventQueue(ctx context.Context, st *blobmark.SourceStorage, queue string) (importer.EventQueue, error) {
	q, err := o.Connector.StorageQueue(ctx, st.Organization, st.Connection, st.Secrets, queue)
	if err != nil {
		return nil, err
	}
	return q, nil
}

// sourceContainer is a container as the importer reads it: its Lister and
// Opener.
type sourceContainer struct {
	Container *Container
}

// List returns one page of the listing.
func (s sourceContainer) List(ctx context.Context, req importer.ListRequest) (importer.Listing, error) {
	var out importer.Listing
	err := s.Container.ListPage(ctx, ListOptions{Prefix: req.Prefix, Recursive: req.Recursive, PageSize: int32(req.MaxResults),
		Metadata: req.Metadata, Tags: req.Tags, TagFilter: req.TagFilter},
		req.Marker, func(page []BlobItem, next string) {
			out.NextMarker = next
			out.Objects = make([]importer.Object, len(page))
			for i, b := range page {
				out.Objects[i] = importer.Object{Key: b.Name, Size: b.Size, ETag: b.ETag, LastModified: b.LastModified,
					Folder: IsFolderMarker(b), Metadata: b.Metadata, Tags: b.Tags}
			}
		})
	return out, err
}

// Open streams one blob.
func (s sourceContainer) Open(ctx context.Context, key string) (importer.Download, error) {
	d, err := s.Container.Download(ctx, key, 0, 0)
	if err != nil {
		return importer.Download{}, err
	}
	return importer.Download{Body: d.Body, ETag: d.ETag, Size: d.Size}, nil
}
