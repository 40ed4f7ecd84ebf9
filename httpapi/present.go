package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/lswire"
)

// presenter turns domain values into Label Studio's JSON shapes for one
// request, looking up each user and project once however many rows name it.
type presenter struct {
	s        *Server
	ctx      context.Context
	users    map[int64]*blobmark.User
	projects map[int64]*blobmark.Project
	configs  map[int64]*blobmark.LabelConfig
	// noResolve keeps blob URIs in task data as stored (resolve_uri=false);
	// matchers caches each project's blob-URL matcher (media.go).
	noResolve bool
	matchers  map[int64]func(uri string) bool
}

func (s *Server) presenter(ctx context.Context) *presenter {
	p := &presenter{
		s: s, ctx: ctx,
		users:    map[int64]*blobmark.User{},
		projects: map[int64]*blobmark.Project{},
		configs:  map[int64]*blobmark.LabelConfig{},
	}
	// The user the request was authenticated as is read already: an
	// annotation it saves names it without another round trip.
	if u := blobmark.UserFromContext(ctx); u != nil {
		p.users[u.ID] = u
	}
	return p
}

// user returns the user with id, or nil when it is unknown or cannot be
// read; presentation degrades to the bare id rather than failing a read.
func (p *presenter) user(id int64) *blobmark.User {
	if id == 0 {
		return nil
	}
	if u, ok := p.users[id]; ok {
		return u
	}
	u, err := p.s.Users.FindUserByID(p.ctx, id)
	if err != nil {
		u = nil
	}
	p.users[id] = u
	return u
}

// project returns the project with id, fetching it once per request.
func (p *presenter) project(id int64) (*blobmark.Project, error) {
	if pr, ok := p.projects[id]; ok {
		return pr, nil
	}
	pr, err := p.s.Projects.FindProjectByID(p.ctx, id)
	if err != nil {
		return nil, err
	}
	p.rememberProject(pr)
	return pr, nil
}

func (p *presenter) rememberProject(pr *blobmark.Project) {
	p.projects[pr.ID] = pr
	// Stored configs were validated on write; one that no longer parses
	// just means no placeholder renaming.
	c, _ := blobmark.ParseLabelConfig(pr.LabelConfig)
	p.configs[pr.ID] = c
}

// userSimple is Label Studio's nested user (created_by of a project): the
// user shape of an exported annotator, plus an avatar.
type userSimple struct {
	lswire.User
	Avatar *string `json:"avatar"`
}

func (p *presenter) userSimple(id int64) *userSimple {
	u := lswire.NewUser(id, p.user(id))
	if u == nil {
		return nil
	}
	return &userSimple{User: *u}
}

// projectJSON is a project as Label Studio's project serializer shows it.
type projectJSON struct {
	*blobmark.Project
	CreatedBy *userSimple `json:"created_by"`
	// Fields blobmark does not model, with the values Label Studio's
	// clients expect of a plain project.
	Organization int64   `json:"organization"`
	IsDraft      bool    `json:"is_draft"`
	PinnedAt     *string `json:"pinned_at"`
	// Queue is the caller's label-stream queue, on the project's own page
	// only (GET /api/projects/{id}/): counting it for every project of a
	// list would cost a count per project.
	*blobmark.Queue
}

func (p *presenter) projectJSON(pr *blobmark.Project) projectJSON {
	return projectJSON{
		Project:      pr,
		CreatedBy:    p.userSimple(pr.CreatedBy),
		Organization: pr.OrganizationID,
	}
}

// taskJSON is a task as the REST API shows it: lswire's task fields in
// lswire.APITaskKeys order, with the API's own additions and differences.
type taskJSON struct {
	fields lswire.Task
	api    apiTaskFields
}

// apiTaskFields is what the API's task serializer adds to the task's
// fields, and the fields it writes differently: times as Go writes them,
// updated_by as the data manager's list of editors.
type apiTaskFields struct {
	CreatedAt       time.Time           `json:"created_at"`
	UpdatedAt       time.Time           `json:"updated_at"`
	Annotations     []annotationJSON    `json:"annotations,omitzero"`
	Predictions     []lswire.Prediction `json:"predictions,omitzero"`
	Annotators      []int64             `json:"annotators,omitzero"`
	Drafts          []struct{}          `json:"drafts"`
	UpdatedBy       []map[string]int64  `json:"updated_by"`
	StorageFilename *string             `json:"storage_filename"`
	// BlobMissing (a blobmark extension) marks an annotated task whose
	// source blob has disappeared; absent otherwise.
	BlobMissing bool `json:"blob_missing,omitempty"`
}

// MarshalJSON implements json.Marshaler.
func (tj taskJSON) MarshalJSON() ([]byte, error) {
	return lswire.Encode(lswire.APITaskKeys, tj.fields, tj.api)
}

