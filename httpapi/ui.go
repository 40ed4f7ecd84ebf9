package httpapi

import (
	"net/http"

	"github.com/blobmark/blobmark/ui"
)

// handleUI serves the web UI's pages and assets. The pages are public
// shells: their scripts ask /api/current-user/whoami and send a signed-out
// visitor to the sign-in page, and every datum they show comes from the
// authenticated API.
func (s *Server) handleUI(w http.ResponseWriter, r *http.Request) {
	ui.Handler().ServeHTTP(w, r)
}
