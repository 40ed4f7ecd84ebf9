package httpapi

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/media"
)

// DefaultMaxBodyBytes is the request body limit when Server.MaxBodyBytes is
// zero. Task imports are whole JSON arrays, so it is generous.
const DefaultMaxBodyBytes int64 = 64 << 20

// Server holds the services the API is built on. Set the fields, then call
// Handler once; the fields must not change afterwards.
type Server struct {
	Users       blobmark.UserService
	Projects    blobmark.ProjectService
	Tasks       blobmark.TaskService
	Annotations blobmark.AnnotationService
	// LabelStream serves the label stream and task locks (labelstream.go);
	// nil leaves those routes out.
	LabelStream blobmark.LabelStreamService
	// Predictions serves /api/predictions/ (predictions.go) and adds
	// predictions to tasks; nil leaves the routes out and tasks without.
	Predictions blobmark.PredictionService

	// SourceStorages serves /api/storages/azure/ and /api/storages/azure_spi/.
	SourceStorages blobmark.SourceStorageService
	// StorageChecker tests a storage's connection on create, update and
	// validate; nil skips the check.
	StorageChecker blobmark.StorageChecker
	// StorageFiles previews a storage's blobs (…/files); nil answers 501.
	StorageFiles blobmark.StorageFileLister
	// StorageCORS judges and extends the CORS rules of source storages'
	// accounts, which presigned media needs (storage_cors.go); nil leaves
	// the verdict out of validate answers and the …/{id}/cors route out.
	StorageCORS blobmark.StorageCORS
	// Organizations names the caller's organization, on whose behalf new
	// storages are checked (the server identity allow-list may be scoped
	// to organizations); nil checks them for no organization.
	Organizations blobmark.OrganizationService

	// StorageEvents serves the event-driven sync of source storages
	// (storage_events.go); nil leaves those routes out.
	StorageEvents blobmark.StorageEventService

	// TargetStorages serves /api/storages/export/azure and
	// /api/storages/export/azure_spi; nil leaves those routes out.
	TargetStorages blobmark.TargetStorageService
	// ProjectExporter serves GET /api/projects/{id}/export; nil answers 501.
	ProjectExporter blobmark.ProjectExporter
	// ExportSnapshots serves /api/projects/{id}/exports/
	// (export_snapshots.go); nil leaves those routes out.
	ExportSnapshots blobmark.ExportSnapshotService
	// Webhooks serves /api/webhooks/ (webhooks.go); nil leaves it out.
	Webhooks blobmark.WebhookService
	// Tokens serves personal access tokens, the organization's token
	// settings and the legacy key's routes (tokens.go), and lets
	// "Authorization: Bearer" in; nil leaves all of them out.
	Tokens blobmark.TokenService

	// Members serves users, organizations, memberships and project
	// members (members.go); it needs Organizations, and nil leaves those
	// routes out.
	Members blobmark.MemberService
	// Invites serves invitations and the sign-up page (invites.go); nil
	// leaves them out.
	Invites blobmark.InviteService
	// Views and TaskActions serve the Data Manager's /api/dm/ routes
	// (datamanager.go); nil leaves them out.
	Views       blobmark.ViewService
	TaskActions blobmark.TaskActionService

	// Ready reports whether the database is reachable, for /readyz.
	// nil means always ready.
	Ready func(ctx context.Context) error

	// Logger receives the access log and the detail of internal errors.
	// nil means slog.Default().
	Logger *slog.Logger

	// MaxBodyBytes limits request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxConcurrentImports is how many task imports with a body over
	// 1 MiB run at once (import.go); more wait briefly, then get 429.
	// 0 means DefaultMaxConcurrentImports.
	MaxConcurrentImports int

	// Version is reported in error envelopes, as Label Studio reports its
	// own version there. "" means "dev".
	Version string

	// SessionKey signs the web UI's session cookies (32 random bytes or
	// more). Empty means a random key per process: sessions then end when
	// it restarts and are not shared between replicas.
	SessionKey []byte
	// SessionTTL is how long a web UI session lasts; 0 means DefaultSessionTTL.
	SessionTTL time.Duration
	// TokenKey signs personal access tokens and their access tokens (32
	// random bytes or more; a key of its own, not the session key). Empty
	// means a random key per process: tokens then stop working when it
	// restarts and are refused by other replicas.
	TokenKey []byte
	// Clock reads the time that personal access tokens are issued and
	// judged at; nil means time.Now. Tests move it instead of waiting.
	Clock blobmark.Clock

	// Media resolves blob URIs in task data: with it, task responses carry
	// resolve URLs and /tasks/{id}/resolve/ and /projects/{id}/resolve/
	// serve the blobs (media.go); nil leaves URIs as stored and the routes out.
	Media blobmark.MediaResolver
	// PublicURL is the scheme and host prefixed to resolve URLs in task
	// data (Label Studio's HOST); empty gives relative URLs.
	PublicURL string
	// MediaMode is the operator's policy for serving media: media.ModeAuto
	// (empty) follows each storage's presign flag, media.ModeProxy streams
	// every blob, media.ModePresignOnly never streams.
	MediaMode media.Mode
	// ProjectAccess decides who may reach a project and everything in it
	// (access.go applies it to every project-scoped route); nil lets every
	// signed-in user reach every project.
	ProjectAccess blobmark.ProjectAuthorizer

	// Throttle tunes the back-off of failed sign-ins and invalid API tokens
	// (throttle.go); the zero value means the defaults.
	Throttle Throttle
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the
	// client that failures are counted against; empty trusts none, and the
	// peer's own address is the client's.
	TrustedProxies []netip.Prefix

	sessions sessionState
	tokens   tokensState
	throttle throttleState
	// importSlots holds a token per large import running (import.go).
	importSlots chan struct{}
	// slotWait, when set, replaces importSlotWait (tests).
	slotWait time.Duration
}

