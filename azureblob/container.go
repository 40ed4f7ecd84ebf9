package azureblob

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// Container is a client for one container. It is cheap: it shares the
// account client's pipeline, token cache and delegation-key cache.
type Container struct {
	acc    *accountClient
	name   string
	client *container.Client
}

// BlobItem is one blob as a listing reports it.
type BlobItem struct {
	Name         string
	Size         int64
	ETag         string
	LastModified time.Time
	ContentType  string
	// Directory marks a directory of an account with a hierarchical
	// namespace (Data Lake Storage Gen2), which its Blob listing reports as
	// an empty blob named without a trailing slash.
	Directory bool
	// Metadata and Tags are the blob's metadata and index tags when the
	// listing asked for them (ListOptions.Metadata, Tags), else nil.
	Metadata map[string]string
	Tags     map[string]string
}

// BlobProperties are a blob's metadata as returned by a HEAD or a download.
type BlobProperties struct {
	Name         string
	Size         int64
	ETag         string
	LastModified time.Time
	ContentType  string
	// ContentRange is set for ranged downloads ("bytes 0-99/1234").
	ContentRange string
}

// ListOptions select what List returns.
type ListOptions struct {
	// Prefix restricts the listing to names that start with it.
	Prefix string
	// Recursive lists every blob under Prefix; otherwise only the blobs
	// directly at Prefix's level ("folders" below it are skipped).
	Recursive bool
	// PageSize is the number of blobs asked for per request (Azure caps it at
	// 5000; 0 means the service default).
	PageSize int32
	// Metadata and Tags ask for each blob's metadata and index tags, which
	// lengthen every page; reading tags needs the tag permission.
	Metadata, Tags bool
	// TagFilter, when not "", lists instead the container's blobs whose
	// index tags match this expression (Find Blobs by Tags), in pages of
	// names and matching tags only; Prefix and Recursive do not apply.
	TagFilter string
}

// Name returns the container's name.
func (c *Container) Name() string { return c.name }

// AccountName returns the storage account's name.
func (c *Container) AccountName() string { return c.acc.cred.account.name }

// Endpoint returns the account's blob service URL, ending in "/".
func (c *Container) Endpoint() string { return c.acc.cred.account.serviceURL }

// AuthType returns the auth type in effect (inferred when the config left it blank).
func (c *Container) AuthType() AuthType { return c.acc.cfg.AuthType }

// BlobURL returns the plain URL of a blob, without any credential, with the
// name URL-encoded.
func (c *Container) BlobURL(key string) string {
	return c.acc.cred.account.serviceURL + escapeBlobName(c.name) + "/" + escapeBlobName(key)
}

// IsFolderMarker reports whether a listed blob is a directory rather than a
// file, which never becomes a task: a Data Lake directory (see
// BlobItem.Directory), or an empty placeholder named with a trailing "/",
// which tools such as Storage Explorer create in flat accounts.
func IsFolderMarker(b BlobItem) bool {
	return b.Directory || strings.HasSuffix(b.Name, "/") && b.Size == 0
}

// List calls fn with each page of blobs under opts.Prefix, in name order,
// following continuation markers, so a container of any size is listed with
// one page in memory. fn's error stops the listing and is returned as is.
// A flat listing hands fn every page, an empty container's one empty page
// included; a hierarchical one skips the pages that held only virtual
// directories, which fn would have nothing to do with.
func (c *Container) List(ctx context.Context, opts ListOptions, fn func(page []BlobItem) error) error {
	marker := ""
	for {
		page, next, err := c.listPage(ctx, opts, marker)
		if err != nil {
			return err
		}
		if len(page) > 0 || opts.Recursive {
			if err := fn(page); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		marker = next
	}
}

// ListPage lists one page of blobs under opts.Prefix starting at marker (""
// for the first page) and calls fn with the page and the marker of the next
// one ("" after the last page). A hierarchical page may hold no blob at all
// (only virtual directories) and still have a next marker.
func (c *Container) ListPage(ctx context.Context, opts ListOptions, marker string, fn func(page []BlobItem, next string)) error {
	page, next, err := c.listPage(ctx, opts, marker)
	if err != nil {
		return err
	}
	fn(page, next)
	return nil
}

// listPage is the one request behind List and ListPage: the page of blobs
// that marker points to, flat or one level deep, with the next page's
// marker ("" after the last page) and Azure's error translated.
func (c *Container) listPage(ctx context.Context, opts ListOptions, marker string) ([]BlobItem, string, error) {
	var maxResults *int32
	if opts.PageSize > 0 {
		maxResults = to.Ptr(opts.PageSize)
	}
	if opts.TagFilter != "" {
		return c.filterPage(ctx, opts.TagFilter, maxResults, marker)
	}
	// Metadata always: a Data Lake directory is known by its hdi_isfolder
	// metadata, and only the listing can say so without a request per blob.
	include := container.ListBlobsInclude{Metadata: true, Tags: opts.Tags}
	op := opList
	if opts.Tags {
		op = opTags // a 403 is then most likely the missing tag permission
	}
	var items []*container.BlobItem
	var next *string
	if opts.Recursive {
		resp, err := c.client.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: nonEmpty(opts.Prefix),
			MaxResults: maxResults, Marker: nonEmpty(marker), Include: include}).NextPage(ctx)
		if err != nil {
			return nil, "", c.fail(err, op, "")
		}
		items, next = resp.Segment.BlobItems, resp.NextMarker
	} else {
		resp, err := c.client.NewListBlobsHierarchyPager("/", &container.ListBlobsHierarchyOptions{Prefix: nonEmpty(opts.Prefix),
			MaxResults: maxResults, Marker: nonEmpty(marker), Include: include}).NextPage(ctx)
		if err != nil {
			return nil, "", c.fail(err, op, "")
		}
		items, next = resp.Segment.BlobItems, resp.NextMarker
	}
	page := make([]BlobItem, 0, len(items))
	for _, b := range items {
		it := itemOf(b.Name, b.Properties)
		it.Directory = isDirectory(b.Properties, b.Metadata)
		if opts.Metadata {
			it.Metadata = metadataOf(b.Metadata)
		}
		it.Tags = tagsOf(b.BlobTags)
		page = append(page, it)
	}
	return page, deref(next), nil
}

