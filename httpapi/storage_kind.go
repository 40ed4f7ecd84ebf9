package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/blobmark/blobmark"
)

// Source and target storages are served by one set of handlers. Label
// Studio gives both kinds the same routes, checks, statuses and answer
// shape, so the handlers are written once, over a storageKind that says
// only what differs: the store, the defaults, the kind's own body fields
// and answer fields, and what its connection must allow. A fix to one kind
// thereby reaches the other.

// storageTypes are the storage types of both kinds, by the path segment
// Label Studio names them with.
var storageTypes = []string{blobmark.StorageTypeAzure, blobmark.StorageTypeAzureSPI}

// storageType returns the storage type a route serves.
func storageType(r *http.Request) string {
	if t := r.PathValue("type"); t == blobmark.StorageTypeAzureSPI {
		return t
	}
	return blobmark.StorageTypeAzure
}

// storageFields points at the fields every kind of storage has, so that
// the shared handlers can read and set them and both kinds read them from a
// body and show them in an answer one way.
type storageFields struct {
	id, project                                *int64
	typ, title, description, container, prefix *string
	// org is the title of the organization the storage is used for.
	org     *string
	conn    *blobmark.Connection
	secrets *blobmark.Secrets
	state   *blobmark.StorageState
	created *time.Time
}

// apply sets the shared descriptive fields present in body, recording
// problems in v.
func (f storageFields) apply(body map[string]json.RawMessage, v validation) {
	var title, description *string
	if field(body, "title", &title, v, "string") {
		if utf8.RuneCountInString(*title) > 2048 {
			v.add("title", "Ensure this field has no more than 2048 characters.")
		}
		*f.title = *title
	}
	if field(body, "description", &description, v, "string") {
		*f.description = *description
	}
	field(body, "container", f.container, v, "string")
	field(body, "prefix", f.prefix, v, "string")
}

// json is the shared part of a storage's answer, with the non-secret
// connection fields and the sync state; secrets are never in it.
func (f storageFields) json() map[string]any {
	out := map[string]any{
		"id":          *f.id,
		"type":        *f.typ,
		"project":     *f.project,
		"title":       *f.title,
		"description": *f.description,
		"container":   *f.container,
		"prefix":      *f.prefix,
		"created_at":  f.created.UTC().Format(apiTime),
	}
	putConnection(out, *f.conn)
	putState(out, *f.state)
	return out
}

// checkStorage tests a storage's connection for a use ("source" or
// "target"), answering with the fields to fix; without a checker it passes.
func (s *Server) checkStorage(r *http.Request, f storageFields, use string, needDelete bool) error {
	if s.StorageChecker == nil {
		return nil
	}
	return s.StorageChecker.CheckStorage(r.Context(), *f.org, *f.conn, *f.secrets, *f.container, *f.prefix, use, needDelete)
}

// callerOrganization is the title of the signed-in user's organization, on
// whose behalf a storage they create or check is used (a project is only
// reachable from its own organization, so it is the project's too).
func (s *Server) callerOrganization(ctx context.Context) (string, error) {
	u := blobmark.UserFromContext(ctx)
	if u == nil || s.Organizations == nil {
		return "", nil
	}
	o, err := s.Organizations.FindOrganizationByID(ctx, u.OrganizationID)
	if err != nil {
		return "", err
	}
	return o.Title, nil
}

// storageKind is what the shared storage handlers need to know of one kind
// of storage, S (blobmark.SourceStorage or blobmark.TargetStorage).
type storageKind[S any] struct {
	s *Server
	// fields points at the storage's shared fields.
	fields func(*S) storageFields
	// blank is a new storage with the kind's defaults (its type is set
	// from the route).
	blank func() S
	// apply sets the fields present in a body on a storage and reports
	// every type or value problem at once.
	apply func(st *S, body map[string]json.RawMessage) error
	// check tests the storage's connection for the kind's use.
	check func(r *http.Request, st *S) error
	// validated, when set, is what a validate that passed answers with;
	// nil, or a nil answer, is an empty 200.
	validated func(r *http.Request, st *S) map[string]any
	// byID loads a stored storage whose project the user may reach (403
	// otherwise), its secrets opened only withSecrets: only the handlers
	// that use the credential (PATCH, validate, files) ask for them, so a
	// plain read never decrypts a secret.
	byID func(ctx context.Context, id int64, withSecrets bool) (*S, error)
	// list returns a project's storages of type typ ("" for every type).
	list func(ctx context.Context, projectID int64, typ string) ([]*S, error)
	// create reads what only a create body has and returns the save of
	// the new storage, run once its connection is checked: a body problem
	// is answered before the connection is tested.
	create func(st *S, body map[string]json.RawMessage) (save func(context.Context) error, err error)
	// update saves a changed storage and returns it as stored.
	update func(ctx context.Context, st *S) (*S, error)
	// delete deletes a storage by id.
	delete func(ctx context.Context, id int64) error
	// toJSON is a storage as the API shows it; secrets are never in it.
	toJSON func(*S) map[string]any
}

