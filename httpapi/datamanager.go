package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/blobmark/blobmark"
)

// The Data Manager, at Label Studio's paths:
//
//	GET    /api/dm/views/?project=P        the project's saved views (array)
//	POST   /api/dm/views/  (and /api/dm/views, the legacy client's)  create
//	GET, PATCH, DELETE /api/dm/views/{id}/
//	POST   /api/dm/views/order/            {project, ids[]}: reorder the tabs
//	DELETE /api/dm/views/reset/?project=P  delete every view of the project
//	GET    /api/dm/columns/?project=P      the columns filters may name
//	GET    /api/dm/actions/?project=P      the bulk actions (array)
//	POST   /api/dm/actions/?id=A&project=P[&view=V]  (and without the slash)
//
// and the view=, query= and selectedItems= parameters of GET /api/tasks/.
//
// Views belong to a project and are shared with everyone who can reach it:
// annotators read them (they open the tabs), reviewers and up save,
// reorder and delete them; actions change or delete work, so they need a
// manager, as task deletion does.

func (s *Server) dataManagerRoutes() []route {
	if s.Views == nil || s.TaskActions == nil {
		return nil
	}
	return []route{
		{"GET /api/dm/views/{$}", s.handleListViews, label},
		{"POST /api/dm/views/{$}", s.handleCreateView, review},
		{"POST /api/dm/views", s.handleCreateView, review},
		{"GET /api/dm/views/{id}/{$}", s.handleGetView, label},
		{"PATCH /api/dm/views/{id}/{$}", s.handleUpdateView, review},
		{"DELETE /api/dm/views/{id}/{$}", s.handleDeleteView, review},
		{"POST /api/dm/views/order/{$}", s.handleOrderViews, review},
		{"DELETE /api/dm/views/reset/{$}", s.handleResetViews, review},
		{"GET /api/dm/columns/{$}", s.handleListColumns, label},
		{"GET /api/dm/actions/{$}", s.handleListActions, label},
		{"POST /api/dm/actions/{$}", s.handleRunAction, manageProjects},
		{"POST /api/dm/actions", s.handleRunAction, manageProjects},
	}
}

