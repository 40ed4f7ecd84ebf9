package blobmark

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"time"
)

// Storage statuses, as Label Studio reports them.
const (
	StatusInitialized         = "initialized"
	StatusQueued              = "queued"
	StatusInProgress          = "in_progress"
	StatusFailed              = "failed"
	StatusCompleted           = "completed"
	StatusCompletedWithErrors = "completed_with_errors"
)

// StorageState is the sync status Label Studio shows for any storage.
type StorageState struct {
	Status        string          `json:"status"`
	LastSync      *time.Time      `json:"last_sync"`
	LastSyncCount *int            `json:"last_sync_count"`
	LastSyncJob   *string         `json:"last_sync_job"`
	Traceback     *string         `json:"traceback"`
	Meta          json.RawMessage `json:"meta"`
}

// SourceStorage is an Azure container (under a prefix) that a project
// imports tasks from. Type is "azure" or "azure_spi" (the service-principal
// flavour of the same storage, as Label Studio's paths name it).
type SourceStorage struct {
	ID        int64
	ProjectID int64
	// Organization is the title of the organization that owns the
	// project, as the store read it: the operator's server identity
	// allow-list may be scoped to organizations.
	Organization        string
	Type                string
	Title               string
	Description         string
	Container           string
	Prefix              string
	RegexFilter         string
	UseBlobURLs         bool
	Presign             bool
	PresignTTL          int // minutes
	RecursiveScan       bool
	Synchronizable      bool
	SyncChanged         bool
	SyncDeleted         bool
	SyncIntervalMinutes int
	// MetadataKeys names the blob metadata a Files-mode sync copies into
	// each new task's data under DataKeyBlobMetadata; TagKeys names the
	// blob index tags it copies under DataKeyBlobTags. A single "*" takes
	// them all; empty (Label Studio's behaviour) copies nothing and asks
	// Azure for neither.
	MetadataKeys []string
	TagKeys      []string
	// TagFilter, when not "", is a blob index tag expression ("split" =
	// 'train'): a sync takes only the blobs Find Blobs by Tags returns for
	// it, and still applies the prefix and regex_filter to their names.
	TagFilter string
	// Connection holds the non-secret connection fields; Secrets the secret
	// ones, in plain text in memory only (redacted wherever printed): the
	// store seals them at rest and the API never returns them.
	Connection Connection
	Secrets    Secrets
	State      StorageState
	// TaskCount is how many of the project's tasks come from this storage
	// now, all syncs together: State.LastSyncCount counts one sync's new
	// tasks only, which is 0 for a re-sync that found nothing new.
	TaskCount int
	CreatedAt time.Time
	UpdatedAt time.Time
	// Events are the storage's event-driven sync settings and counters, as
	// the store read them (nil: events never enabled).
	Events *StorageEvents
}

// DataKeyBlobMetadata and DataKeyBlobTags are the task data keys under
// which a Files-mode sync puts the blob metadata and index tags a source
// storage selects (MetadataKeys, TagKeys), each as an object of strings.
const (
	DataKeyBlobMetadata = "blob_metadata"
	DataKeyBlobTags     = "blob_tags"
)

// MaxSyncIntervalMinutes is the longest sync_interval_minutes (and
// dataset_interval_minutes), a year. A
// longer period is no schedule anyone means, and the scheduler works with
// the interval as a time.Duration, which overflows past about 292 years: a
// 10^15-minute interval turned negative and was due on every tick.
const MaxSyncIntervalMinutes = 365 * 24 * 60

// CheckIntervalMinutes checks a schedule's interval, the field named
// field: 0 (no schedule) or 1 to MaxSyncIntervalMinutes.
func CheckIntervalMinutes(field string, minutes int) error {
	if minutes < 0 || minutes > MaxSyncIntervalMinutes {
		return FieldErrorf(field, "%s must be 0 (no schedule) or between 1 and %d minutes (a year).", field, MaxSyncIntervalMinutes)
	}
	return nil
}

