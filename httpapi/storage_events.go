package httpapi

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/importer"
)

// Event-driven sync of source storages (a blobmark extension).
//
// POST /api/storages/azure/{id}/events?code=TOKEN is the Event Grid webhook
// of one storage: it is outside token auth and authenticated by the
// storage's random push token (compared in constant time; only its hash is
// stored). It answers Event Grid's validation handshake (Event Grid schema)
// and, with OPTIONS, the CloudEvents abuse-protection handshake; it accepts
// both schemas, single events and batches, and returns 200 only once the
// events are persisted, their processing enqueued in the same transaction.
//
// GET and PATCH /api/storages/azure/{id}/events/settings show and change
// events_enabled, events_queue (a storage queue polled with the storage's
// credential: a queue name, or its URL on the account's queue service) and
// rotate (a new token); events_url, with the token, is in the answer only
// when a token was generated.

// storageEventsJSON is a storage's event settings as the API shows them.
func (s *Server) storageEventsJSON(r *http.Request, ev *blobmark.StorageEvents) map[string]any {
	out := map[string]any{
		"events_enabled":  ev.Enabled,
		"events_queue":    ev.QueueName,
		"events_received": ev.Received,
		"events_applied":  ev.Applied,
		"events_ignored":  ev.Ignored,
		"events_last_at":  nil,
	}
	if ev.LastEventAt != nil {
		out["events_last_at"] = ev.LastEventAt.UTC().Format(time.RFC3339Nano)
	}
	if ev.Token != "" {
		base := strings.TrimRight(s.PublicURL, "/")
		if base == "" {
			scheme := "http"
			if r.TLS != nil {
				scheme = "https"
			}
			base = scheme + "://" + r.Host
		}
		out["events_url"] = base + "/api/storages/" + storageType(r) + "/" + strconv.FormatInt(ev.StorageID, 10) +
			"/events?code=" + ev.Token
	}
	return out
}

func (s *Server) handleGetStorageEvents(w http.ResponseWriter, r *http.Request) {
	st, err := s.findSource(r)
	var ev *blobmark.StorageEvents
	if err == nil {
		ev, err = s.StorageEvents.FindStorageEvents(r.Context(), st.ID)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.storageEventsJSON(r, ev))
}

func (s *Server) handleUpdateStorageEvents(w http.ResponseWriter, r *http.Request) {
	st, err := s.findSource(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := s.decodeObject(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	cur, err := s.StorageEvents.FindStorageEvents(r.Context(), st.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	v := validation{}
	enabled, rotate := cur.Enabled, false
	var queue *string
	field(body, "events_enabled", &enabled, v, "boolean")
	field(body, "rotate", &rotate, v, "boolean")
	var q string
	if field(body, "events_queue", &q, v, "string") {
		queue = &q
	}
	if err := v.err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	ev, err := s.StorageEvents.ConfigureStorageEvents(r.Context(), st.ID, enabled, rotate, queue)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.storageEventsJSON(r, ev))
}

// eventStorage authenticates a delivery and returns the storage id.
func (s *Server) eventStorage(r *http.Request) (int64, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return 0, err
	}
	token := r.URL.Query().Get("code")
	if token == "" {
		token = r.Header.Get("aeg-sas-key")
	}
	if err := s.StorageEvents.CheckStorageEventsToken(r.Context(), id, token); err != nil {
		return 0, err
	}
	return id, nil
}

// handleStorageEventsOptions answers the CloudEvents webhook validation
// handshake (abuse protection): the origin is allowed once the token is right.
func (s *Server) handleStorageEventsOptions(w http.ResponseWriter, r *http.Request) {
	if _, err := s.eventStorage(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	if origin := r.Header.Get("WebHook-Request-Origin"); origin != "" {
		w.Header().Set("WebHook-Allowed-Origin", origin)
		w.Header().Set("WebHook-Allowed-Rate", "*")
	}
	w.Header().Set("Allow", "OPTIONS, POST")
	w.WriteHeader(http.StatusOK)
}

// handleStorageEvents accepts one Event Grid delivery.
func (s *Server) handleStorageEvents(w http.ResponseWriter, r *http.Request) {
	id, err := s.eventStorage(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.writeError(w, r, blobmark.Errorf(blobmark.EINVALID, "the event delivery could not be read"))
		return
	}
	parsed, err := importer.ParseEvents(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if parsed.ValidationCode != "" && len(parsed.Events) == 0 {
		writeJSON(w, http.StatusOK, map[string]string{"validationResponse": parsed.ValidationCode})
		return
	}
	if len(parsed.Events) > 0 {
		if err := s.StorageEvents.AcceptStorageEvents(r.Context(), id, parsed.Events); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]int{"accepted": len(parsed.Events), "ignored": parsed.Other})
}

// storageEventRoutes are the event routes, for routes().
func (s *Server) storageEventRoutes() []route {
	if s.StorageEvents == nil {
		return nil
	}
	var out []route
	for _, t := range []string{blobmark.StorageTypeAzure, blobmark.StorageTypeAzureSPI} {
		base := "/api/storages/" + t + "/{id}/events"
		typed := func(h http.HandlerFunc) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				r.SetPathValue("type", t)
				h(w, r)
			}
		}
		out = append(out,
			route{"POST " + base, typed(s.handleStorageEvents), public},
			route{"OPTIONS " + base, typed(s.handleStorageEventsOptions), public},
			route{"GET " + base + "/settings", typed(s.handleGetStorageEvents), storages},
			route{"PATCH " + base + "/settings", typed(s.handleUpdateStorageEvents), storages},
		)
	}
	return out
}