// viewJSON is a view as Label Studio shows it: data as saved, and its
// ordering and filters repeated in their own keys.
func viewJSON(v *blobmark.View) map[string]any {
	var data struct {
		Filters *struct {
			Conjunction string            `json:"conjunction"`
			Items       []json.RawMessage `json:"items"`
		} `json:"filters"`
		Ordering json.RawMessage `json:"ordering"`
	}
	_ = json.Unmarshal(v.Data, &data) // saved views were checked on the way in
	var filterGroup any
	if data.Filters != nil {
		items := data.Filters.Items
		if items == nil {
			items = []json.RawMessage{}
		}
		filterGroup = map[string]any{"conjunction": cmpOr(data.Filters.Conjunction, "and"), "filters": items}
	}
	ordering := data.Ordering
	if len(ordering) == 0 || string(ordering) == "null" {
		ordering = json.RawMessage("[]")
	}
	var user any
	if v.UserID != 0 {
		user = v.UserID
	}
	return map[string]any{
		"id":             v.ID,
		"project":        v.ProjectID,
		"user":           user,
		"order":          v.Order,
		"data":           v.Data,
		"ordering":       ordering,
		"selected_items": nil,
		"filter_group":   filterGroup,
		"is_locked":      false,
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// viewFromPath loads the view of the path if the user may reach its
// project (403 otherwise).
func (s *Server) viewFromPath(r *http.Request) (*blobmark.View, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return s.viewOfProject(r.Context(), id, 0)
}

// viewOfProject loads view id for a user who may reach its project (403
// otherwise); with projectID, the view must be one of that project's
// (400 naming "view" otherwise).
func (s *Server) viewOfProject(ctx context.Context, id, projectID int64) (*blobmark.View, error) {
	v, err := s.Views.FindViewByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if projectID != 0 && v.ProjectID != projectID {
		return nil, blobmark.FieldErrorf("view", "View %d is not a view of project %d.", id, projectID)
	}
	if err := s.canAccessProject(ctx, v.ProjectID); err != nil {
		return nil, err
	}
	return v, nil
}

func (s *Server) handleListViews(w http.ResponseWriter, r *http.Request) {
	projectID, err := s.projectQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	views, err := s.Views.FindViews(r.Context(), projectID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]map[string]any, len(views))
	for i, v := range views {
		out[i] = viewJSON(v)
	}
	writeJSON(w, http.StatusOK, out)
}

// viewDataField reads a view body's "data": a JSON object (required on
// create); the store checks the query inside it.
func viewDataField(body map[string]json.RawMessage, required bool) (json.RawMessage, error) {
	raw, ok := body["data"]
	if !ok || string(raw) == "null" {
		if required {
			return nil, blobmark.FieldErrorf("data", "This field is required.")
		}
		return nil, nil
	}
	if kind := jsonKind(raw); kind != "an object" {
		return nil, blobmark.FieldErrorf("data", "Expected a JSON object, got %s.", kind)
	}
	return raw, nil
}

func (s *Server) handleCreateView(w http.ResponseWriter, r *http.Request) {
	body, err := s.decodeObject(r)
	var projectID int64
	if err == nil {
		projectID, err = s.projectField(r, body, true)
	}
	var data json.RawMessage
	if err == nil {
		data, err = viewDataField(body, false)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	serveCreated(s, w, r, &blobmark.View{ProjectID: projectID, Data: data}, s.Views.CreateView, viewJSON)
}

func (s *Server) handleGetView(w http.ResponseWriter, r *http.Request) {
	serveObject(s, w, r, s.viewFromPath, nil, viewJSON)
}

func (s *Server) handleUpdateView(w http.ResponseWriter, r *http.Request) {
	serveObject(s, w, r, s.viewFromPath, func(ctx context.Context, v *blobmark.View) (*blobmark.View, error) {
		body, err := s.decodeObject(r)
		if err != nil {
			return nil, err
		}
		var p int64
		if field(body, "project", &p, validation{}, "integer") && p != v.ProjectID {
			return nil, blobmark.FieldErrorf("project", "A view cannot move to another project.")
		}
		data, err := viewDataField(body, false)
		if err != nil {
			return nil, err
		}
		return s.Views.UpdateView(ctx, v.ID, blobmark.ViewUpdate{Data: data})
	}, viewJSON)
}

func (s *Server) handleDeleteView(w http.ResponseWriter, r *http.Request) {
	serveDelete(s, w, r, s.viewFromPath, func(ctx context.Context, v *blobmark.View) error {
		return s.Views.DeleteView(ctx, v.ID)
	})
}

func (s *Server) handleOrderViews(w http.ResponseWriter, r *http.Request) {
	body, err := s.decodeObject(r)
	var projectID int64
	if err == nil {
		projectID, err = s.projectField(r, body, true)
	}
	var ids []int64
	if err == nil {
		v := validation{}
		if !field(body, "ids", &ids, v, "list of view ids") && v.err() == nil {
			v.add("ids", "This field is required.")
		}
		err = v.err()
	}
	if err == nil {
		err = s.Views.OrderViews(r.Context(), projectID, ids)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"detail": "Views reordered."})
}

func (s *Server) handleResetViews(w http.ResponseWriter, r *http.Request) {
	projectID, err := s.projectQuery(r)
	if err == nil {
		err = s.Views.DeleteViews(r.Context(), projectID)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleListColumns lists the columns the project's tasks can be filtered
// and ordered by, Label Studio's {columns: [...]}: the task columns, then
// one per data key of the label config.
func (s *Server) handleListColumns(w http.ResponseWriter, r *http.Request) {
	projectID, err := s.projectQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p := s.presenter(r.Context())
	if _, err := p.project(projectID); err != nil {
		s.writeError(w, r, err)
		return
	}
	type column struct {
		blobmark.TaskColumn
		Target string `json:"target"`
	}
	out := []column{}
	for _, c := range blobmark.TaskColumns {
		out = append(out, column{c, "tasks"})
	}
	if c := p.configs[projectID]; c != nil {
		for _, key := range c.DataKeys {
			out = append(out, column{blobmark.TaskColumn{ID: blobmark.DataColumnPrefix + key, Title: key, Type: blobmark.TypeString}, "tasks"})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"columns": out})
}

func (s *Server) handleListActions(w http.ResponseWriter, r *http.Request) {
	if _, err := s.projectQuery(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, blobmark.TaskActions)
}

// handleRunAction runs an action on the selection of the body
// ({selectedItems, filters?, ordering?}); a view= replaces the body's
// filters with the view's, as in Label Studio. It answers how many tasks
// were processed.
func (s *Server) handleRunAction(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	projectID, err := s.projectQuery(r)
	if err == nil && q.Get("id") == "" {
		err = blobmark.FieldErrorf("id", "query parameter \"id\" (the action) is required")
	}
	var raw []byte
	if err == nil {
		raw, err = s.readBody(r)
	}
	var query *blobmark.TaskQuery
	if err == nil {
		query, err = blobmark.ParseTaskQuery("body", raw)
	}
	if err == nil && q.Get("view") != "" {
		var viewQuery *blobmark.TaskQuery
		if viewQuery, err = s.viewQuery(r.Context(), q.Get("view"), projectID); err == nil {
			viewQuery.Selected = query.Selected
			query = viewQuery
		}
	}
	var n int
	if err == nil {
		n, err = s.TaskActions.RunTaskAction(r.Context(), projectID, q.Get("id"), query)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"processed_items": n, "detail": fmt.Sprintf("%s: %d tasks processed.", q.Get("id"), n)})
}

// viewQuery reads the query of view (an id parameter), which must be a
// view of projectID.
func (s *Server) viewQuery(ctx context.Context, view string, projectID int64) (*blobmark.TaskQuery, error) {
	id, err := parseID(view)
	if err != nil {
		return nil, blobmark.FieldErrorf("view", "A valid view id is required, got %q.", view)
	}
	v, err := s.viewOfProject(ctx, id, projectID)
	if err != nil {
		return nil, err
	}
	return blobmark.ViewQuery(v.Data)
}

// taskListQuery reads the Data Manager parameters of GET /api/tasks/:
// view= (a saved view's filters and ordering), query= (JSON that replaces
// the view's filters and ordering where it has them) and selectedItems=.
func (s *Server) taskListQuery(r *http.Request, projectID int64) (*blobmark.TaskQuery, error) {
	params := r.URL.Query()
	out := &blobmark.TaskQuery{Conjunction: "and"}
	if v := params.Get("view"); v != "" && s.Views != nil {
		q, err := s.viewQuery(r.Context(), v, projectID)
		if err != nil {
			return nil, err
		}
		out = q
	}
	if raw := params.Get("query"); raw != "" {
		q, err := blobmark.ParseTaskQuery("query", []byte(raw))
		if err != nil {
			return nil, err
		}
		if len(q.Filters) > 0 {
			out.Conjunction, out.Filters = q.Conjunction, q.Filters
		}
		if q.Ordering != "" {
			out.Ordering = q.Ordering
		}
		if q.Selected != nil {
			out.Selected = q.Selected
		}
	}
	if raw := params.Get("selectedItems"); raw != "" {
		sel, err := blobmark.ParseSelectedItems("selectedItems", []byte(raw))
		if err != nil {
			return nil, err
		}
		out.Selected = sel
	}
	if o := params.Get("ordering"); o != "" {
		ord, err := blobmark.ParseOrdering(o)
		if err != nil {
			return nil, blobmark.FieldErrorf("ordering", "%s", err)
		}
		out.Ordering = ord
	}
	return out, nil
}