// taskJSON presents t. annotations is nil when the caller did not ask for
// them (the list without fields=all), else the task's annotations, with an
// empty list of predictions alongside that addPredictions fills.
func (p *presenter) taskJSON(t *blobmark.Task, annotations []*blobmark.Annotation) taskJSON {
	tj := taskJSON{
		fields: lswire.NewTask(t),
		api: apiTaskFields{
			CreatedAt:   t.CreatedAt,
			UpdatedAt:   t.UpdatedAt,
			Drafts:      []struct{}{},
			UpdatedBy:   []map[string]int64{},
			BlobMissing: t.BlobMissing,
		},
	}
	if t.StorageFilename != "" {
		tj.api.StorageFilename = &t.StorageFilename
	}
	if pr := p.projects[t.ProjectID]; pr != nil && pr.MaximumAnnotations > 0 {
		tj.fields.Overlap = pr.MaximumAnnotations
	}
	data := t.Data
	if c := p.configs[t.ProjectID]; c != nil {
		data = c.ReplaceUndefinedKey(data)
	}
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	tj.fields.Data = p.rewriteTaskData(t, data)
	if annotations != nil {
		tj.api.Annotations = make([]annotationJSON, 0, len(annotations))
		tj.api.Annotators = []int64{}
		seen := map[int64]bool{}
		for _, a := range annotations {
			tj.api.Annotations = append(tj.api.Annotations, p.annotationJSON(a))
			if a.CompletedBy != 0 && !seen[a.CompletedBy] {
				seen[a.CompletedBy] = true
				tj.api.Annotators = append(tj.api.Annotators, a.CompletedBy)
			}
		}
		tj.api.Predictions = []lswire.Prediction{}
	}
	return tj
}

// addPredictions shows preds as the task's predictions.
func (p *presenter) addPredictions(tj *taskJSON, preds []*blobmark.Prediction) {
	tj.api.Predictions = make([]lswire.Prediction, len(preds))
	for i, pred := range preds {
		tj.api.Predictions[i] = predictionJSON(pred)
	}
}

// annotationJSON is an annotation as the REST API shows it: lswire's
// annotation fields in lswire.APIAnnotationKeys order, with the fields the
// API writes differently.
type annotationJSON struct {
	fields lswire.Annotation
	api    apiAnnotationFields
}

// apiAnnotationFields are the fields the API writes unlike the exports:
// times as Go writes them and lead_time as a plain number.
type apiAnnotationFields struct {
	LeadTime  float64   `json:"lead_time"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// MarshalJSON implements json.Marshaler.
func (aj annotationJSON) MarshalJSON() ([]byte, error) {
	return lswire.Encode(lswire.APIAnnotationKeys, aj.fields, aj.api)
}

func (p *presenter) annotationJSON(a *blobmark.Annotation) annotationJSON {
	aj := annotationJSON{
		fields: lswire.NewAnnotation(a),
		api:    apiAnnotationFields{LeadTime: a.LeadTime, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt},
	}
	aj.fields.CreatedAgo = timeSince(time.Since(a.CreatedAt))
	if a.CompletedBy != 0 {
		id := a.CompletedBy
		aj.fields.UpdatedBy = &id
		if u := p.user(id); u != nil {
			// Label Studio's format, "First Last email, id", without the
			// leading space it writes for a user without a first name.
			name := strings.TrimSpace(u.FirstName + " " + u.LastName)
			aj.fields.CreatedUsername = strings.TrimSpace(fmt.Sprintf("%s %s, %d", name, u.Email, u.ID))
		}
	}
	return aj
}

// timeSince renders an age the way Django's timesince does ("0 minutes",
// "3 hours, 2 minutes"): the two largest adjacent units.
func timeSince(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	units := []struct {
		name string
		size time.Duration
	}{
		{"year", 365 * 24 * time.Hour},
		{"month", 30 * 24 * time.Hour},
		{"week", 7 * 24 * time.Hour},
		{"day", 24 * time.Hour},
		{"hour", time.Hour},
		{"minute", time.Minute},
	}
	plural := func(n int64, name string) string {
		if n == 1 {
			return fmt.Sprintf("1 %s", name)
		}
		return fmt.Sprintf("%d %ss", n, name)
	}
	for i, u := range units {
		n := int64(d / u.size)
		if n == 0 {
			continue
		}
		out := plural(n, u.name)
		if i+1 < len(units) {
			next := units[i+1]
			if m := int64((d - time.Duration(n)*u.size) / next.size); m > 0 {
				out += ", " + plural(m, next.name)
			}
		}
		return out
	}
	return "0 minutes"
}
