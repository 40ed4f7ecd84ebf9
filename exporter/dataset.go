package exporter

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/exporter/formats"
)

// A dataset export writes a whole project in one export format (COCO,
// YOLO, CSV, …) as ONE object of a target storage, the file training code
// reads, instead of one object per annotation. The object is uploaded as a
// block blob: the output is cut into blocks that are staged as they fill
// and made the object's content by one final commit of the block list. So
// memory holds one block whatever the project's size, a run that fails or
// is killed half-way leaves the previous object untouched (staged blocks
// are invisible until committed, and Azure discards them after a week),
// and readers see the old object or the new one, never a mix.

// FieldDatasetFormat is the API's name of a storage's dataset format.
const FieldDatasetFormat = "dataset_format"

// DefaultBlockSize is the size of a dataset export's blocks: large enough
// for Azure's high-throughput block path (above 4 MiB), small enough to
// be the export's whole memory for the upload, and with Azure's 50,000
// blocks per blob it allows objects of 390 GiB.
const DefaultBlockSize = 8 << 20

// maxBlocks is Azure's limit on the committed blocks of one blob.
const maxBlocks = 50_000

// BlockUploader writes one object in blocks. The Azure connector's
// container implements it with Put Block and Put Block List.
type BlockUploader interface {
	// StageBlock uploads body as block id of key without changing the
	// object key names; the block is invisible until committed.
	StageBlock(ctx context.Context, key, id string, body []byte) error
	// CommitBlocks replaces the object key with the staged blocks ids, in
	// order, in one step, with the given Content-Type, and returns its ETag.
	CommitBlocks(ctx context.Context, key string, ids []string, contentType string) (etag string, err error)
}

// ContainerWriter is everything a target storage's exports write with:
// single objects and block uploads into one container.
type ContainerWriter interface {
	Uploader
	BlockUploader
}

// CheckDatasetFormat returns the export format named name when it exists
// and fits the label config, else an EINVALID error on dataset_format.
func CheckDatasetFormat(name string, cfg *blobmark.LabelConfig) (formats.Format, error) {
	f, err := formats.Check(name, cfg)
	if err != nil {
		return f, blobmark.FieldErrorf(FieldDatasetFormat, "%s", blobmark.ErrorMessage(err))
	}
	return f, nil
}

// DatasetResult is what a dataset export wrote.
type DatasetResult struct {
	ETag   string
	Bytes  int64
	Blocks int
	// MaxBuffered is the most output bytes held in memory at once, which
	// a block bounds.
	MaxBuffered int
}

// WriteDataset streams what write writes into object key through up, in
// blocks of blockSize bytes (DefaultBlockSize when <= 0), and commits them
// as the object's new content only when write returned nil. On any error
// nothing is committed and the object keeps its previous content.
func WriteDataset(ctx context.Context, up BlockUploader, key, contentType string, blockSize int, write func(io.Writer) error) (DatasetResult, error) {
	if blockSize <= 0 {
		blockSize = DefaultBlockSize
	}
	w := &blockWriter{ctx: ctx, up: up, key: key, run: newRunID(), buf: make([]byte, 0, blockSize)}
	if err := write(w); err != nil {
		return w.res, err
	}
	if err := w.flush(); err != nil {
		return w.res, err
	}
	etag, err := up.CommitBlocks(ctx, key, w.ids, contentType)
	if err != nil {
		return w.res, err
	}
	w.res.ETag = etag
	return w.res, nil
}

// newRunID names one run's blocks. Block ids are per blob, so two runs
// writing the same key at once (a retried job overlapping its rescued
// predecessor) must not stage under each other's ids: each commit then
// holds only its own run's blocks.
func newRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// blockWriter is an io.Writer that stages a block each time its buffer
// fills, reusing the one buffer.
type blockWriter struct {
	ctx context.Context
	up  BlockUploader
	key string
	run string
	buf []byte
	ids []string
	res DatasetResult
}

func (w *blockWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		room := cap(w.buf) - len(w.buf)
		take := min(room, len(p))
		w.buf = append(w.buf, p[:take]...)
		w.res.MaxBuffered = max(w.res.MaxBuffered, len(w.buf))
		p, n = p[take:], n+take
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// flush stages the buffer as the next block.
func (w *blockWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if len(w.ids) == maxBlocks {
		return blobmark.Errorf(blobmark.ETOOLARGE, "the dataset export of %s is larger than Azure's %d blocks of %d bytes", w.key, maxBlocks, cap(w.buf))
	}
	// Ids of one blob must all have the same length: a fixed-width index.
	id := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s-%06d", w.run, len(w.ids)))
	if err := w.up.StageBlock(w.ctx, w.key, id, w.buf); err != nil {
		return err
	}
	w.ids = append(w.ids, id)
	w.res.Bytes += int64(len(w.buf))
	w.res.Blocks++
	w.buf = w.buf[:0]
	return nil
}

// Dataset is the part of a target storage's settings a dataset export
// needs.
type Dataset struct {
	StorageID, ProjectID int64
	Prefix               string
	// Format is the export format's name ("COCO"); KeyTemplate the
	// storage's dataset_key_template ("" for the default).
	Format, KeyTemplate string
}

// Object returns the key and Content-Type of d's object for a run started
// at started. An unknown format or a bad template is EINVALID naming the
// field, for settings saved before a check existed or changed since.
func (d Dataset) Object(started time.Time) (key, contentType string, err error) {
	f, ok := formats.Lookup(d.Format)
	if !ok {
		return "", "", blobmark.FieldErrorf(FieldDatasetFormat, "Unknown export format %q.", d.Format)
	}
	t, err := ParseDatasetTemplate(d.KeyTemplate)
	if err != nil {
		return "", "", err
	}
	key, err = t.RenderDataset(d.Prefix, DatasetVars{ProjectID: d.ProjectID, StorageID: d.StorageID, Format: f.Name, Ext: f.Ext, Started: started})
	return key, f.ContentType, err
}
