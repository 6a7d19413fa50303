package hub

import (
	"encoding/json"
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
	// UseStatefulReconnect is true only when the client asked and the server allows it.
	UseStatefulReconnect bool `json:"useStatefulReconnect,omitempty"`
}

var transferFormats = map[Transport][]string{
	WebSockets:       {"Text", "Binary"},
	ServerSentEvents: {"Text"},
	LongPolling:      {"Text", "Binary"},
}

// negotiate answers POST {hub}/negotiate with a new connection's id and token.
func (ep *endpoint) negotiate(w http.ResponseWriter, r *http.Request) {
	h := ep.h
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "negotiate requires POST", http.StatusMethodNotAllowed)
		return
	}
	p, ok := ep.admit(w, r)
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
	c, err := h.newConn(r.Context(), ep, p, version)
	if err != nil {
		h.log.Error("negotiate", "err", err)
		http.Error(w, "hub unavailable", http.StatusServiceUnavailable)
		return
	}
	// As .NET: offered to a client that asks, on negotiate version 1 (the token is what it
	// resumes with), when WebSockets are allowed.
	c.offerStateful = version >= 1 && r.URL.Query().Get("useStatefulReconnect") == "true" &&
		!h.opts.DisableStatefulReconnect && ep.allows(WebSockets)
	resp := negotiateResponse{ConnectionID: c.id, NegotiateVersion: version, UseStatefulReconnect: c.offerStateful}
	if version >= 1 {
		resp.ConnectionToken = c.token
	}
	for _, t := range ep.transports {
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

// admit checks that a new connection may be made: the hub is not draining, the request's
// credentials are good, and the endpoint admits the user. It writes the refusal itself.
func (ep *endpoint) admit(w http.ResponseWriter, r *http.Request) (*Principal, bool) {
	if ep.h.draining.Load() {
		http.Error(w, "Server is shutting down.", http.StatusServiceUnavailable)
		return nil, false
	}
	p, ok := ep.authenticate(w, r)
	if !ok || !ep.admitRoles(w, r, p) || !ep.admitUser(w, p) {
		return nil, false
	}
	return p, true
}

// authenticate identifies a request to the endpoint. It answers with Options.Challenge and
// returns false for bad credentials, or for none when the endpoint requires them.
func (ep *endpoint) authenticate(w http.ResponseWriter, r *http.Request) (*Principal, bool) {
	h := ep.h
	if ep.auth == nil {
		if ep.requireAuth {
			h.opts.Challenge(w, r, nil)
			return nil, false
		}
		return nil, true
	}
	p, err := ep.auth(r)
	switch {
	case err != nil:
		h.opts.Challenge(w, r, err)
		return nil, false
	case p == nil && ep.requireAuth:
		h.opts.Challenge(w, r, nil)
		return nil, false
	}
	return p, true
}

// DefaultChallenge answers 401 with an empty body and an RFC 6750 challenge: "Bearer" when the
// request carried no credentials, `Bearer error="invalid_token"` when they were refused. It
// says no more: the clients show a response body to users as the error, and why a token failed is
// for the server's log.
func DefaultChallenge(w http.ResponseWriter, _ *http.Request, err error) {
	challenge := "Bearer"
	if err != nil {
		challenge = `Bearer error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	w.WriteHeader(http.StatusUnauthorized)
}

// authorizeTransport checks that a transport request comes from the connection's own user: the
// request is authenticated again, as the clients send their token with every request. Another
// user's request gets 403, with an empty body as from .NET.
func (h *Hub) authorizeTransport(w http.ResponseWriter, r *http.Request, c *conn) bool {
	if c.principal == nil {
		return true
	}
	p, ok := c.ep.authenticate(w, r)
	if !ok {
		return false
	}
	if p == nil {
		h.opts.Challenge(w, r, nil)
		return false
	}
	if p.UserID != c.principal.UserID {
		w.WriteHeader(http.StatusForbidden)
		return false
	}
	// A later token (a client's accessTokenFactory called again) extends the connection.
	if exp := p.expiry(); exp > c.expires.Load() {
		c.expires.Store(exp)
	}
	return true
}
