package api

import (
	"errors"
	"net/http"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/export"
	"github.com/heraldhq/herald/internal/httpx"
)

// datasetView is how GET /api/datasets shows a dataset.
type datasetView struct {
	Name        string          `json:"name"`
	Title       string          `json:"title"`
	Description string          `json:"description,omitempty"`
	Formats     []string        `json:"formats"`
	Params      []*export.Param `json:"params"`
}

func (s *Server) listDatasets(w http.ResponseWriter, _ *http.Request, id *auth.Identity) {
	list := s.Exports.Exporter().Registry().List(id.Roles)
	out := make([]datasetView, len(list))
	for i, d := range list {
		out[i] = datasetView{Name: d.Name, Title: d.Title, Description: d.Description, Formats: d.Formats, Params: d.Params}
		if out[i].Params == nil {
			out[i].Params = []*export.Param{}
		}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"datasets": out})
}

func (s *Server) createExport(w http.ResponseWriter, r *http.Request, id *auth.Identity) {
	var req export.Request
	if !decodeBody(w, r, &req, `{"dataset":"orders","format":"csv","compression":"gzip","params":{"from":"2026-01-01"}}`) {
		return
	}
	t, err := s.Exports.Start(r.Context(), id.UserID, id.Roles, req)
	var rerr *export.RequestError
	if errors.As(err, &rerr) {
		body := httpx.ErrorBody{Error: httpx.ErrorDetail{Code: rerr.Code, Message: rerr.Message}}
		if len(rerr.Fields) > 0 {
			body.Error.Details = rerr.Fields
		}
		httpx.WriteJSON(w, http.StatusUnprocessableEntity, body)
		return
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	w.Header().Set("Location", "/api/tasks/"+t.ID)
	httpx.WriteJSON(w, http.StatusAccepted, t)
}