// find returns the storage of the path's id, without its secrets, if it
// has the route's type and the user may reach its project.
func (k storageKind[S]) find(r *http.Request) (*S, error) { return k.findBy(r, false) }

// findWithSecrets is find with the storage's secrets opened.
func (k storageKind[S]) findWithSecrets(r *http.Request) (*S, error) { return k.findBy(r, true) }

func (k storageKind[S]) findBy(r *http.Request, withSecrets bool) (*S, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	st, err := k.byID(r.Context(), id, withSecrets)
	if err != nil {
		return nil, err
	}
	if *k.fields(st).typ != storageType(r) {
		return nil, notFound()
	}
	return st, nil
}

// fromBody builds the storage a body describes: with base (PATCH, or
// validate with an id) it starts from a copy of that storage, else from the
// kind's defaults with the route's type.
func (k storageKind[S]) fromBody(r *http.Request, body map[string]json.RawMessage, base *S) (*S, error) {
	st := new(S)
	if base != nil {
		if err := mayUseConnection(r.Context(), *k.fields(base).conn); err != nil {
			return nil, err
		}
		*st = *base
	} else {
		*st = k.blank()
		*k.fields(st).typ = storageType(r)
		org, err := k.s.callerOrganization(r.Context())
		if err != nil {
			return nil, err
		}
		*k.fields(st).org = org
	}
	conn, err := decodeConnection(body)
	if err != nil {
		return nil, err
	}
	if err := k.apply(st, body); err != nil {
		return nil, err
	}
	f := k.fields(st)
	if *f.conn, *f.secrets, err = mergeConnection(*f.conn, *f.secrets, conn); err != nil {
		return nil, err
	}
	if *f.typ == blobmark.StorageTypeAzureSPI && (*f.conn)["auth_type"] == "" {
		(*f.conn)["auth_type"] = "service_principal"
	}
	return st, mayUseConnection(r.Context(), *f.conn)
}

// fromRequest builds the storage a validate or files body describes. A
// body with an "id" is applied to that stored storage as a PATCH would, so
// stored secrets need not be sent again; without one, a "project" the body
// names is checked (404 unknown, 403 outsider).
func (k storageKind[S]) fromRequest(r *http.Request) (map[string]json.RawMessage, *S, error) {
	body, err := k.s.decodeObject(r)
	if err != nil {
		return nil, nil, err
	}
	var base *S
	var id int64
	if field(body, "id", &id, validation{}, "integer") && id > 0 {
		base, err = k.byID(r.Context(), id, true)
	} else {
		_, err = k.s.projectField(r, body, false)
	}
	if err != nil {
		return nil, nil, err
	}
	st, err := k.fromBody(r, body, base)
	return body, st, err
}

// writeList answers with the storages of the ?project= of type typ ("" for
// every type).
func (k storageKind[S]) writeList(w http.ResponseWriter, r *http.Request, typ string) {
	projectID, err := k.s.projectQuery(r)
	if err != nil {
		k.s.writeError(w, r, err)
		return
	}
	list, err := k.list(r.Context(), projectID, typ)
	if err != nil {
		k.s.writeError(w, r, err)
		return
	}
	out := []map[string]any{}
	for _, st := range list {
		out = append(out, k.toJSON(st))
	}
	writeJSON(w, http.StatusOK, out)
}

// handleList lists the project's storages of the route's type.
func (k storageKind[S]) handleList(w http.ResponseWriter, r *http.Request) {
	k.writeList(w, r, storageType(r))
}

// handleListAll lists every storage of the project, each with its type.
func (k storageKind[S]) handleListAll(w http.ResponseWriter, r *http.Request) {
	k.writeList(w, r, "")
}

