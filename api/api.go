package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/export"
	"github.com/heraldhq/herald/internal/httpx"
	"github.com/heraldhq/herald/jobs"
)

// AdminRole sees and cancels every user's tasks.
const AdminRole = auth.AdminRole

// maxBody bounds request bodies of the API.
const maxBody = 64 << 10

// Server serves the task, notification and demo endpoints.
type Server struct {
	Auth  *auth.Authenticator
	Store *jobs.Store
	// Exports serves the dataset and export endpoints; nil leaves them out.
	Exports *export.Service
	// DemoTasks turns on POST /api/demo/tasks, a development aid (it answers 404 otherwise).
	DemoTasks bool
	Log       *slog.Logger
}

// Mux is where routes are registered: an *http.ServeMux, or one that also records its patterns.
type Mux interface {
	HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request))
}

// Register adds the API's routes to mux.
func (s *Server) Register(mux Mux) {
	mux.HandleFunc("GET /api/tasks", s.authed(s.listTasks))
	mux.HandleFunc("GET /api/tasks/{id}", s.authed(s.getTask))
	mux.HandleFunc("POST /api/tasks/{id}/cancel", s.authed(s.cancelTask))
	mux.HandleFunc("GET /api/notifications", s.authed(s.listNotifications))
	mux.HandleFunc("POST /api/notifications/{id}/read", s.authed(s.markRead))
	mux.HandleFunc("POST /api/notifications/read", s.authed(s.markAllRead))
	mux.HandleFunc("POST /api/demo/tasks", s.authed(s.createDemoTask))
	if s.Exports != nil {
		mux.HandleFunc("GET /api/datasets", s.authed(s.listDatasets))
		mux.HandleFunc("POST /api/exports", s.authed(s.createExport))
	}
}

type handler func(w http.ResponseWriter, r *http.Request, id *auth.Identity)

// authed authenticates the request: 401 with the JSON error when it carries no valid token. Its
// replies are the user's own (tasks carry signed download links): no cache keeps them.
func (s *Server) authed(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		id, err := s.Auth.AuthenticateHeader(r)
		if err != nil {
			auth.WriteError(w, err)
			return
		}
		h(w, r, id)
	}
}

func (s *Server) listTasks(w http.ResponseWriter, r *http.Request, id *auth.Identity) {
	q := r.URL.Query()
	limit, ok := intParam(w, q.Get("limit"), "limit")
	if !ok {
		return
	}
	page, err := s.Store.List(r.Context(), id.UserID, jobs.ListOptions{State: jobs.State(q.Get("state")), Limit: limit, Cursor: q.Get("cursor")})
	if err != nil {
		s.fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, page)
}

func (s *Server) getTask(w http.ResponseWriter, r *http.Request, id *auth.Identity) {
	var t *jobs.Task
	var err error
	if id.HasRole(AdminRole) {
		t, err = s.Store.GetAny(r.Context(), r.PathValue("id"))
	} else {
		t, err = s.Store.Get(r.Context(), id.UserID, r.PathValue("id"))
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, t)
}

func (s *Server) cancelTask(w http.ResponseWriter, r *http.Request, id *auth.Identity) {
	var t *jobs.Task
	var err error
	if id.HasRole(AdminRole) {
		t, err = s.Store.CancelAny(r.Context(), r.PathValue("id"))
	} else {
		t, err = s.Store.Cancel(r.Context(), id.UserID, r.PathValue("id"))
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, t)
}

func (s *Server) listNotifications(w http.ResponseWriter, r *http.Request, id *auth.Identity) {
	q := r.URL.Query()
	limit, ok := intParam(w, q.Get("limit"), "limit")
	if !ok {
		return
	}
	unread := false
	if v := q.Get("unread"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			httpx.WriteError(w, http.StatusBadRequest, "invalid_request", `"unread" must be true or false.`)
			return
		}
		unread = b
	}
	list, err := s.Store.Notifications(r.Context(), id.UserID, unread, limit)
	if err != nil {
		s.fail(w, err)
		return
	}
	unreadCount, err := s.Store.UnreadCount(r.Context(), id.UserID)
	if err != nil {
		s.fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"notifications": list, "unread": unreadCount})
}

