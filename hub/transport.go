package hub

import (
	"io"
	"net/http"
	"strings"
	"sync"
)

// transport is the state of the transport bound to a connection, kept by the transport itself
// (transport_ws.go, transport_sse.go, transport_longpoll.go). All three write the connection's
// sendQueue.
type transport interface {
	// kind is the transport's name.
	kind() Transport
	// abort ends the transport at once: the socket is dropped, a pending poll returns.
	abort()
}

// serveTransport routes a request to the hub path: a WebSocket upgrade, an SSE stream, a long poll,
// a send (POST) or a close (DELETE).
func (ep *endpoint) serveTransport(w http.ResponseWriter, r *http.Request) {
	h := ep.h
	token := r.URL.Query().Get("id")
	isWS := r.Method == http.MethodGet && strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
	if isWS && token == "" {
		ep.skipNegotiation(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodPost, http.MethodDelete:
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if token == "" {
		http.Error(w, "Connection ID required", http.StatusBadRequest)
		return
	}
	c := h.reg.byTokenOf(token)
	if c == nil && !isForwarded(r.Context()) {
		// Another node may hold it: no sticky sessions needed (forward.go).
		isSSE := r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/event-stream")
		ep.forward(w, r, token, isWS || isSSE)
		return
	}
	if c == nil || c.ep != ep {
		http.Error(w, "No Connection with that ID", http.StatusNotFound)
		return
	}
	ep.serveConn(w, r, c, isWS)
}

// serveConn serves a transport request for one of this node's connections.
func (ep *endpoint) serveConn(w http.ResponseWriter, r *http.Request, c *conn, isWS bool) {
	h := ep.h
	if !h.authorizeTransport(w, r, c) {
		return
	}
	switch {
	case r.Method == http.MethodPost:
		h.serveSend(w, r, c)
	case r.Method == http.MethodDelete:
		h.serveDelete(w, c)
	case isWS:
		if !ep.allows(WebSockets) {
			http.Error(w, "WebSockets transport not enabled", http.StatusNotFound)
			return
		}
		h.serveWebSocket(w, r, c)
	case strings.Contains(r.Header.Get("Accept"), "text/event-stream"):
		if !ep.allows(ServerSentEvents) {
			http.Error(w, "ServerSentEvents transport not enabled", http.StatusNotFound)
			return
		}
		h.serveSSE(w, r, c)
	default:
		if !ep.allows(LongPolling) {
			http.Error(w, "LongPolling transport not enabled", http.StatusNotFound)
			return
		}
		h.servePoll(w, r, c)
	}
}

// skipNegotiation serves a WebSocket that arrives without negotiating (the clients'
// skipNegotiation option): it gets a connection of its own.
func (ep *endpoint) skipNegotiation(w http.ResponseWriter, r *http.Request) {
	if !ep.allows(WebSockets) {
		http.Error(w, "WebSockets transport not enabled", http.StatusNotFound)
		return
	}
	p, ok := ep.admit(w, r)
	if !ok {
		return
	}
	c, err := ep.h.newConn(r.Context(), ep, p, 0)
	if err != nil {
		ep.h.log.Error("connect", "err", err)
		http.Error(w, "hub unavailable", http.StatusServiceUnavailable)
		return
	}
	ep.h.serveWebSocket(w, r, c)
}

// serveSend takes what the client POSTs on the SSE and long-polling transports.
func (h *Hub) serveSend(w http.ResponseWriter, r *http.Request, c *conn) {
	if c.transportName() == WebSockets {
		http.Error(w, "POST requests are not allowed for WebSocket connections.", http.StatusMethodNotAllowed)
		return
	}
	if c.isTornDown() {
		http.Error(w, "No Connection with that ID", http.StatusNotFound)
		return
	}
	if c.transportName() == "" {
		// The clients poll or open the event stream before they send; receive needs a transport.
		http.Error(w, "No transport is bound to this connection yet", http.StatusBadRequest)
		return
	}
	buf := readBuffers.Get().(*[]byte)
	defer readBuffers.Put(buf)
	for {
		n, err := r.Body.Read(*buf)
		if n > 0 {
			if rerr := c.receive((*buf)[:n]); rerr != nil {
				// The connection was closed with a Close message saying why; the POST itself worked.
				break
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
}

// serveDelete ends a connection at the client's request (long polling's stop).
func (h *Hub) serveDelete(w http.ResponseWriter, c *conn) {
	c.abort(nil)
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusAccepted)
}

// readBuffers are the chunks transports read into; a connection holds one only while it reads.
var readBuffers = sync.Pool{New: func() any {
	b := make([]byte, 16*1024)
	return &b
}}

// chunks calls fn on consecutive runs of batch of at most limit bytes each (a record larger than
// limit makes a run of its own): the frames of a WebSocket write, the payloads of a relay. It stops
// at fn's first error.
func chunks(batch [][]byte, limit int, fn func(run [][]byte, size int) error) error {
	for i := 0; i < len(batch); {
		j, size := i, 0
		for j < len(batch) && (j == i || size+len(batch[j]) <= limit) {
			size += len(batch[j])
			j++
		}
		if err := fn(batch[i:j], size); err != nil {
			return err
		}
		i = j
	}
	return nil
}
