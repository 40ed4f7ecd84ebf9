package formats

import (
	"archive/zip"
	"compress/flate"
	"encoding/binary"
	"errors"
	"hash"
	"hash/crc32"
	"io"
	"unicode/utf8"
)

// zipWriter writes a zip archive as a stream, as archive/zip does, with
// two differences that keep an export of any size in flat memory:
//
//   - the central directory goes to a spool file as entries are written
//     and is copied out at the end, where archive/zip keeps a header of
//     some 200 bytes per entry until Close (a YOLO export of 100,000
//     images held 40 MB of them);
//   - it knows the names it wrote without keeping them: a hash of each
//     name points at its directory record, read back to confirm a match,
//     since formats such as YOLO must not write a name twice.
//
// Small entries (one label file per image) are stored, as deflating a
// hundred bytes saves nothing and costs a compressor per entry; large
// ones (COCO's result.json) are deflated at flate.BestSpeed, which on
// JSON is a few percent larger than the default level and several times
// faster. Archives of 65,535 entries or 4 GiB and more get zip64 records.
type zipWriter struct {
	out   *countWriter
	dir   *spool
	dirN  int64 // bytes written to dir
	count int64
	names map[uint64]int64 // FNV-64a of a name → offset of its record in dir
	// collided holds the names whose hash an earlier, different name had.
	collided map[string]bool
	cur      *zipEntry
	deflate  *flate.Writer
}

type zipEntry struct {
	name   string
	method uint16
	offset int64 // of the local header
	start  int64 // of the data
	crc    hash.Hash32
	size   int64 // uncompressed
	w      io.Writer
}

// Write implements io.Writer for the entry's data.
func (e *zipEntry) Write(p []byte) (int, error) {
	e.crc.Write(p)
	e.size += int64(len(p))
	return e.w.Write(p)
}

const (
	zipLocalHeader  = 0x04034b50
	zipDescriptor   = 0x08074b50
	zipDirHeader    = 0x02014b50
	zipDirEnd       = 0x06054b50
	zip64DirEnd     = 0x06064b50
	zip64DirLocator = 0x07064b50
	zipDirHeaderLen = 46
	zipFlagDesc     = 0x8   // sizes and CRC follow the data
	zipFlagUTF8     = 0x800 // the name is UTF-8
	uint16max       = 1<<16 - 1
	uint32max       = 1<<32 - 1
)

func newZipWriter(w io.Writer) (*zipWriter, error) {
	dir, err := newSpool()
	if err != nil {
		return nil, err
	}
	return &zipWriter{out: &countWriter{w: w}, dir: dir, names: map[uint64]int64{}, collided: map[string]bool{}}, nil
}

// Create starts a deflated entry; it is written until the next Create,
// WriteFile or Close.
func (z *zipWriter) Create(name string) (io.Writer, error) {
	if err := z.begin(name, zip.Deflate); err != nil {
		return nil, err
	}
	if z.deflate == nil {
		z.deflate, _ = flate.NewWriter(z.out, flate.BestSpeed) // a valid level cannot fail
	} else {
		z.deflate.Reset(z.out)
	}
	z.cur.w = z.deflate
	return z.cur, nil
}

// WriteFile writes a whole small entry, stored.
func (z *zipWriter) WriteFile(name string, data []byte) error {
	if err := z.begin(name, zip.Store); err != nil {
		return err
	}
	z.cur.w = z.out
	_, err := z.cur.Write(data)
	return err
}

func (z *zipWriter) begin(name string, method uint16) error {
	if err := z.finish(); err != nil {
		return err
	}
	e := &zipEntry{name: name, method: method, offset: z.out.n, crc: crc32.NewIEEE()}
	var h [30]byte
	b := h[:]
	b = le32(b, zipLocalHeader)
	b = le16(b, 45) // version needed: zip64, in case the sizes overflow
	b = le16(b, flags(name))
	b = le16(b, method)
	b = le32(b, 0) // time and date: none, as archive/zip's Create
	b = le32(b, 0) // CRC and sizes: in the data descriptor
	b = le32(b, 0)
	b = le32(b, 0)
	b = le16(b, uint16(len(name)))
	le16(b, 0) // extra
	if _, err := z.out.Write(h[:]); err != nil {
		return err
	}
	if _, err := io.WriteString(z.out, name); err != nil {
		return err
	}
	e.start = z.out.n
	z.cur = e
	return nil
}