func (s *Server) markAllRead(w http.ResponseWriter, r *http.Request, id *auth.Identity) {
	n, err := s.Store.MarkAllRead(r.Context(), id.UserID)
	if err != nil {
		s.fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"marked": n, "unread": 0})
}

func (s *Server) markRead(w http.ResponseWriter, r *http.Request, id *auth.Identity) {
	n, err := s.Store.MarkRead(r.Context(), id.UserID, r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, n)
}

// demoRequest is the body of POST /api/demo/tasks.
type demoRequest struct {
	Steps      int `json:"steps"`
	StepMs     int `json:"stepMs"`
	FailAtStep int `json:"failAtStep"`
}

// decodeBody reads one JSON object into v, with unknown fields refused; it answers 400 and
// returns false when the body is not that. example shows the expected shape.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, example string) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			httpx.WriteError(w, http.StatusRequestEntityTooLarge, "body_too_large", httpx.DescribeJSONError(err))
			return false
		}
		httpx.WriteError(w, http.StatusBadRequest, "invalid_body", httpx.DescribeJSONError(err)+" The body must be JSON like "+example+".")
		return false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		httpx.WriteError(w, http.StatusBadRequest, "invalid_body", "The body must hold one JSON object.")
		return false
	}
	return true
}

func (s *Server) createDemoTask(w http.ResponseWriter, r *http.Request, id *auth.Identity) {
	if !s.DemoTasks {
		httpx.WriteError(w, http.StatusNotFound, "not_enabled", "Demo tasks are a development aid: they are on in dev mode, or with --demo-tasks.")
		return
	}
	var req demoRequest
	if !decodeBody(w, r, &req, `{"steps":10,"stepMs":500,"failAtStep":0}`) {
		return
	}
	args := &jobs.DemoArgs{Steps: req.Steps, StepMs: req.StepMs, FailAtStep: req.FailAtStep}
	if err := args.Validate(); err != nil {
		var ie *jobs.InvalidError
		if !errors.As(err, &ie) {
			s.fail(w, err)
			return
		}
		httpx.WriteError(w, http.StatusUnprocessableEntity, "invalid_parameters", ie.Message)
		return
	}
	t, err := s.Store.Enqueue(r.Context(), id.UserID, fmt.Sprintf("Demo task (%d steps)", req.Steps), args)
	if err != nil {
		s.fail(w, err)
		return
	}
	w.Header().Set("Location", "/api/tasks/"+t.ID)
	httpx.WriteJSON(w, http.StatusAccepted, t)
}

// fail maps the store's errors to statuses; anything unexpected is logged and answered 500
// without its text.
func (s *Server) fail(w http.ResponseWriter, err error) {
	var invalid *jobs.InvalidError
	var limit *jobs.LimitError
	switch {
	case errors.As(err, &limit):
		// Seconds, rounded up: a client that waits that long may be let in.
		w.Header().Set("Retry-After", strconv.Itoa(int((limit.RetryAfter+time.Second-1)/time.Second)))
		httpx.WriteError(w, http.StatusTooManyRequests, limit.Limit, limit.Message)
	case errors.Is(err, jobs.ErrNotFound):
		httpx.WriteError(w, http.StatusNotFound, "not_found", "No such task or notification.")
	case errors.Is(err, jobs.ErrFinished):
		httpx.WriteError(w, http.StatusConflict, "task_finished", "The task has already finished.")
	case errors.As(err, &invalid):
		httpx.WriteError(w, http.StatusBadRequest, "invalid_request", invalid.Message)
	default:
		s.Log.Error("api", "err", err)
		httpx.WriteError(w, http.StatusInternalServerError, "internal", "Something went wrong; it has been logged.")
	}
}

func intParam(w http.ResponseWriter, v, name string) (int, bool) {
	if v == "" {
		return 0, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		httpx.WriteError(w, http.StatusBadRequest, "invalid_request", `"`+name+`" must be a whole number, 0 or more.`)
		return 0, false
	}
	return n, true
}
