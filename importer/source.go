package importer

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"time"

	"github.com/blobmark/blobmark"
)

// Defaults used when a Source leaves a tuning field at zero. They keep
// memory bounded by a page, not by the container.
const (
	// DefaultMaxFileSize caps a Tasks-mode file, so one huge blob cannot
	// exhaust the server's memory.
	DefaultMaxFileSize = 64 << 20
	// DefaultPageSize is Azure's largest List Blobs page; fewer round trips
	// make the sync cost close to the bare listing.
	DefaultPageSize = 5000
	// DefaultConcurrency is how many task files are downloaded at once.
	DefaultConcurrency = 16
	// DefaultMaxBatchTasks bounds the tasks written in one transaction, so a
	// page of large task files is split (at file boundaries) rather than held
	// in memory whole.
	DefaultMaxBatchTasks = 5000
	// DefaultProgressInterval is how often progress is reported while a
	// sync runs; it stays well below the staleness limit after which a
	// running sync is presumed dead.
	DefaultProgressInterval = 2 * time.Second
	// DefaultMaxFailures caps the failures kept for traceback and meta, so a
	// container of a million bad files does not make a million-line report.
	DefaultMaxFailures = 100
	// DefaultChunkFiles is how many task files a fanned-out sync hands to
	// a worker at once: enough to keep a worker's downloads busy for a
	// while, few enough that a page of them spreads over several workers.
	DefaultChunkFiles = 100
)

// Options are an import storage's sync settings as the API stores them.
// They are validated (and the regex compiled) once by NewSource.
type Options struct {
	// Container is the Azure container name.
	Container string
	// Prefix limits the sync to keys under it; see NormalizePrefix.
	Prefix string
	// RegexFilter, when not empty, keeps only keys it matches at the start
	// of the full key (Python re.match semantics); see CompileFilter.
	RegexFilter string
	// Recursive lists every blob under the prefix; false (Label Studio's
	// default) takes only blobs directly under it.
	Recursive bool
	// UseBlobURLs selects Files mode (one task per blob); false selects Tasks
	// mode (each blob is a JSON/JSONL task file).
	UseBlobURLs bool
	// MaxFileSize caps a Tasks-mode file in bytes; 0 means DefaultMaxFileSize.
	MaxFileSize int64
	// SyncChanged re-reads Tasks-mode files whose ETag or size changed and
	// updates their unannotated tasks in place.
	SyncChanged bool
	// SyncDeleted removes unannotated tasks whose blob has disappeared and
	// marks annotated ones.
	SyncDeleted bool
	// MetadataKeys and TagKeys select the blob metadata and index tags
	// copied into each new Files-mode task (see blobmark.SourceStorage).
	MetadataKeys []string
	TagKeys      []string
	// TagFilter, when not "", lists the blobs through Find Blobs by Tags
	// instead of List Blobs; see CheckTagFilter.
	TagFilter string
}

// OptionsFor returns the sync settings of a stored source storage: the one
// place where the storage's fields become the engine's options, so a sync,
// an event and the API's validation all see the same settings.
func OptionsFor(st *blobmark.SourceStorage) Options {
	return Options{Container: st.Container, Prefix: st.Prefix, RegexFilter: st.RegexFilter, Recursive: st.RecursiveScan,
		UseBlobURLs: st.UseBlobURLs, SyncChanged: st.SyncChanged, SyncDeleted: st.SyncDeleted,
		MetadataKeys: st.MetadataKeys, TagKeys: st.TagKeys, TagFilter: st.TagFilter}
}

// Validate reports every problem of o at once, as one EINVALID *blobmark.Error
// whose Fields name the storage fields at fault, so the API can answer a
// create or update with all of them.
func (o Options) Validate() error {
	fields := map[string][]string{}
	if strings.TrimSpace(o.Container) == "" {
		fields["container"] = append(fields["container"], "container is required")
	}
	if _, err := CompileFilter(o.RegexFilter); err != nil {
		fields["regex_filter"] = append(fields["regex_filter"], blobmark.ErrorMessage(err))
	}
	if o.MaxFileSize < 0 {
		fields["max_file_size"] = append(fields["max_file_size"], "max_file_size must not be negative")
	}
	for field, msg := range o.blobIndexProblems() {
		fields[field] = append(fields[field], msg)
	}
	if len(fields) == 0 {
		return nil
	}
	e := &blobmark.Error{Code: blobmark.EINVALID, Message: "invalid storage settings", Fields: fields}
	if len(fields) == 1 {
		for f, msgs := range fields {
			e.Field, e.Message = f, msgs[0]
		}
	}
	return e
}