// finish ends the current entry: its data descriptor, and its record in
// the central directory.
func (z *zipWriter) finish() error {
	e := z.cur
	if e == nil {
		return nil
	}
	z.cur = nil
	if e.method == zip.Deflate {
		if err := z.deflate.Close(); err != nil {
			return err
		}
	}
	csize, crc := z.out.n-e.start, e.crc.Sum32()
	zip64 := csize >= uint32max || e.size >= uint32max || e.offset >= uint32max
	var d [24]byte
	b := le32(d[:], zipDescriptor)
	b = le32(b, crc)
	if zip64 {
		b = le64(b, uint64(csize))
		b = le64(b, uint64(e.size))
	} else {
		b = le32(b, uint32(csize))
		b = le32(b, uint32(e.size))
	}
	if _, err := z.out.Write(d[:len(d)-len(b)]); err != nil {
		return err
	}

	var r [zipDirHeaderLen + 28]byte
	b = r[:]
	b = le32(b, zipDirHeader)
	b = le16(b, 45) // made by: MS-DOS, zip 4.5
	b = le16(b, 45)
	b = le16(b, flags(e.name))
	b = le16(b, e.method)
	b = le32(b, 0)
	b = le32(b, crc)
	extra := 0
	if zip64 {
		b = le32(b, uint32max)
		b = le32(b, uint32max)
		extra = 28
	} else {
		b = le32(b, uint32(csize))
		b = le32(b, uint32(e.size))
	}
	b = le16(b, uint16(len(e.name)))
	b = le16(b, uint16(extra))
	b = le16(b, 0) // comment
	b = le16(b, 0) // disk
	b = le16(b, 0) // internal attributes
	b = le32(b, 0) // external attributes
	if zip64 {
		b = le32(b, uint32max)
	} else {
		b = le32(b, uint32(e.offset))
	}
	z.remember(e.name)
	z.dir.Write(r[:zipDirHeaderLen])
	z.dir.WriteString(e.name)
	if zip64 {
		x := r[zipDirHeaderLen:]
		b = le16(x, 1) // the zip64 extra field: both sizes and the offset
		b = le16(b, 24)
		b = le64(b, uint64(e.size))
		b = le64(b, uint64(csize))
		le64(b, uint64(e.offset))
		z.dir.Write(x)
	}
	z.dirN += int64(zipDirHeaderLen + len(e.name) + extra)
	z.count++
	return nil
}

// remember records that name is written, its record at z.dirN.
func (z *zipWriter) remember(name string) {
	h := nameHash(name)
	if _, taken := z.names[h]; taken {
		z.collided[name] = true
		return
	}
	z.names[h] = z.dirN
}

// has reports whether an entry of that name was written.
func (z *zipWriter) has(name string) (bool, error) {
	if z.cur != nil && z.cur.name == name || z.collided[name] {
		return true, nil
	}
	off, ok := z.names[nameHash(name)]
	if !ok {
		return false, nil
	}
	if err := z.dir.Flush(); err != nil {
		return false, err
	}
	rec := make([]byte, zipDirHeaderLen+len(name))
	if _, err := z.dir.f.ReadAt(rec, off); err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return binary.LittleEndian.Uint16(rec[28:]) == uint16(len(name)) && string(rec[zipDirHeaderLen:]) == name, nil
}

// nameHash is the FNV-64a hash of a name.
func nameHash(name string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	return h
}

// Close ends the last entry and writes the central directory and its end
// records; the spool is removed.
func (z *zipWriter) Close() error {
	defer z.dir.close()
	if err := z.finish(); err != nil {
		return err
	}
	start := z.out.n
	rd, err := z.dir.reader()
	if err != nil {
		return err
	}
	if _, err := io.Copy(z.out, rd); err != nil {
		return err
	}
	end := z.out.n
	count, size, offset := z.count, end-start, start
	if count >= uint16max || size >= uint32max || offset >= uint32max {
		var r [56 + 20]byte
		b := le32(r[:], zip64DirEnd)
		b = le64(b, 44) // the size of the rest of this record
		b = le16(b, 45)
		b = le16(b, 45)
		b = le32(b, 0)
		b = le32(b, 0)
		b = le64(b, uint64(count))
		b = le64(b, uint64(count))
		b = le64(b, uint64(size))
		b = le64(b, uint64(offset))
		b = le32(b, zip64DirLocator)
		b = le32(b, 0)
		b = le64(b, uint64(end))
		le32(b, 1)
		if _, err := z.out.Write(r[:]); err != nil {
			return err
		}
		count, size, offset = min(count, uint16max), min(size, uint32max), min(offset, uint32max)
	}
	var r [22]byte
	b := le32(r[:], zipDirEnd)
	b = le16(b, 0)
	b = le16(b, 0)
	b = le16(b, uint16(count))
	b = le16(b, uint16(count))
	b = le32(b, uint32(size))
	b = le32(b, uint32(offset))
	le16(b, 0)
	_, err = z.out.Write(r[:])
	return err
}

// flags marks a name that is not plain ASCII as UTF-8, as archive/zip does.
func flags(name string) uint16 {
	f := uint16(zipFlagDesc)
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			if utf8.ValidString(name) {
				f |= zipFlagUTF8
			}
			break
		}
	}
	return f
}

func le16(b []byte, v uint16) []byte { binary.LittleEndian.PutUint16(b, v); return b[2:] }
func le32(b []byte, v uint32) []byte { binary.LittleEndian.PutUint32(b, v); return b[4:] }
func le64(b []byte, v uint64) []byte { binary.LittleEndian.PutUint64(b, v); return b[8:] }

// countWriter counts the bytes written through it: the offsets of the
// zip's records.
type countWriter struct {
	w io.Writer
	n int64
}

// Write implements io.Writer.
func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
