package httpapi

import (
	"cmp"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/blobmark/blobmark"
)

// Invitations (our own design; Label Studio's invite endpoints are
// Enterprise-only and mail-based). An administrator makes a link for a
// role, optionally for one email and with projects to join, valid for 72
// hours unless told otherwise (at most 30 days). Whoever opens the link
// before it expires signs up once with it: the account is created in the
// inviter's organization with the invite's role, joins the projects, and
// is signed in. Only the token's SHA-256 is stored; the link is shown once.

// inviteRoutes serves invitations and the sign-up page; without Invites or
// Organizations they are left out.
func (s *Server) inviteRoutes() []route {
	if s.Invites == nil || s.Organizations == nil {
		return nil
	}
	return []route{
		{"POST /api/invites/{$}", s.handleCreateInvite, manageMembers},
		{"GET /api/invites/{$}", s.handleListInvites, manageMembers},
		{"DELETE /api/invites/{id}/{$}", s.handleRevokeInvite, manageMembers},
		{"GET /api/invites/accept", s.handleInviteInfo, public},
		{"POST /api/invites/accept", s.handleAcceptInvite, public},
		{"GET /user/signup/{$}", s.handleUI, public},
	}
}

// inviteJSON is an invite as the API shows it; the token and its link
// appear only in the answer that creates it.
type inviteJSON struct {
	ID        int64         `json:"id"`
	Token     string        `json:"token,omitempty"`
	InviteURL string        `json:"invite_url,omitempty"`
	Role      blobmark.Role `json:"role"`
	Email     string        `json:"email"`
	Projects  []int64       `json:"projects"`
	CreatedBy int64         `json:"created_by"`
	ExpiresAt time.Time     `json:"expires_at"`
	CreatedAt time.Time     `json:"created_at"`
}

func presentInvite(inv *blobmark.Invite) inviteJSON {
	projects := inv.ProjectIDs
	if projects == nil {
		projects = []int64{}
	}
	return inviteJSON{ID: inv.ID, Role: inv.Role, Email: inv.Email, Projects: projects, CreatedBy: inv.CreatedBy,
		ExpiresAt: inv.ExpiresAt, CreatedAt: inv.CreatedAt}
}

// inviteURL is the sign-up link of a token: under PublicURL when set, else
// under the address the inviter reached us at.
func (s *Server) inviteURL(r *http.Request, token string) string {
	base := strings.TrimSuffix(cmp.Or(s.PublicURL, requestScheme(r)+"://"+r.Host), "/")
	return base + "/user/signup/?token=" + url.QueryEscape(token)
}

// handleCreateInvite makes an invitation: {role (default AN), email?,
// expires_in_hours? (default 72, at most 720), projects? [ids]}.
func (s *Server) handleCreateInvite(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Role           *string `json:"role"`
		Email          string  `json:"email"`
		ExpiresInHours *int    `json:"expires_in_hours"`
		Projects       []int64 `json:"projects"`
	}
	if err := s.decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	me := caller(r)
	inv := &blobmark.Invite{OrganizationID: me.OrganizationID, Role: blobmark.RoleAnnotator, Email: in.Email,
		ProjectIDs: in.Projects, CreatedBy: me.ID}
	if in.Role != nil {
		inv.Role = blobmark.Role(*in.Role)
	}
	ttl := blobmark.DefaultInviteTTL
	if in.ExpiresInHours != nil {
		ttl = time.Duration(*in.ExpiresInHours) * time.Hour
		if ttl <= 0 || ttl > blobmark.MaxInviteTTL {
			s.writeError(w, r, blobmark.FieldErrorf("expires_in_hours", "Choose between 1 and %d hours.", int(blobmark.MaxInviteTTL.Hours())))
			return
		}
	}
	inv.ExpiresAt = time.Now().Add(ttl).UTC().Truncate(time.Second)
	token, err := s.Invites.CreateInvite(r.Context(), inv, me.Role)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := presentInvite(inv)
	out.Token, out.InviteURL = token, s.inviteURL(r, token)
	writeJSON(w, http.StatusCreated, out)
}

// handleListInvites answers the organization's pending invites.
func (s *Server) handleListInvites(w http.ResponseWriter, r *http.Request) {
	invs, err := s.Invites.FindInvites(r.Context(), caller(r).OrganizationID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]inviteJSON, len(invs))
	for i, inv := range invs {
		out[i] = presentInvite(inv)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleRevokeInvite(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err == nil {
		err = s.Invites.RevokeInvite(r.Context(), caller(r).OrganizationID, id)
	}
	if blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
		err = blobmark.Errorf(blobmark.ENOTFOUND, "No pending invitation %s.", r.PathValue("id"))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// inviteInfoJSON is what the sign-up page shows about an invite.
type inviteInfoJSON struct {
	Organization string        `json:"organization"`
	Role         blobmark.Role `json:"role"`
	RoleName     string        `json:"role_name"`
	Email        string        `json:"email"`
	ExpiresAt    time.Time     `json:"expires_at"`
}

// inviteByToken looks up a link's invite, throttled like sign-in: an
// unknown token counts as a failed attempt from the caller's address, so
// tokens cannot be guessed at speed.
func (s *Server) inviteByToken(r *http.Request, token string) (*blobmark.Invite, error) {
	if strings.TrimSpace(token) == "" {
		return nil, blobmark.FieldErrorf("token", "This field is required: open the whole invitation link.")
	}
	address := s.addressKeyOf(r)
	if wait := s.limiter().admit(address); wait > 0 {
		return nil, tooManyFailures("invalid invitation links from this address", wait)
	}
	inv, err := s.Invites.FindInviteByToken(r.Context(), token)
	if blobmark.ErrorCode(err) == blobmark.ENOTFOUND {
		s.failedCredentials(r, "invite", address)
	}
	return inv, err
}

// handleInviteInfo answers what an invite link offers, for the sign-up page.
func (s *Server) handleInviteInfo(w http.ResponseWriter, r *http.Request) {
	inv, err := s.inviteByToken(r, r.URL.Query().Get("token"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	o, err := s.Organizations.FindOrganizationByID(r.Context(), inv.OrganizationID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, inviteInfoJSON{Organization: o.Title, Role: inv.Role, RoleName: inv.Role.Name(), Email: inv.Email, ExpiresAt: inv.ExpiresAt})
}

// handleAcceptInvite signs up with an invite link, {token, email,
// password, first_name?, last_name?, username?}, and signs the new member
// in, under the same rules as sign-in (fromOurPages).
func (s *Server) handleAcceptInvite(w http.ResponseWriter, r *http.Request) {
	if err := fromOurPages(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	var in struct {
		Token     string `json:"token"`
		Email     string `json:"email"`
		Password  string `json:"password"`
		FirstName string `json:"first_name"`
		LastName  string `json:"last_name"`
		Username  string `json:"username"`
	}
	if err := s.decodeJSON(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := credentials(in.Email, in.Password).err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.inviteByToken(r, in.Token); err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := s.Invites.AcceptInvite(r.Context(), in.Token, blobmark.NewUser{Email: in.Email, Password: in.Password,
		FirstName: in.FirstName, LastName: in.LastName, Username: in.Username})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.startSession(w, r, u, http.StatusCreated)
}
