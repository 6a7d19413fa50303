package admin

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/internal/httpx"
)

// Announcement is the body of POST /api/admin/announcements.
type Announcement struct {
	Message string `json:"message"`
	// Level is "info" (the default) or "warning".
	Level string `json:"level"`
}

// Bounds of an announcement.
const (
	// MaxAnnouncementBytes bounds the message.
	MaxAnnouncementBytes = 4096
	maxAnnouncementBody  = 64 << 10
)

// AnnouncementTarget is the client method announcements invoke, as `herald send --all --target
// announcement` does.
const AnnouncementTarget = "announcement"

// announce sends announcement(message, level) to every connection of the hub. The first argument
// is what `herald send --all --target announcement --args '["…"]'` sends; the level comes second.
func (s *Server) announce(w http.ResponseWriter, r *http.Request) {
	var a Announcement
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAnnouncementBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			httpx.WriteError(w, http.StatusRequestEntityTooLarge, "body_too_large", httpx.DescribeJSONError(err))
			return
		}
		httpx.WriteError(w, http.StatusBadRequest, "invalid_body", httpx.DescribeJSONError(err)+` The body must be JSON like {"message":"Maintenance at 18:00","level":"info"}.`)
		return
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		httpx.WriteError(w, http.StatusBadRequest, "invalid_body", "The body must hold one JSON object.")
		return
	}
	switch {
	case strings.TrimSpace(a.Message) == "":
		httpx.WriteError(w, http.StatusBadRequest, "invalid_message", `"message" must not be empty.`)
		return
	case len(a.Message) > MaxAnnouncementBytes:
		httpx.WriteError(w, http.StatusRequestEntityTooLarge, "message_too_long", "The message is longer than 4096 bytes.")
		return
	case !utf8.ValidString(a.Message):
		httpx.WriteError(w, http.StatusBadRequest, "invalid_message", `"message" must be valid UTF-8.`)
		return
	}
	switch a.Level {
	case "":
		a.Level = "info"
	case "info", "warning":
	default:
		httpx.WriteError(w, http.StatusBadRequest, "invalid_level", `"level" must be "info" or "warning".`)
		return
	}
	ctx, nodes := hub.CountNodes(r.Context())
	if err := s.Announce.Clients().All().Send(ctx, AnnouncementTarget, a.Message, a.Level); err != nil {
		s.Log.Error("admin announcement", "err", err)
		httpx.WriteError(w, http.StatusServiceUnavailable, "send_failed", "The announcement could not be sent; try again.")
		return
	}
	httpx.WriteJSON(w, http.StatusAccepted, map[string]any{"message": a.Message, "level": a.Level, "receivingNodes": nodes()})
}
