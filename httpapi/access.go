package httpapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/blobmark/blobmark"
)

// Project access, one rule for the whole API.
//
// A signed-in user may reach a project, and everything in it, when
// canAccessProject (media.go) says so: with the SQL store's ProjectAccess,
// when the user belongs to the project's organization. Every project-scoped
// handler gets its project, task, annotation or storage through one of the
// loaders below, which load the object and check its project before the
// handler reads a body field or changes anything. The project list is
// filtered by the store (FindProjects) and never shows another
// organization's projects.
//
// The status of a refusal follows Label Studio, which filters its project
// queryset by organization and checks object permissions elsewhere:
//
//   - the project's own routes (/api/projects/{id}/…: detail, update,
//     delete, import, export) answer 404, exactly as for an unknown id: to
//     an outsider the project does not exist (projectFromPath);
//   - routes that reach a project through another object or a parameter —
//     tasks, annotations, source and target storages, ?project= and a
//     body's "project", and the media routes /tasks/{id}/resolve/ and
//     /projects/{id}/resolve/ — answer 403 "You do not have permission to
//     perform this action." (requireProject and the loaders built on it).
//
// An unknown object is 404 everywhere.

// requireProject checks that the project named by a parameter (a query
// parameter, a body field, the media route's path) exists, 404 otherwise,
// and that the user may reach it, 403 otherwise.
func (s *Server) requireProject(ctx context.Context, id int64) (*blobmark.Project, error) {
	pr, err := s.Projects.FindProjectByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.canAccessProject(ctx, id); err != nil {
		return nil, err
	}
	return pr, nil
}

// projectFromPath loads the project of a project route
// (/api/projects/{id}/…). A project the user may not reach is hidden: 404.
func (s *Server) projectFromPath(r *http.Request) (*blobmark.Project, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	pr, err := s.requireProject(r.Context(), id)
	if blobmark.ErrorCode(err) == blobmark.EFORBIDDEN {
		return nil, notFound()
	}
	return pr, err
}

// taskByID loads a task whose project the user may reach (403 otherwise).
func (s *Server) taskByID(ctx context.Context, id int64) (*blobmark.Task, error) {
	t, err := s.Tasks.FindTaskByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.canAccessProject(ctx, t.ProjectID); err != nil {
		return nil, err
	}
	return t, nil
}

// taskFromPath loads the task a /api/tasks/{id}/… route names.
func (s *Server) taskFromPath(r *http.Request) (*blobmark.Task, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return s.taskByID(r.Context(), id)
}

// annotationFromPath loads the annotation a /api/annotations/{id}/ route
// names, if the user may reach its task's project (403 otherwise).
func (s *Server) annotationFromPath(r *http.Request) (*blobmark.Annotation, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	a, err := s.Annotations.FindAnnotationByID(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if err := s.canAccessProject(r.Context(), a.ProjectID); err != nil {
		return nil, err
	}
	if !seesAnnotation(r.Context(), a) {
		return nil, errNoPermission()
	}
	return a, nil
}

// seesAnnotation reports whether the user may see and change an
// annotation of a project it may reach: its own, or anyone's with the
// review permission.
func seesAnnotation(ctx context.Context, a *blobmark.Annotation) bool {
	u := blobmark.UserFromContext(ctx)
	return u != nil && (a.CompletedBy == u.ID || u.Role.Can(blobmark.PermReview))
}

// mayUseConnection refuses, 403, to create, change, check or delete a
// storage with a connection the user's role may not manage: one that uses
// an identity attached to the server needs an administrator
// (blobmark.StoragePermission).
func mayUseConnection(ctx context.Context, c blobmark.Connection) error {
	u := blobmark.UserFromContext(ctx)
	if u == nil {
		return blobmark.Errorf(blobmark.EUNAUTHORIZED, "Authentication credentials were not provided.")
	}
	return permit(u, blobmark.StoragePermission(c))
}

// sourceByID loads a source storage whose project the user may reach (403
// otherwise), its secrets opened only withSecrets.
func (s *Server) sourceByID(ctx context.Context, id int64, withSecrets bool) (*blobmark.SourceStorage, error) {
	find := s.SourceStorages.FindSourceStorageByID
	if withSecrets {
		find = s.SourceStorages.FindSourceStorageWithSecrets
	}
	st, err := find(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.canAccessProject(ctx, st.ProjectID); err != nil {
		return nil, err
	}
	return st, nil
}

// targetByID loads a target storage whose project the user may reach (403
// otherwise), its secrets opened only withSecrets.
func (s *Server) targetByID(ctx context.Context, id int64, withSecrets bool) (*blobmark.TargetStorage, error) {
	find := s.TargetStorages.FindTargetStorageByID
	if withSecrets {
		find = s.TargetStorages.FindTargetStorageWithSecrets
	}
	st, err := find(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.canAccessProject(ctx, st.ProjectID); err != nil {
		return nil, err
	}
	return st, nil
}

// projectQuery reads the ?project= a storage list requires and checks it
// (404 unknown, 403 outsider).
func (s *Server) projectQuery(r *http.Request) (int64, error) {
	id, err := requireProjectQuery(r)
	if err != nil {
		return 0, err
	}
	if _, err := s.requireProject(r.Context(), id); err != nil {
		return 0, err
	}
	return id, nil
}

// projectField reads the "project" field of a storage body and checks it
// (404 unknown, 403 outsider); 0 when it is absent and not required.
func (s *Server) projectField(r *http.Request, body map[string]json.RawMessage, required bool) (int64, error) {
	var id int64
	v := validation{}
	if !field(body, "project", &id, v, "integer") {
		if err := v.err(); err != nil {
			return 0, err
		}
		if required {
			return 0, blobmark.FieldErrorf("project", "This field is required.")
		}
		return 0, nil
	}
	if _, err := s.requireProject(r.Context(), id); err != nil {
		return 0, err
	}
	return id, nil
}
