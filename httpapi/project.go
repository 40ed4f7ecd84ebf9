package httpapi

import (
	"context"
	"net/http"
	"unicode/utf8"

	"github.com/blobmark/blobmark"
)

// Label Studio's limits on project fields.
const (
	maxTitleLength = 50
	maxColorLength = 16
)

// Project lists: Label Studio pages projects by 30 by default.
const (
	defaultProjectPageSize = 30
	maxProjectPageSize     = 1000
)

// projectList is DRF's paginated list.
type projectList struct {
	Count    int           `json:"count"`
	Next     *string       `json:"next"`
	Previous *string       `json:"previous"`
	Results  []projectJSON `json:"results"`
}

func (s *Server) handleListProjects(w http.ResponseWriter, r *http.Request) {
	pg, err := parsePage(r, defaultProjectPageSize, maxProjectPageSize)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	projects, total, err := s.Projects.FindProjects(r.Context(), pg.page())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := pg.checkExists(len(projects)); err != nil {
		s.writeError(w, r, err)
		return
	}
	p := s.presenter(r.Context())
	out := projectList{Count: total, Results: make([]projectJSON, 0, len(projects))}
	out.Next, out.Previous = pg.links(r, len(projects), total)
	for _, pr := range projects {
		out.Results = append(out.Results, p.projectJSON(pr))
	}
	writeJSON(w, http.StatusOK, out)
}

// readProject reads and checks the body of a project create or update.
func (s *Server) readProject(r *http.Request) (blobmark.ProjectUpdate, error) {
	var in blobmark.ProjectUpdate
	if err := s.decodeJSON(r, &in); err != nil {
		return in, err
	}
	return in, validateProject(&in)
}

// projectAnswer shows a project as the API answers with it.
func (s *Server) projectAnswer(r *http.Request) func(*blobmark.Project) projectJSON {
	return s.presenter(r.Context()).projectJSON
}

func (s *Server) handleCreateProject(w http.ResponseWriter, r *http.Request) {
	in, err := s.readProject(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Label Studio's defaults for what the body leaves out.
	pr := &blobmark.Project{
		LabelConfig:           blobmark.DefaultLabelConfig,
		ShowSkipButton:        true,
		EnableEmptyAnnotation: true,
		Color:                 "#FFFFFF",
		MaximumAnnotations:    1,
	}
	applyProjectUpdate(pr, &in)
	serveCreated(s, w, r, pr, s.Projects.CreateProject, s.projectAnswer(r))
}

// handleGetProject answers with the project and the caller's queue in it
// (queue_total/done/left, finished_task_number), as Label Studio's project
// page has them.
func (s *Server) handleGetProject(w http.ResponseWriter, r *http.Request) {
	pr, err := s.projectFromPath(r)
	var queue *blobmark.Queue
	if err == nil && s.LabelStream != nil {
		queue, err = s.LabelStream.QueueOf(r.Context(), pr.ID)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := s.presenter(r.Context()).projectJSON(pr)
	out.Queue = queue
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleUpdateProject(w http.ResponseWriter, r *http.Request) {
	serveObject(s, w, r, s.projectFromPath, func(ctx context.Context, old *blobmark.Project) (*blobmark.Project, error) {
		in, err := s.readProject(r)
		if err != nil {
			return nil, err
		}
		return s.Projects.UpdateProject(ctx, old.ID, in)
	}, s.projectAnswer(r))
}

func (s *Server) handleDeleteProject(w http.ResponseWriter, r *http.Request) {
	serveDelete(s, w, r, s.projectFromPath, func(ctx context.Context, pr *blobmark.Project) error {
		return s.Projects.DeleteProject(ctx, pr.ID)
	})
}

// validateProject checks the fields a create or update sets, reporting
// every problem at once. An empty label_config means the default one.
func validateProject(in *blobmark.ProjectUpdate) error {
	v := validation{}
	if in.Title != nil && utf8.RuneCountInString(*in.Title) > maxTitleLength {
		v.add("title", "Ensure this field has no more than %d characters.", maxTitleLength)
	}
	if in.Color != nil && utf8.RuneCountInString(*in.Color) > maxColorLength {
		v.add("color", "Ensure this field has no more than %d characters.", maxColorLength)
	}
	if in.MaximumAnnotations != nil && *in.MaximumAnnotations < 1 {
		v.add("maximum_annotations", "Ensure this value is greater than or equal to 1.")
	}
	if in.Sampling != nil {
		if _, err := blobmark.ParseSampling(string(*in.Sampling)); err != nil {
			v.add("sampling", "%s", blobmark.ErrorMessage(err))
		}
	}
	if in.SkipQueue != nil {
		if _, err := blobmark.ParseSkipQueue(string(*in.SkipQueue)); err != nil {
			v.add("skip_queue", "%s", blobmark.ErrorMessage(err))
		}
	}
	if in.CustomTaskLockTTL != nil {
		if err := blobmark.CheckTaskLockTTL(*in.CustomTaskLockTTL); err != nil {
			v.add("custom_task_lock_ttl", "%s", blobmark.ErrorMessage(err))
		}
	}
	if in.LabelConfig != nil {
		if *in.LabelConfig == "" {
			def := blobmark.DefaultLabelConfig
			in.LabelConfig = &def
		} else if _, err := blobmark.ParseLabelConfig(*in.LabelConfig); err != nil {
			v.add("label_config", "%s", blobmark.ErrorMessage(err))
		}
	}
	return v.err()
}

func applyProjectUpdate(pr *blobmark.Project, in *blobmark.ProjectUpdate) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	setBool := func(dst *bool, src *bool) {
		if src != nil {
			*dst = *src
		}
	}
	set(&pr.Title, in.Title)
	set(&pr.Description, in.Description)
	set(&pr.LabelConfig, in.LabelConfig)
	set(&pr.ExpertInstruction, in.ExpertInstruction)
	set(&pr.Color, in.Color)
	setBool(&pr.ShowInstruction, in.ShowInstruction)
	setBool(&pr.ShowSkipButton, in.ShowSkipButton)
	setBool(&pr.EnableEmptyAnnotation, in.EnableEmptyAnnotation)
	setBool(&pr.IsPublished, in.IsPublished)
	if in.MaximumAnnotations != nil {
		pr.MaximumAnnotations = *in.MaximumAnnotations
	}
	if in.Sampling != nil {
		pr.Sampling = *in.Sampling
	}
	if in.SkipQueue != nil {
		pr.SkipQueue = *in.SkipQueue
	}
	if in.CustomTaskLockTTL != nil {
		pr.CustomTaskLockTTL = *in.CustomTaskLockTTL
	}
	set(&pr.ModelVersion, in.ModelVersion)
}
