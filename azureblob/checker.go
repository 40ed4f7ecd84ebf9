package azureblob

import (
	"context"
	"errors"
	"strings"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/importer"
)

// Checker checks storage connections and previews their blobs for the API,
// through the server's Connector. It implements blobmark.StorageChecker,
// blobmark.StorageFileLister and blobmark.StorageCORS.
type Checker struct {
	Connector *Connector
}

// Interface checks.
var (
	_ blobmark.StorageChecker    = (*Checker)(nil)
	_ blobmark.StorageFileLister = (*Checker)(nil)
	_ blobmark.StorageCORS       = (*Checker)(nil)
)

// ConfigFromConnection builds a Config from a storage's connection and
// secret fields. A field the connector does not know is an EINVALID error
// naming it. The secrets are revealed here, into the Config that builds
// the credential, and nowhere else in the connector.
func ConfigFromConnection(conn blobmark.Connection, secrets blobmark.Secrets) (Config, error) {
	var cfg Config
	set := func(k, v string) error {
		if v == "" {
			return nil
		}
		if k == "auth_type" {
			cfg.AuthType = AuthType(v)
		} else if p := cfg.field(k); p != nil {
			*p = v
		} else {
			return blobmark.FieldErrorf(k, "%s is not a connection field of Azure storages", k)
		}
		return nil
	}
	for k, v := range conn {
		if err := set(k, v); err != nil {
			return Config{}, err
		}
	}
	for k, v := range secrets {
		if err := set(k, v.Reveal()); err != nil {
			return Config{}, err
		}
	}
	return cfg, nil
}

// StorageConfig is the Config of a stored (or about to be stored)
// storage of organization org: its connection and secret fields, used on
// that organization's behalf.
func StorageConfig(org string, conn blobmark.Connection, secrets blobmark.Secrets) (Config, error) {
	cfg, err := ConfigFromConnection(conn, secrets)
	cfg.Organization = org
	return cfg, err
}

// StorageContainer returns the container of a storage of organization
// org, as its connection and secrets are now.
func (c *Connector) StorageContainer(ctx context.Context, org string, conn blobmark.Connection, secrets blobmark.Secrets, container string) (*Container, error) {
	cfg, err := StorageConfig(org, conn, secrets)
	if err != nil {
		return nil, err
	}
	return c.Container(ctx, cfg, container)
}

// StorageQueue returns a queue of the account of a storage of
// organization org, reached with the storage's credential.
func (c *Connector) StorageQueue(ctx context.Context, org string, conn blobmark.Connection, secrets blobmark.Secrets, queue string) (*Queue, error) {
	cfg, err := StorageConfig(org, conn, secrets)
	if err != nil {
		return nil, err
	}
	return c.Queue(ctx, cfg, queue)
}

// CheckStorage runs Diagnose for the use and turns its failed checks into
// one EINVALID error whose Fields name what to fix: the container, or the
// credential field of the auth type in use.
func (c *Checker) CheckStorage(ctx context.Context, org string, conn blobmark.Connection, secrets blobmark.Secrets, container, prefix, use string, needDelete bool) error {
	cfg, err := StorageConfig(org, conn, secrets)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	u := UseSource
	if use == string(UseTarget) {
		u = UseTarget
	}
	r := Diagnose(ctx, c.Connector, cfg, container, prefix, u)
	if r.OK() {
		return nil
	}
	fields := map[string][]string{}
	for _, ch := range r.Checks {
		if !ch.Needed || ch.OK || ch.Skipped || ch.Fix == "" {
			continue
		}
		if !needDelete && ch.Name == "delete" {
			continue
		}
		f := credentialField(cfg.Normalized().AuthType)
		switch {
		case ch.Field != "":
			f = ch.Field
		case ch.Name == "container exists":
			f = "container"
		case ch.Name == "configuration":
			f = "auth_type"
		}
		fields[f] = append(fields[f], ch.Name+": "+ch.Fix)
	}
	if len(fields) == 0 {
		return nil
	}
	msgs := []string{}
	for _, m := range fields {
		msgs = append(msgs, m...)
	}
	return &blobmark.Error{Code: blobmark.EINVALID, Message: strings.Join(msgs, "; "), Fields: fields}
}

