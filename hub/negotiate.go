package hub

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

type negotiateTransport struct {
	Transport       Transport `json:"transport"`
	TransferFormats []string  `json:"transferFormats"`
}

type negotiateResponse struct {
	ConnectionID        string               `json:"connectionId"`
	ConnectionToken     string               `json:"connectionToken,omitempty"`
	NegotiateVersion    int                  `json:"negotiateVersion"`
	AvailableTransports []negotiateTransport `json:"availableTransports"`
}

var transferFormats = map[Transport][]string{
	WebSockets:       {"Text", "Binary"},
	ServerSentEvents: {"Text"},
	LongPolling:      {"Text", "Binary"},
}

// negotiate answers POST {hub}/negotiate with a new connection's id and token.
func (h *Hub) negotiate(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "negotiate requires POST", http.StatusMethodNotAllowed)
		return
	}
	p, ok := h.admit(w, r)
	if !ok {
		return
	}
	version := 0
	if v := r.URL.Query().Get("negotiateVersion"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			http.Error(w, "negotiateVersion must be a non-negative integer", http.StatusBadRequest)
			return
		}
		version = min(n, 1)
	}
	c := h.newConn(p, version)
	resp := negotiateResponse{ConnectionID: c.id, NegotiateVersion: version}
	if version >= 1 {
		resp.ConnectionToken = c.token
	}
	for _, t := range h.opts.Transports {
		resp.AvailableTransports = append(resp.AvailableTransports, negotiateTransport{Transport: t, TransferFormats: transferFormats[t]})
	}
	body, err := json.Marshal(resp)
	if err != nil {
		http.Error(w, "negotiate", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if _, err := w.Write(body); err != nil {
		// The client is gone; the connection is dropped when its transport never comes.
		h.log.Debug("write negotiate response", "err", err)
	}
}

// admit checks that a new connection may be made: the hub is not draining and the request's
// credentials are good. It writes the refusal itself.
func (h *Hub) admit(w http.ResponseWriter, r *http.Request) (*Principal, bool) {
	if h.draining.Load() {
		http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
		return nil, false
	}
	return h.authenticate(w, r)
}

// authenticate identifies a request. It writes 401 and returns false for bad credentials, or for
// none when the hub requires them.
func (h *Hub) authenticate(w http.ResponseWriter, r *http.Request) (*Principal, bool) {
	if h.opts.Authenticate == nil {
		return nil, true
	}
	p, err := h.opts.Authenticate(r)
	challenge := `Bearer error="invalid_token"`
	if err == nil && p == nil && h.opts.RequireAuth {
		// No credentials at all: RFC 6750 §3.1 says no error code then.
		err, challenge = errors.New("authentication required"), "Bearer"
	}
	if err != nil {
		w.Header().Set("WWW-Authenticate", challenge)
		http.Error(w, "Unauthorized: "+err.Error(), http.StatusUnauthorized)
		return nil, false
	}
	return p, true
}

// authorizeTransport checks that a transport request comes from the connection's own user: the
// request is authenticated again, as the clients send their token with every request.
func (h *Hub) authorizeTransport(w http.ResponseWriter, r *http.Request, c *conn) bool {
	if c.principal == nil {
		return true
	}
	p, ok := h.authenticate(w, r)
	if !ok {
		return false
	}
	if p == nil {
		w.Header().Set("WWW-Authenticate", "Bearer")
		http.Error(w, "Unauthorized: this connection belongs to an authenticated user", http.StatusUnauthorized)
		return false
	}
	if p.UserID != c.principal.UserID {
		http.Error(w, "Forbidden: this connection belongs to another user", http.StatusForbidden)
		return false
	}
	return true
}