// isDirectory reports whether a listed blob is a directory of a
// hierarchical-namespace account: its ResourceType property says so where
// the service reports it, its hdi_isfolder metadata ("true") always does.
// Metadata names are case-insensitive in Azure.
func isDirectory(p *container.BlobProperties, metadata map[string]*string) bool {
	if p != nil && strings.EqualFold(deref(p.ResourceType), "directory") {
		return true
	}
	for k, v := range metadata {
		if strings.EqualFold(k, "hdi_isfolder") && strings.EqualFold(deref(v), "true") {
			return true
		}
	}
	return false
}

// filterPage is one page of Find Blobs by Tags on this container. Azure
// answers an expression it cannot parse with 400, which is reported on the
// storage field tag_filter with Azure's own explanation.
func (c *Container) filterPage(ctx context.Context, where string, maxResults *int32, marker string) ([]BlobItem, string, error) {
	resp, err := c.client.FilterBlobs(ctx, where, &container.FilterBlobsOptions{MaxResults: maxResults, Marker: nonEmpty(marker)})
	if err != nil {
		return nil, "", tagFilterRejected(err, c.fail(err, opTags, ""))
	}
	page := make([]BlobItem, 0, len(resp.Blobs))
	for _, b := range resp.Blobs {
		page = append(page, BlobItem{Name: deref(b.Name), Tags: tagsOf(b.Tags)})
	}
	return page, deref(resp.NextMarker), nil
}

// metadataOf flattens a listing's metadata; nil stays nil.
func metadataOf(m map[string]*string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = deref(v)
	}
	return out
}

// tagsOf flattens a listing's tag set; nil stays nil.
func tagsOf(t *container.BlobTags) map[string]string {
	if t == nil {
		return nil
	}
	out := make(map[string]string, len(t.BlobTagSet))
	for _, tag := range t.BlobTagSet {
		if tag != nil {
			out[deref(tag.Key)] = deref(tag.Value)
		}
	}
	return out
}

func itemOf(name *string, p *container.BlobProperties) BlobItem {
	it := BlobItem{Name: deref(name)}
	if p != nil {
		if p.ContentLength != nil {
			it.Size = *p.ContentLength
		}
		if p.ETag != nil {
			it.ETag = string(*p.ETag)
		}
		if p.LastModified != nil {
			it.LastModified = *p.LastModified
		}
		it.ContentType = deref(p.ContentType)
	}
	return it
}

// Exists reports whether the container exists. Credentials that cannot read
// container properties get an error, not false.
func (c *Container) Exists(ctx context.Context) (bool, error) {
	_, err := c.client.GetProperties(ctx, nil)
	if err == nil {
		return true, nil
	}
	if code := responseCode(err); code == "ContainerNotFound" {
		return false, nil
	}
	return false, c.fail(err, opRead, "")
}

// Properties returns a blob's properties without downloading it.
func (c *Container) Properties(ctx context.Context, key string) (BlobProperties, error) {
	resp, err := c.client.NewBlobClient(key).GetProperties(ctx, nil)
	if err != nil {
		return BlobProperties{}, c.fail(err, opRead, key)
	}
	p := BlobProperties{Name: key, ContentType: deref(resp.ContentType)}
	if resp.ContentLength != nil {
		p.Size = *resp.ContentLength
	}
	if resp.ETag != nil {
		p.ETag = string(*resp.ETag)
	}
	if resp.LastModified != nil {
		p.LastModified = *resp.LastModified
	}
	return p, nil
}

// Download is an open blob body with its properties. Close Body.
type Download struct {
	Body io.ReadCloser
	BlobProperties
}