// CheckStorageCORS judges the CORS rules of the storage's account for
// origin (blobmark.StorageCORS). Someone is waiting on the answer, so an
// endpoint that cannot be connected to fails on the first try.
func (c *Checker) CheckStorageCORS(ctx context.Context, org string, conn blobmark.Connection, secrets blobmark.Secrets, container, origin string) blobmark.CORSReport {
	ctx = failFast(ctx)
	cont, err := c.Connector.StorageContainer(ctx, org, conn, secrets, container)
	if err != nil {
		return blobmark.CORSReport{Origin: origin, Status: blobmark.CORSUnknown, Message: blobmark.ErrorMessage(err)}
	}
	return cont.CORS(ctx, origin)
}

// AddStorageCORSRule adds the media rule for origin to the CORS rules of
// the storage's account (blobmark.StorageCORS).
func (c *Checker) AddStorageCORSRule(ctx context.Context, org string, conn blobmark.Connection, secrets blobmark.Secrets, container, origin string) (blobmark.CORSReport, error) {
	ctx = failFast(ctx)
	cont, err := c.Connector.StorageContainer(ctx, org, conn, secrets, container)
	if err != nil {
		return blobmark.CORSReport{}, err
	}
	return cont.AddCORSRule(ctx, origin)
}

// credentialField names the field a user changes when an auth type's
// credential is refused.
func credentialField(a AuthType) string {
	switch a {
	case AuthAccountKey:
		return "account_key"
	case AuthSASToken:
		return "sas_token"
	case AuthConnectionString:
		return "connection_string"
	case AuthServicePrincipal:
		return "client_secret"
	case AuthManagedIdentity:
		return "managed_identity_client_id"
	default:
		return "auth_type"
	}
}

var errEnough = errors.New("enough files")

// ListStorageFiles lists up to q.Limit blobs a source storage with these
// settings would import, in key order, with size and last-modified. Like a
// check, it fails on the first try when the endpoint cannot be connected
// to, with the error on the field that sets the endpoint.
func (c *Checker) ListStorageFiles(ctx context.Context, q blobmark.StorageFileQuery) ([]blobmark.StorageFile, error) {
	ctx = failFast(ctx)
	src, err := importer.NewSource(0, importer.Options{Container: q.Container, Prefix: q.Prefix,
		RegexFilter: q.RegexFilter, Recursive: q.RecursiveScan, UseBlobURLs: true, TagFilter: q.TagFilter})
	if err != nil {
		return nil, err
	}
	cont, err := c.Connector.StorageContainer(ctx, q.Organization, q.Connection, q.Secrets, q.Container)
	if err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	out := []blobmark.StorageFile{}
	err = cont.List(ctx, ListOptions{Prefix: src.Prefix, Recursive: src.Recursive, PageSize: 5000, TagFilter: src.TagFilter}, func(page []BlobItem) error {
		for _, b := range page {
			if !src.InScope(importer.Object{Key: b.Name, Folder: IsFolderMarker(b)}) {
				continue
			}
			out = append(out, blobmark.StorageFile{Key: b.Name, Size: b.Size, LastModified: b.LastModified})
			if len(out) >= limit {
				return errEnough
			}
		}
		return nil
	})
	switch {
	case errors.Is(err, errEnough):
	case isDialFailure(err):
		f := endpointField(cont.acc.cfg)
		msg := "connect: " + connectFix(err)
		return nil, &blobmark.Error{Code: blobmark.EINVALID, Field: f, Message: msg, Fields: map[string][]string{f: {msg}}, Err: err}
	case err != nil:
		return nil, err
	}
	return out, nil
}