// Source is a validated, compiled import storage ready to sync: the
// storage's settings plus the per-run generation and tuning knobs. Build it
// with NewSource, then set Generation (and any tuning) before Sync.
type Source struct {
	// StorageID identifies the import storage to the Sink.
	StorageID int64
	// Generation stamps every link this run sees; links left with an older
	// generation after a complete listing are the deleted blobs. It must
	// grow from one sync of a storage to the next (a queue job id does); a
	// retry of the same sync may reuse it.
	Generation int64

	Container   string         // Container is the Azure container name.
	Prefix      string         // Prefix is normalised: "" or ending in "/".
	Filter      *regexp.Regexp // Filter is anchored at the key's start, or nil.
	Recursive   bool           // Recursive lists all depths under Prefix.
	UseBlobURLs bool           // UseBlobURLs selects Files mode.
	MaxFileSize int64          // MaxFileSize caps a task file, in bytes.
	SyncChanged bool           // SyncChanged re-reads changed task files.
	SyncDeleted bool           // SyncDeleted reconciles disappeared blobs.

	// MetadataKeys and TagKeys select what a new Files-mode task copies of
	// its blob's metadata and index tags; TagFilter lists by index tags.
	MetadataKeys []string
	TagKeys      []string
	TagFilter    string

	// Concurrency is how many task files are downloaded at once.
	Concurrency int
	// PageSize is the MaxResults asked of the Lister.
	PageSize int
	// MaxBatchTasks bounds the tasks created or updated per WriteBatch in
	// Tasks mode (a batch closes after the file that reaches it); in Files
	// mode a page, at most PageSize tasks, is one batch.
	MaxBatchTasks int
	// ProgressInterval is the period of progress reports.
	ProgressInterval time.Duration
	// MaxFailures caps the failures kept in Progress.Failures.
	MaxFailures int

	// FanOut, when set, takes the task files of every page that has at
	// least ChunkFiles of them to read, in chunks of ChunkFiles, so other
	// workers read them; nil reads every file in this process.
	FanOut FanOut
	// ChunkFiles is the size of a chunk; 0 means DefaultChunkFiles.
	ChunkFiles int
	// ChunkPoll is how often a waiting sync looks at its chunks; 0 means
	// DefaultChunkPoll.
	ChunkPoll time.Duration
	// ChunkStaleAfter is how long a started chunk may go without a ping
	// before its files are queued again; 0 means DefaultChunkStaleAfter.
	ChunkStaleAfter time.Duration
}

// NewSource validates o and returns the Source of storage storageID with
// the prefix normalised, the regex compiled and default tuning filled in.
func NewSource(storageID int64, o Options) (*Source, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	re, _ := CompileFilter(o.RegexFilter)
	s := &Source{
		StorageID:   storageID,
		Container:   o.Container,
		Prefix:      NormalizePrefix(o.Prefix),
		Filter:      re,
		Recursive:   o.Recursive,
		UseBlobURLs: o.UseBlobURLs,
		MaxFileSize: o.MaxFileSize,
		SyncChanged: o.SyncChanged,
		SyncDeleted: o.SyncDeleted,

		MetadataKeys: o.MetadataKeys,
		TagKeys:      o.TagKeys,
		TagFilter:    strings.TrimSpace(o.TagFilter),
	}
	s.fillDefaults()
	return s, nil
}

// fillDefaults replaces zero tuning fields by the package defaults, so a
// hand-built Source behaves like one from NewSource.
func (s *Source) fillDefaults() {
	if s.MaxFileSize <= 0 {
		s.MaxFileSize = DefaultMaxFileSize
	}
	if s.Concurrency <= 0 {
		s.Concurrency = DefaultConcurrency
	}
	if s.PageSize <= 0 {
		s.PageSize = DefaultPageSize
	}
	if s.MaxBatchTasks <= 0 {
		s.MaxBatchTasks = DefaultMaxBatchTasks
	}
	if s.ProgressInterval <= 0 {
		s.ProgressInterval = DefaultProgressInterval
	}
	if s.MaxFailures <= 0 {
		s.MaxFailures = DefaultMaxFailures
	}
	if s.ChunkFiles <= 0 {
		s.ChunkFiles = DefaultChunkFiles
	}
	if s.ChunkPoll <= 0 {
		s.ChunkPoll = DefaultChunkPoll
	}
	if s.ChunkStaleAfter <= 0 {
		s.ChunkStaleAfter = DefaultChunkStaleAfter
	}
}

