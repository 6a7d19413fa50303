// Package httpx holds the small HTTP helpers every Herald handler shares: the JSON error envelope
// and JSON replies.
package httpx

import (
	"encoding/json"
	"net/http"
)

// ErrorBody is the JSON envelope of every error reply: {"error":{"code":"…","message":"…"}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is a stable machine code and a message safe to show a user.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Details lists what is wrong, field by field, when there is more than one thing.
	Details any `json:"details,omitempty"`
}

// WriteError writes the JSON error envelope with the given status.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	WriteJSON(w, status, ErrorBody{Error: ErrorDetail{Code: code, Message: message}})
}

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// The status line is out: a failed write means the client went away; nothing more to do.
	_ = json.NewEncoder(w).Encode(v)
}