// route is one entry of the API: a ServeMux pattern, its handler, and the
// permission the caller's role must grant (blobmark.Role.Can), or public.
// Every route states one, and TestEveryRouteHasADecision checks the
// permission tests cover each; handlers refine it per object (a project's
// members, a storage's credential, an annotation's author) through
// access.go.
type route struct {
	pattern string
	handler http.HandlerFunc
	needs   blobmark.Permission
}

// public marks a route anyone may call: probes, sign-in, the UI's pages
// (which ask the API for everything they show), and Azure's event pushes
// (which authenticate with their own secret).
const public blobmark.Permission = ""

// The permissions routes need, by their names in the permission table.
const (
	label          = blobmark.PermLabel
	review         = blobmark.PermReview
	manageProjects = blobmark.PermManageProjects
	storages       = blobmark.PermStorages
	manageMembers  = blobmark.PermManageMembers
)

// routes lists every route of the server. Paths, trailing slashes included,
// are exactly those Label Studio serves (Django with APPEND_SLASH off), so
// "{$}" pins a path that ends in a slash and a path without one has none.
func (s *Server) routes() []route {
	return append([]route{
		// Probes.
		{"GET /healthz", s.handleHealthz, public},
		{"GET /readyz", s.handleReadyz, public},

		// Projects.
		{"GET /api/projects/{$}", s.handleListProjects, label},
		{"POST /api/projects/{$}", s.handleCreateProject, manageProjects},
		{"GET /api/projects/{id}/{$}", s.handleGetProject, label},
		{"PATCH /api/projects/{id}/{$}", s.handleUpdateProject, manageProjects},
		{"DELETE /api/projects/{id}/{$}", s.handleDeleteProject, manageProjects},
		{"POST /api/projects/{id}/import", s.handleImportTasks, manageProjects},
		{"GET /api/projects/{id}/export", s.handleExportProject, manageProjects},
		{"GET /api/projects/{id}/export/formats", s.handleExportFormats, manageProjects},
		{"GET /api/version/{$}", s.handleVersion, public},

		// Tasks.
		{"GET /api/tasks/{$}", s.handleListTasks, label},
		{"GET /api/tasks/{id}/{$}", s.handleGetTask, label},
		{"PATCH /api/tasks/{id}/{$}", s.handleUpdateTask, manageProjects},
		{"DELETE /api/tasks/{id}/{$}", s.handleDeleteTask, manageProjects},

		// Annotations.
		{"GET /api/tasks/{id}/annotations/{$}", s.handleListAnnotations, label},
		{"POST /api/tasks/{id}/annotations/{$}", s.handleCreateAnnotation, label},
		{"GET /api/annotations/{id}/{$}", s.handleGetAnnotation, label},
		{"PATCH /api/annotations/{id}/{$}", s.handleUpdateAnnotation, label},
		{"DELETE /api/annotations/{id}/{$}", s.handleDeleteAnnotation, label},

		// Web UI sign-in (session cookie; see session.go) and its pages.
		{"POST /api/auth/login", s.handleLogin, public},
		{"POST /api/auth/logout", s.handleLogout, public},
		{"GET /api/current-user/whoami", s.handleWhoAmI, label},
		{"GET /{$}", s.handleUI, public},
		{"GET /static/", s.handleUI, public},
		{"GET /user/login/{$}", s.handleUI, public},
		{"GET /projects/{$}", s.handleUI, public},
		{"GET /projects/{id}/data", s.handleUI, public},
		{"GET /projects/{id}/settings", s.handleUI, public},
		{"GET /projects/{id}/storage", s.handleUI, public},
		{"GET /projects/{id}/label", s.handleUI, public},
	}, slices.Concat(
		s.sourceStorageRoutes(),  // source storages: storages.go
		s.targetStorageRoutes(),  // target storages: export_storages.go
		s.mediaRoutes(),          // media resolver: media.go
		s.storageEventRoutes(),   // storage events: storage_events.go
		s.webhookRoutes(),        // outgoing webhooks: webhooks.go
		s.tokenRoutes(),          // API tokens and their settings: tokens.go
		s.memberRoutes(),         // users, organizations, members: members.go
		s.inviteRoutes(),         // invitations and sign-up: invites.go
		s.labelStreamRoutes(),    // label stream and task locks: labelstream.go
		s.predictionRoutes(),     // predictions: predictions.go
		s.dataManagerRoutes(),    // Data Manager views and actions: datamanager.go
		s.exportSnapshotRoutes(), // export snapshots: export_snapshots.go
	)...)
}