// NormalizePrefix returns prefix as Label Studio lists it: leading slashes
// removed (blob names never start with one) and exactly one trailing slash
// when not empty, so "data" means the folder data/ and never data2/.
func NormalizePrefix(prefix string) string {
	p := strings.TrimLeft(prefix, "/")
	p = strings.TrimRight(p, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

// Bounds of a regex_filter. Go's regexp runs in time linear in the key,
// but the memory of one match grows with the compiled program times its
// capture groups: a 120 KB expression of 20,000 groups held several
// gigabytes to match two keys. A filter only says yes or no to a key, so
// these bounds are far above what one needs (a list of a few hundred file
// names fits) and keep a match within a few megabytes.
const (
	// MaxFilterBytes is the longest regex_filter, in bytes.
	MaxFilterBytes = 4096
	// MaxFilterInstructions bounds the program a regex_filter compiles to;
	// a counted repetition such as {1000} multiplies the size of what it
	// repeats.
	MaxFilterInstructions = 10000
	// MaxFilterGroups bounds the capturing groups, each of which every
	// thread of a match carries; (?:…) groups without capturing.
	MaxFilterGroups = 64
)

// CompileFilter compiles a regex_filter the way a sync applies it: matched
// at the start of the full key (prefix included), like Python's re.match,
// not anywhere in it. An empty expression means no filter (nil). An invalid
// one, or one beyond the bounds above, is an EINVALID *blobmark.Error on
// field regex_filter, so the API can reject it when the storage is created
// instead of failing every sync; a sync of a storage saved before the
// bounds existed fails with the same message rather than exhausting memory.
func CompileFilter(expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	if len(expr) > MaxFilterBytes {
		return nil, filterError(fmt.Sprintf("regex_filter is %d bytes long; at most %d are allowed", len(expr), MaxFilterBytes), nil)
	}
	// Parsing the bare expression first rejects unbalanced input such as
	// "a)|(b" that the anchoring group would otherwise turn into a valid,
	// different pattern. regexp.Compile parses with the same flags.
	parsed, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, filterError("regex_filter is not a valid regular expression ("+err.Error()+
			"); blobmark uses RE2 syntax, which has no look-arounds or back-references", err)
	}
	if n := parsed.MaxCap(); n > MaxFilterGroups {
		return nil, filterError(fmt.Sprintf("regex_filter has %d capturing groups; at most %d are allowed (write (?:…) to group without capturing)",
			n, MaxFilterGroups), nil)
	}
	// The size is bounded from the parse tree, before compiling, so an
	// expression whose program would take megabytes is never built.
	if n := programSize(parsed, MaxFilterInstructions); n > MaxFilterInstructions {
		return nil, filterError(fmt.Sprintf("regex_filter is too complex: it compiles to more than %d instructions "+
			"(a counted repetition such as {1000} multiplies the size of what it repeats)", MaxFilterInstructions), nil)
	}
	return regexp.MustCompile(`\A(?:` + expr + `)`), nil
}

// filterError is an EINVALID error on regex_filter saying msg.
func filterError(msg string, err error) error {
	return &blobmark.Error{Code: blobmark.EINVALID, Field: "regex_filter", Message: msg,
		Fields: map[string][]string{"regex_filter": {msg}}, Err: err}
}

// programSize returns an upper bound of the instructions re compiles to,
// counted as regexp/syntax bounds its own parses (a repetition costs its
// count times its operand), plus the program's start and match. It stops
// counting past limit, so nested repetitions cannot overflow it.
func programSize(re *syntax.Regexp, limit int) int {
	return min(treeSize(re, limit)+2, limit+1)
}

func treeSize(re *syntax.Regexp, limit int) int {
	sub := func() int { return treeSize(re.Sub[0], limit) }
	size := 0
	switch re.Op {
	case syntax.OpLiteral:
		size = len(re.Rune)
	case syntax.OpCapture, syntax.OpStar:
		size = 2 + sub()
	case syntax.OpPlus, syntax.OpQuest:
		size = 1 + sub()
	case syntax.OpConcat, syntax.OpAlternate:
		for _, s := range re.Sub {
			size += treeSize(s, limit)
			if size > limit {
				return limit + 1
			}
		}
		if re.Op == syntax.OpAlternate {
			size += len(re.Sub) - 1
		}
	case syntax.OpRepeat:
		n := re.Max
		if n == -1 {
			n = max(re.Min, 1) // x{n,} is n-1 copies and x+; x{0,} is x*
		}
		one := sub()
		if n > 0 && one > limit/n {
			return limit + 1
		}
		size = 2 + n*one + max(re.Max-re.Min, 0)
	}
	return min(max(1, size), limit+1)
}

// InScope reports whether a listed object becomes a task of this source:
// under the prefix, directly under it unless recursive, not a folder marker,
// and matched by the filter. Reconcile uses it too, so a link that merely
// fell out of scope (after a prefix or regex change) is never taken for a
// deleted blob.
func (s *Source) InScope(o Object) bool {
	if o.Folder || strings.HasSuffix(o.Key, "/") || o.Key == "" {
		return false
	}
	return s.keyInScope(o.Key)
}

// keyInScope is InScope for a bare key.
func (s *Source) keyInScope(key string) bool {
	if !strings.HasPrefix(key, s.Prefix) || strings.HasSuffix(key, "/") {
		return false
	}
	if !s.Recursive && strings.Contains(key[len(s.Prefix):], "/") {
		return false
	}
	return s.Filter == nil || s.Filter.MatchString(key)
}