// handleCreate creates a storage in the body's (required) project once its
// connection passes the check.
func (k storageKind[S]) handleCreate(w http.ResponseWriter, r *http.Request) {
	body, err := k.s.decodeObject(r)
	if err != nil {
		k.s.writeError(w, r, err)
		return
	}
	st, err := k.fromBody(r, body, nil)
	if err == nil {
		*k.fields(st).project, err = k.s.projectField(r, body, true)
	}
	var save func(context.Context) error
	if err == nil {
		save, err = k.create(st, body)
	}
	if err == nil {
		err = k.check(r, st)
	}
	if err == nil {
		err = save(r.Context())
	}
	if err != nil {
		k.s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, k.toJSON(st))
}

func (k storageKind[S]) handleGet(w http.ResponseWriter, r *http.Request) {
	serveObject(k.s, w, r, k.find, nil, k.toJSON)
}

// handleUpdate applies a PATCH body to the storage; secrets the body omits
// are kept, and the connection is checked with them.
func (k storageKind[S]) handleUpdate(w http.ResponseWriter, r *http.Request) {
	serveObject(k.s, w, r, k.findWithSecrets, func(ctx context.Context, old *S) (*S, error) {
		body, err := k.s.decodeObject(r)
		if err != nil {
			return nil, err
		}
		st, err := k.fromBody(r, body, old)
		if err == nil {
			err = k.check(r, st)
		}
		if err != nil {
			return nil, err
		}
		return k.update(ctx, st)
	}, k.toJSON)
}

func (k storageKind[S]) handleDelete(w http.ResponseWriter, r *http.Request) {
	serveDelete(k.s, w, r, k.find, func(ctx context.Context, st *S) error {
		if err := mayUseConnection(ctx, *k.fields(st).conn); err != nil {
			return err
		}
		return k.delete(ctx, *k.fields(st).id)
	})
}

// serveAction answers with the storage the path names after act has acted
// on it by id and returned it as it now is (a sync, a cancel).
func (k storageKind[S]) serveAction(w http.ResponseWriter, r *http.Request, act func(ctx context.Context, id int64) (*S, error)) {
	serveObject(k.s, w, r, k.find, func(ctx context.Context, st *S) (*S, error) { return act(ctx, *k.fields(st).id) }, k.toJSON)
}

// handleValidate checks a storage without saving it (see fromRequest).
func (k storageKind[S]) handleValidate(w http.ResponseWriter, r *http.Request) {
	_, st, err := k.fromRequest(r)
	if err == nil {
		err = k.check(r, st)
	}
	if err != nil {
		k.s.writeError(w, r, err)
		return
	}
	if k.validated != nil {
		if out := k.validated(r, st); out != nil {
			writeJSON(w, http.StatusOK, out)
			return
		}
	}
	w.WriteHeader(http.StatusOK)
}

// routes are the kind's routes, under prefix: the list of every storage
// of a project at prefix+root and the types at prefix+"/types", then for
// each storage type the typed routes under prefix+"/"+type, with the type as
// the "type" path value the handlers read (storageType). root is "/{$}" or
// "", as Label Studio spells the kind's list and create paths; own are the
// kind's further typed routes, with paths relative to prefix+"/"+type.
func (k storageKind[S]) routes(prefix, root string, own ...route) []route {
	out := []route{
		{"GET " + prefix + root, k.handleListAll, storages},
		{"GET " + prefix + "/types", handleStorageTypes, storages},
	}
	for _, t := range storageTypes {
		for _, rt := range append([]route{
			{"GET " + root, k.handleList, storages},
			{"POST " + root, k.handleCreate, storages},
			{"POST /validate", k.handleValidate, storages},
			{"GET /{id}", k.handleGet, storages},
			{"PATCH /{id}", k.handleUpdate, storages},
			{"DELETE /{id}", k.handleDelete, storages},
		}, own...) {
			method, path, _ := strings.Cut(rt.pattern, " ")
			h := rt.handler
			typed := func(w http.ResponseWriter, r *http.Request) {
				r.SetPathValue("type", t)
				h(w, r)
			}
			out = append(out, route{method + " " + prefix + "/" + t + path, typed, rt.needs})
		}
	}
	return out
}

// handleStorageTypes is GET /api/storages/types and
// /api/storages/export/types: both kinds come in the same types.
func handleStorageTypes(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, []map[string]string{
		{"name": blobmark.StorageTypeAzure, "title": "Microsoft Azure"},
		{"name": blobmark.StorageTypeAzureSPI, "title": "Microsoft Azure (service principal)"},
	})
}