// TargetStorage is an Azure container (under a prefix) that a project's
// annotations are exported to.
type TargetStorage struct {
	ID        int64
	ProjectID int64
	// Organization is the title of the organization that owns the project
	// (see SourceStorage.Organization).
	Organization     string
	Type             string
	Title            string
	Description      string
	Container        string
	Prefix           string
	CanDeleteObjects bool
	ExportFormat     string // "annotation" (default) or "task"
	FileExtension    *bool  // nil: the format's default
	// KeyTemplate names each exported object after its task ({task_id},
	// {data.<field>}, {source_stem}, …); "" keeps Label Studio's names.
	KeyTemplate string
	// DatasetFormat, when not "", makes every sync also write the whole
	// project in that export format (Label Studio's name: "COCO") as ONE
	// object named by DatasetKeyTemplate ("" is the default template).
	DatasetFormat      string
	DatasetKeyTemplate string
	// DatasetIntervalMinutes, when above 0, also writes the dataset export
	// that often without a sync, up to MaxSyncIntervalMinutes.
	DatasetIntervalMinutes int
	// Dataset is the state of the storage's latest dataset export.
	Dataset    DatasetState
	Connection Connection
	Secrets    Secrets
	State      StorageState
	// AnnotationCount is how many annotations are in the container now,
	// whoever wrote them: the export queue (one job per annotation write)
	// or an "export all" sync, whose State.LastSyncCount is its own only.
	AnnotationCount int
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// DatasetState is how a target storage's dataset export went. The
// object it names is complete whenever it exists: it is committed in one
// step at the end, so a failed or interrupted export leaves the previous
// one in place.
type DatasetState struct {
	// Status is "" (never run), StatusQueued, StatusInProgress,
	// StatusCompleted or StatusFailed.
	Status string `json:"status"`
	// Format and Key are the format and object of the run.
	Format string `json:"format,omitempty"`
	Key    string `json:"key,omitempty"`
	// Bytes is the size of the object written, Blocks how many blocks it
	// was uploaded in.
	Bytes      int64      `json:"bytes"`
	Blocks     int        `json:"blocks"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	// Error says why the last run failed.
	Error string `json:"error,omitempty"`
}

// StorageChecker tests a storage's connection for a use ("source" needs
// list and read; "target" needs write, and delete when asked) on behalf of
// the organization titled org, and returns a *Error whose Fields name what
// to fix.
type StorageChecker interface {
	CheckStorage(ctx context.Context, org string, conn Connection, secrets Secrets, container, prefix, use string, needDelete bool) error
}

// The verdicts of a CORSReport.
const (
	// CORSPresent: a browser at the origin can load presigned media.
	CORSPresent = "present"
	// CORSPartial: a rule applies to the origin but lacks something
	// presigned media needs.
	CORSPartial = "partial"
	// CORSMissing: no rule admits the origin's media requests.
	CORSMissing = "missing"
	// CORSUnknown: the rules could not be read; Message says why.
	CORSUnknown = "unknown"
)

// CORSReport says whether a browser at Origin may load presigned media
// straight from a storage's account, as the account's blob-service CORS
// rules decide, and what is missing if not.
type CORSReport struct {
	Origin string `json:"origin"`
	// Status is CORSPresent, CORSPartial, CORSMissing or CORSUnknown.
	Status string `json:"status"`
	// Missing names what the rules lack for Origin, e.g. "method HEAD" or
	// "exposed header Content-Range".
	Missing []string `json:"missing"`
	// Rules is how many CORS rules the account has (Azure keeps five at
	// most).
	Rules int `json:"rules"`
	// Message is the verdict in a sentence, with the fix.
	Message string `json:"message"`
	// Command is the Azure CLI command that adds the rule blobmark adds,
	// for someone who may change the account when blobmark may not.
	Command string `json:"command,omitempty"`
	// CanPresign reports whether the storage's credential can mint
	// presigned URLs at all; media it cannot presign is streamed by
	// blobmark, and CORS does not matter for it.
	CanPresign bool `json:"can_presign"`
}

// CORSOrigin is the origin of an http(s) URL, scheme://host[:port], as a
// CORS rule names it. Anything else, including a host with a comma (which
// a rule would read as a list of origins), is an EINVALID error.
func CORSOrigin(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || strings.ContainsAny(u.Host, ", ") {
		// Not echoed: a URL may carry a password.
		return "", Errorf(EINVALID, "the URL is not an http(s) origin (scheme://host[:port])")
	}
	return u.Scheme + "://" + u.Host, nil
}

// StorageCORS reads and extends the CORS rules of a storage's account, on
// behalf of the organization titled org. The media the browser loads with
// a presigned URL comes straight from the account, so without a rule for
// blobmark's origin the labeling page cannot show it.
type StorageCORS interface {
	// CheckStorageCORS judges the account's rules for origin; rules that
	// cannot be read give a CORSUnknown report, not an error.
	CheckStorageCORS(ctx context.Context, org string, conn Connection, secrets Secrets, container, origin string) CORSReport
	// AddStorageCORSRule adds one rule for origin, leaving the other rules
	// as they are, unless the rules already admit it. A credential that
	// may not change the rules is an EFORBIDDEN error naming the role
	// needed and the equivalent command; five rules already an ECONFLICT.
	AddStorageCORSRule(ctx context.Context, org string, conn Connection, secrets Secrets, container, origin string) (CORSReport, error)
}

// MetaPreviousSync is the source storage meta key where a queued or running
// sync keeps the time the storage last synced successfully (RFC 3339):
// Label Studio's last_sync is cleared when a sync is queued, and a person
// watching a re-sync still wants to know how old the tasks are.
const MetaPreviousSync = "previous_sync"

// MetaCORS is the source storage meta key where a sync leaves the verdict
// (a CORSReport) on whether the account's CORS rules let the browser load
// the storage's presigned media from blobmark's origin; absent where the
// media is streamed, or the server's public URL is not configured.
const MetaCORS = "cors"

// MetaSettingsSavedAt is the storage meta key where a running sync records
// when the settings it runs with were saved (updated_at, RFC 3339): work
// done for the sync elsewhere, such as its chunks of task files, compares
// it with the storage's updated_at to notice settings changed meanwhile.
const MetaSettingsSavedAt = "settings_saved_at"
