package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/media"
)

// mediaRoutes are the media resolver's routes, outside /api as in Label
// Studio. They are authenticated like the API (token or session cookie):
// browsers load task images with the session cookie. GET patterns answer
// HEAD too. Without a resolver they are left out.
func (s *Server) mediaRoutes() []route {
	if s.Media == nil {
		return nil
	}
	return []route{
		{"GET /tasks/{id}/resolve/{$}", s.handleResolveTaskMedia, authenticated},
		{"GET /projects/{id}/resolve/{$}", s.handleResolveProjectMedia, authenticated},
	}
}

// canAccessProject is the one place that decides whether the signed-in
// user may read or change a project and what is in it (tasks, annotations,
// storages, media); access.go's loaders call it for every project-scoped
// route. Without a ProjectAccess policy every signed-in user may, as in a
// single Label Studio organisation. A refusal is EFORBIDDEN.
func (s *Server) canAccessProject(ctx context.Context, projectID int64) error {
	u := blobmark.UserFromContext(ctx)
	if u == nil {
		return blobmark.Errorf(blobmark.EUNAUTHORIZED, "Authentication credentials were not provided.")
	}
	if s.ProjectAccess == nil {
		return nil
	}
	ok, err := s.ProjectAccess.CanAccessProject(ctx, u, projectID)
	if err != nil {
		return err
	}
	if !ok {
		return errNoPermission()
	}
	return nil
}

func errNoPermission() error {
	return blobmark.Errorf(blobmark.EFORBIDDEN, "You do not have permission to perform this action.")
}

// errMediaNotFound is the one answer to a fileuri that is not served: bad
// encoding, another scheme or host, not in the task's data, no storage of
// the project covering it. It says nothing about which.
func errMediaNotFound() error {
	return blobmark.Errorf(blobmark.ENOTFOUND, "Not found.")
}

// resolveParams reads what both resolve routes take: the id in the path
// and the required fileuri query parameter.
func resolveParams(r *http.Request) (int64, string, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return 0, "", err
	}
	param := r.URL.Query().Get("fileuri")
	if param == "" {
		return 0, "", blobmark.FieldErrorf("fileuri", "This query parameter is required.")
	}
	return id, param, nil
}