// Download streams a blob, or the byte range [offset, offset+count) of it
// when count > 0 (count 0 means to the end). The body is read straight from
// the network, never buffered whole, and resumes transparently after a
// dropped connection. Size is the whole blob's, also for a range.
func (c *Container) Download(ctx context.Context, key string, offset, count int64) (*Download, error) {
	d, err := c.download(ctx, key, offset, count)
	if err != nil {
		return nil, c.fail(err, opRead, key)
	}
	return d, nil
}

// download is Download with Azure's own error, so that callers can tell an
// unsatisfiable range from a failure.
func (c *Container) download(ctx context.Context, key string, offset, count int64) (*Download, error) {
	o := &blob.DownloadStreamOptions{}
	if offset > 0 || count > 0 {
		o.Range = blob.HTTPRange{Offset: offset, Count: count}
	}
	resp, err := c.client.NewBlobClient(key).DownloadStream(ctx, o)
	if err != nil {
		return nil, err
	}
	d := &Download{Body: resp.NewRetryReader(ctx, &blob.RetryReaderOptions{MaxRetries: 3}),
		BlobProperties: BlobProperties{Name: key, ContentType: deref(resp.ContentType), ContentRange: deref(resp.ContentRange)}}
	if resp.ContentLength != nil {
		d.Size = *resp.ContentLength
	}
	if total, ok := rangeTotal(d.ContentRange); ok {
		d.Size = total
	}
	if resp.ETag != nil {
		d.ETag = string(*resp.ETag)
	}
	if resp.LastModified != nil {
		d.LastModified = *resp.LastModified
	}
	return d, nil
}

// rangeTotal reads the complete length from a Content-Range header
// ("bytes 0-99/1234" gives 1234); ok is false when there is none.
func rangeTotal(cr string) (int64, bool) {
	_, total, ok := strings.Cut(cr, "/")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(total, 10, 64)
	return n, err == nil && n >= 0
}

// Upload writes body to key, replacing any existing blob, and returns the new
// ETag. Large bodies are sent in blocks, so body is streamed, not buffered.
func (c *Container) Upload(ctx context.Context, key string, body io.Reader, contentType string) (string, error) {
	o := &blockblob.UploadStreamOptions{}
	if contentType != "" {
		o.HTTPHeaders = &blob.HTTPHeaders{BlobContentType: to.Ptr(contentType)}
	}
	resp, err := c.client.NewBlockBlobClient(key).UploadStream(ctx, body, o)
	if err != nil {
		return "", c.fail(err, opWrite, key)
	}
	if resp.ETag == nil {
		return "", nil
	}
	return string(*resp.ETag), nil
}

// UploadBytes is Upload for a body already in memory.
func (c *Container) UploadBytes(ctx context.Context, key string, data []byte, contentType string) (string, error) {
	return c.Upload(ctx, key, bytes.NewReader(data), contentType)
}

// StageBlock uploads body as block id (base64) of key. The block stays
// invisible, and the blob unchanged, until CommitBlocks names it.
func (c *Container) StageBlock(ctx context.Context, key, id string, body []byte) error {
	_, err := c.client.NewBlockBlobClient(key).StageBlock(ctx, id, streaming.NopCloser(bytes.NewReader(body)), nil)
	if err != nil {
		return c.fail(err, opWrite, key)
	}
	return nil
}

// CommitBlocks makes the staged blocks ids, in order, the content of key
// in one step (blocks staged but not named are discarded) and returns the
// new ETag.
func (c *Container) CommitBlocks(ctx context.Context, key string, ids []string, contentType string) (string, error) {
	o := &blockblob.CommitBlockListOptions{}
	if contentType != "" {
		o.HTTPHeaders = &blob.HTTPHeaders{BlobContentType: to.Ptr(contentType)}
	}
	resp, err := c.client.NewBlockBlobClient(key).CommitBlockList(ctx, ids, o)
	if err != nil {
		return "", c.fail(err, opWrite, key)
	}
	return deref((*string)(resp.ETag)), nil
}

// Delete removes a blob and its snapshots. Deleting a missing blob is an
// ENOTFOUND error, so callers that do not care can check the code.
func (c *Container) Delete(ctx context.Context, key string) error {
	_, err := c.client.NewBlobClient(key).Delete(ctx, &blob.DeleteOptions{DeleteSnapshots: to.Ptr(blob.DeleteSnapshotsOptionTypeInclude)})
	if err != nil {
		return c.fail(err, opDelete, key)
	}
	return nil
}

// fail translates an error of an operation on this container.
func (c *Container) fail(err error, op operation, key string) error {
	return translate(err, errContext{op: op, account: c.acc.cred.account.name, container: c.name, key: key,
		authType: c.acc.cfg.AuthType, endpoint: c.acc.cred.account.serviceURL, endpointField: endpointField(c.acc.cfg), secrets: c.acc.cfg.Secrets()})
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
