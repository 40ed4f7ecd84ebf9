package httpapi

import (
	"context"
	"encoding/json"
	"errors"
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
		{"GET /tasks/{id}/resolve/{$}", s.handleResolveTaskMedia, label},
		{"GET /projects/{id}/resolve/{$}", s.handleResolveProjectMedia, label},
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

// resolver is the media resolver over the server's storages and policy.
func (s *Server) resolver() media.Resolver {
	return media.Resolver{Media: s.Media, Mode: s.MediaMode}
}

// handleResolveTaskMedia serves GET|HEAD /tasks/{id}/resolve/?fileuri=…
// for a user with access to the task's project.
func (s *Server) handleResolveTaskMedia(w http.ResponseWriter, r *http.Request) {
	id, param, err := resolveParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	t, err := s.taskByID(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeMedia(w, r, s.resolver().ResolveTask(r.Context(), t, param))
}

// handleResolveProjectMedia serves GET|HEAD /projects/{id}/resolve/?fileuri=…
// for a user with access to the project.
func (s *Server) handleResolveProjectMedia(w http.ResponseWriter, r *http.Request) {
	id, param, err := resolveParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.requireProject(r.Context(), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeMedia(w, r, s.resolver().ResolveProject(r.Context(), id, param))
}

// writeMedia writes the resolver's decision.
func (s *Server) writeMedia(w http.ResponseWriter, r *http.Request, d media.Decision) {
	switch {
	case d.Redirect != "":
		media.Redirect(w, d.Redirect, d.TTL)
	case d.Blob != nil:
		err := media.ServeBlob(w, r, d.Blob, d.Key, media.ProxyOptions{OnError: s.mediaFailed})
		if err != nil && r.Context().Err() == nil {
			s.logger().DebugContext(r.Context(), "media stream ended early", "route", r.Pattern, "err", err)
		}
	case d.Status != 0:
		s.mediaFailed(w, r, d.Status, d.Err)
	default:
		s.writeError(w, r, d.Err)
	}
}

// mediaFailed answers a storage failure without its detail, which may name
// the account or the credential; the detail goes to the log.
func (s *Server) mediaFailed(w http.ResponseWriter, r *http.Request, status int, err error) {
	if status == http.StatusNotFound {
		s.writeError(w, r, notFound())
		return
	}
	s.logger().WarnContext(r.Context(), "media request failed", "route", r.Pattern, "status", status, "err", err)
	writeJSON(w, status, errorEnvelope{ID: newErrorID(), StatusCode: status, Version: s.version(),
		Detail: "The storage could not deliver this file."})
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
		locs, err := p.s.Media.MediaLocations(p.ctx, t.ProjectID)
		if err != nil {
			locs = nil
			if !errors.Is(err, context.Canceled) {
				p.s.logger().WarnContext(p.ctx, "media locations unavailable", "project", t.ProjectID, "err", err)
			}
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
