package httpapi

import (
	"context"
	"net/http"
)

// The routes of one object (a project, annotation, webhook or storage
// detail, update or delete, a storage's sync) all answer the same way: load the object the
// path names, which checks the user may reach it, maybe act on it, then
// answer with its JSON or with the first error. These helpers are that
// sequence once, so every such route answers alike; serveCreated is the
// same answer for a new object.

// serveObject answers 200 with the object load finds, after act (nil for
// none) has acted on it and returned it as it now is.
func serveObject[T, J any](s *Server, w http.ResponseWriter, r *http.Request,
	load func(*http.Request) (T, error), act func(context.Context, T) (T, error), toJSON func(T) J) {
	obj, err := load(r)
	if err == nil && act != nil {
		obj, err = act(r.Context(), obj)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toJSON(obj))
}

// serveCreated saves the new object obj and answers 201 Created with it.
func serveCreated[T, J any](s *Server, w http.ResponseWriter, r *http.Request,
	obj T, save func(context.Context, T) error, toJSON func(T) J) {
	if err := save(r.Context(), obj); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toJSON(obj))
}

// serveDelete deletes the object load finds and answers 204 No Content.
func serveDelete[T any](s *Server, w http.ResponseWriter, r *http.Request,
	load func(*http.Request) (T, error), del func(context.Context, T) error) {
	obj, err := load(r)
	if err == nil {
		err = del(r.Context(), obj)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