// handleResolveTaskMedia serves GET|HEAD /tasks/{id}/resolve/?fileuri=…:
// the user must have access to the task's project and the URI must occur in
// the task's data; then the blob is delivered by redirect or proxy.
func (s *Server) handleResolveTaskMedia(w http.ResponseWriter, r *http.Request) {
	id, param, err := resolveParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	t, err := s.taskByID(ctx, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	uri, err := media.DecodeFileURI(param)
	if err != nil || !media.URIInTaskData(t.Data, uri) {
		s.writeError(w, r, errMediaNotFound())
		return
	}
	locs, settings, err := s.mediaLocations(ctx, t.ProjectID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ref, err := media.ParseBlobRef(uri, servicesOf(locs)...)
	if err != nil {
		s.writeError(w, r, errMediaNotFound())
		return
	}
	source, err := s.Media.TaskSourceStorage(ctx, t.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	loc, ok := media.PickLocation(ref, locs, source)
	if !ok {
		s.writeError(w, r, errMediaNotFound())
		return
	}
	s.deliverMedia(w, r, settings[loc.StorageID], ref)
}

// handleResolveProjectMedia serves GET|HEAD /projects/{id}/resolve/?fileuri=…:
// the URI must lie under the container and prefix of one of the project's
// storages.
func (s *Server) handleResolveProjectMedia(w http.ResponseWriter, r *http.Request) {
	id, param, err := resolveParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	if _, err := s.requireProject(ctx, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	uri, err := media.DecodeFileURI(param)
	if err != nil {
		s.writeError(w, r, errMediaNotFound())
		return
	}
	locs, settings, err := s.mediaLocations(ctx, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ref, err := media.ParseBlobRef(uri, servicesOf(locs)...)
	if err != nil {
		s.writeError(w, r, errMediaNotFound())
		return
	}
	var covering []media.Location
	for _, l := range locs {
		if media.UnderPrefix(ref, l.Container, l.Prefix) {
			covering = append(covering, l)
		}
	}
	loc, ok := media.PickLocation(ref, covering, 0)
	if !ok {
		s.writeError(w, r, errMediaNotFound())
		return
	}
	s.deliverMedia(w, r, settings[loc.StorageID], ref)
}

// deliverMedia answers with a redirect to a SAS URL or the streamed blob,
// as the storage and the operator's MediaMode decide.
func (s *Server) deliverMedia(w http.ResponseWriter, r *http.Request, ml blobmark.MediaLocation, ref media.BlobRef) {
	ctx := r.Context()
	delivery, err := media.Choose(ml.Presign, ml.CanSign, s.MediaMode)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if delivery == media.DeliverPresigned {
		ttl := media.PresignTTL(ml.PresignTTL)
		u, err := s.Media.SignMediaURL(ctx, ml.StorageID, ref.Container, ref.Key, ttl)
		switch {
		case err == nil:
			media.Redirect(w, u, ttl)
			return
		case blobmark.ErrorCode(err) == blobmark.ENOTIMPLEMENTED && s.MediaMode != media.ModePresignOnly:
			// The credential turned out unable to sign: stream instead.
		default:
			s.mediaFailed(w, r, err)
			return
		}
	}
	blob, err := s.Media.OpenMedia(ctx, ml.StorageID, ref.Container, ref.Key)
	if err != nil {
		s.mediaFailed(w, r, err)
		return
	}
	err = media.ServeBlob(w, r, blobOpener{blob}, ref.Key, media.ProxyOptions{OnError: s.mediaFailed})
	if err != nil && r.Context().Err() == nil {
		s.logger().DebugContext(ctx, "media stream ended early", "route", r.Pattern, "err", err)
	}
}

// mediaFailed answers a storage failure without its detail, which may name
// the account or the credential: ENOTFOUND is 404, an outage 503, the rest
// 502. The detail goes to the log.
func (s *Server) mediaFailed(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusBadGateway
	switch blobmark.ErrorCode(err) {
	case blobmark.ENOTFOUND:
		s.writeError(w, r, errMediaNotFound())
		return
	case blobmark.EUNAVAILABLE:
		status = http.StatusServiceUnavailable
	}
	s.logger().WarnContext(r.Context(), "media request failed", "route", r.Pattern, "status", status, "err", err)
	writeJSON(w, status, errorEnvelope{ID: newErrorID(), StatusCode: status, Version: s.version(),
		Detail: "The storage could not deliver this file."})
}

// mediaLocations returns the project's locations in media's form, and
// each storage's delivery settings by storage id.
func (s *Server) mediaLocations(ctx context.Context, projectID int64) ([]media.Location, map[int64]blobmark.MediaLocation, error) {
	ml, err := s.Media.MediaLocations(ctx, projectID)
	if err != nil {
		return nil, nil, err
	}
	out := make([]media.Location, 0, len(ml))
	settings := make(map[int64]blobmark.MediaLocation, len(ml))
	for _, l := range ml {
		out = append(out, media.Location{StorageID: l.StorageID, Service: media.Service{Account: l.Account, URL: l.ServiceURL},
			Container: l.Container, Prefix: l.Prefix})
		settings[l.StorageID] = l
	}
	return out, settings, nil
}

func servicesOf(locs []media.Location) []media.Service {
	out := make([]media.Service, 0, len(locs))
	for _, l := range locs {
		out = append(out, l.Service)
	}
	return out
}

// blobOpener adapts a domain MediaBlob to the proxy's BlobOpener.
type blobOpener struct{ b blobmark.MediaBlob }

func (o blobOpener) Properties(ctx context.Context) (media.Props, error) {
	p, err := o.b.Properties(ctx)
	return proxyProps(p), err
}

func (o blobOpener) Open(ctx context.Context, offset, count int64) (media.Props, io.ReadCloser, error) {
	p, body, err := o.b.Open(ctx, offset, count)
	return proxyProps(p), body, err
}

func proxyProps(p blobmark.MediaBlobInfo) media.Props {
	return media.Props{Size: p.Size, ETag: p.ETag, LastModified: p.LastModified, ContentType: p.ContentType}
}

// resolveURIsRequested reads the resolve_uri query parameter: rewriting is
// on unless it says false ("false", "0", "no", "off").
func resolveURIsRequested(r *http.Request) bool {
	switch strings.ToLower(r.URL.Query().Get("resolve_uri")) {
	case "false", "0", "no", "off":
		return false
	}
	return true
}

// rewriteTaskData replaces the blob URIs in a task's data by resolve URLs
// when the server has a media resolver and the request did not opt out.
// http(s) blob URLs are rewritten only when a storage of the project covers
// their account and container. A failure to read the project's storages
// degrades to rewriting azure-blob:// URIs only.
func (p *presenter) rewriteTaskData(t *blobmark.Task, data json.RawMessage) json.RawMessage {
	if p.s.Media == nil || p.noResolve {
		return data
	}
	match, ok := p.matchers[t.ProjectID]
	if !ok {
		locs, _, err := p.s.mediaLocations(p.ctx, t.ProjectID)
		if err != nil && !errors.Is(err, context.Canceled) {
			p.s.logger().WarnContext(p.ctx, "media locations unavailable", "project", t.ProjectID, "err", err)
		}
		match = media.Matcher(locs)
		if p.matchers == nil {
			p.matchers = map[int64]func(string) bool{}
		}
		p.matchers[t.ProjectID] = match
	}
	out, err := media.Rewrite(data, t.ID, p.s.PublicURL, match)
	if err != nil {
		return data
	}
	return out
}