// Handler returns the HTTP handler of the API: routing, authentication,
// body limits, panic recovery and the access log.
func (s *Server) Handler() http.Handler {
	s.importSlots = make(chan struct{}, cmp.Or(max(s.MaxConcurrentImports, 0), DefaultMaxConcurrentImports))
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		h := http.Handler(rt.handler)
		if rt.needs != public {
			h = s.requireUser(rt.needs, h)
		}
		mux.Handle(rt.pattern, &routeHandler{h})
	}
	// routable reports whether a request reaches one of our routes. For the
	// rest ServeMux would answer itself, in plain text, and would redirect a
	// path to its other trailing-slash spelling, which Label Studio answers
	// with 404; its answers are not *routeHandler, which tells them apart.
	routable := func(r *http.Request) bool {
		h, _ := mux.Handler(r)
		_, ok := h.(*routeHandler)
		return ok
	}
	unmatched := s.unmatched(routable)
	dispatch := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !routable(r) {
			unmatched.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
	return s.accessLog(s.recoverPanics(s.limitBody(dispatch)))
}

// routeHandler marks the handlers of registered routes.
type routeHandler struct{ http.Handler }

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Server) maxBodyBytes() int64 {
	if s.MaxBodyBytes > 0 {
		return s.MaxBodyBytes
	}
	return DefaultMaxBodyBytes
}

func (s *Server) importSlotWait() time.Duration {
	if s.slotWait != 0 {
		return s.slotWait
	}
	return importSlotWait
}

func (s *Server) version() string {
	if s.Version != "" {
		return s.Version
	}
	return "dev"
}

// handleHealthz answers while the process is up; it touches nothing else.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz answers 200 when the database is reachable, 503 otherwise.
// The cause goes to the log only: the endpoint is unauthenticated.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if s.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := s.Ready(ctx); err != nil {
			s.logger().WarnContext(r.Context(), "not ready", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "detail": "The database is not reachable."})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// RouteInfo is a route's ServeMux pattern and the permission its caller's
// role must grant ("" for a public route).
type RouteInfo struct {
	Pattern string
	Needs   blobmark.Permission
}

// Routes lists every route the server serves with its permission, for the
// tests that walk the route table and for the documentation.
func (s *Server) Routes() []RouteInfo {
	var out []RouteInfo
	for _, rt := range s.routes() {
		out = append(out, RouteInfo{rt.pattern, rt.needs})
	}
	return out
}
