package hub

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// No sticky sessions. A client's requests for one connection (negotiate, then the WebSocket or
// event stream, or polls, sends and the final DELETE) may each reach a different node behind a
// round-robin load balancer. A node that gets a request for a connection it does not hold:
//
//   - for a WebSocket or an event stream, takes the connection over from the node that negotiated
//     it (it has no transport yet, so nothing else is lost in the move) and serves it itself;
//   - for a poll, a send or a DELETE, forwards the request to the connection's node over the
//     backplane and writes that node's answer.
//
// The token names the connection (it starts with the connection id), so the request goes to
// the connection's channel, which only its node subscribes to.

type forwardedKey struct{}

// isForwarded reports whether a request came over the backplane: it is never forwarded again.
func isForwarded(ctx context.Context) bool { return ctx.Value(forwardedKey{}) != nil }

// forwardBodyLimit bounds a forwarded request body: a send POST holds a few messages.
func (h *Hub) forwardBodyLimit() int64 { return max(1<<20, 4*int64(h.opts.MaxMessageSize)) }

// forward serves a transport request for a connection another node holds, if any does.
func (ep *endpoint) forward(w http.ResponseWriter, r *http.Request, token string, connect bool) {
	h := ep.h
	id, _, _ := strings.Cut(token, ".")
	if connect {
		if h.draining.Load() {
			// A connection made now would outlive the drain: the client goes elsewhere.
			http.Error(w, "Server is shutting down.", http.StatusServiceUnavailable)
			return
		}
		c, relay, err := ep.takeOver(r, id, token)
		switch {
		case err == nil && relay.ok && isWS(r):
			// A stateful connection resuming: its node keeps it, and this node relays the socket.
			ep.relayWebSocket(w, r, id, token, relay.principal)
			return
		case err == nil && c != nil:
			ep.serveConn(w, r, c, isWS(r))
			return
		case errors.Is(err, ErrConnectionClosed):
			http.Error(w, "No Connection with that ID", http.StatusNotFound)
			return
		case err != nil:
			h.log.Warn("take over connection", "err", err)
			http.Error(w, "hub unavailable", http.StatusServiceUnavailable)
			return
		}
		// The connection has a transport already: its node answers as it would.
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.forwardBodyLimit()))
	if err != nil {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	var head bytes.Buffer
	_ = r.Header.Write(&head) // a bytes.Buffer does not fail
	ctx, cancel := context.WithTimeout(r.Context(), ep.longPoll+30*time.Second)
	defer cancel()
	poll := r.Method == http.MethodGet
	if poll {
		// A draining node ends the polls it forwards at once: their clients poll again, and the
		// load balancer sends them elsewhere.
		stop := context.AfterFunc(h.drainCtx, cancel)
		defer stop()
	}
	out, err := h.call(ctx, id, opHTTP, []byte(token), []byte(strconv.Itoa(ep.key)),
		[]byte(r.Method), []byte(r.URL.RequestURI()), []byte(r.Host), []byte(r.RemoteAddr), head.Bytes(), body)
	switch {
	case errors.Is(err, ErrConnectionClosed):
		http.Error(w, "No Connection with that ID", http.StatusNotFound)
		return
	case r.Context().Err() != nil:
		return // the client went away
	case poll && h.drainCtx.Err() != nil:
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK) // an empty poll: nothing yet
		return
	case err != nil || len(out) != 3:
		h.log.Warn("forward request", "err", err)
		http.Error(w, "hub unavailable", http.StatusServiceUnavailable)
		return
	}
	status, err := strconv.Atoi(string(out[0]))
	if err != nil || status < 100 || status > 999 {
		http.Error(w, "hub unavailable", http.StatusServiceUnavailable)
		return
	}
	if hdr, err := readHeader(out[1]); err == nil {
		for k, v := range hdr {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(out[2]) // the client may have gone; nothing to do about it here
}

// isWS reports whether r asks for a WebSocket.
func isWS(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// relayable is what takeOver learns of a stateful connection its node keeps: it may be resumed
// through a relay, by its principal's user.
type relayable struct {
	ok        bool
	principal *Principal
}

// takeOver asks the node that negotiated a connection to hand it over, and makes it here. When
// that node keeps it (a transport is bound already) it returns no connection, and for a stateful
// connection whether it can be relayed.
func (ep *endpoint) takeOver(r *http.Request, id, token string) (*conn, relayable, error) {
	h := ep.h
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	out, err := h.call(ctx, id, opTake, []byte(token), []byte(strconv.Itoa(ep.key)))
	if err != nil {
		return nil, relayable{}, err
	}
	if len(out) != 3 {
		return nil, relayable{}, errBadEnvelope
	}
	var p *Principal
	switch string(out[0]) {
	case "ok", "relay":
		if err := json.Unmarshal(out[1], &p); err != nil {
			return nil, relayable{}, errBadEnvelope
		}
	default:
		return nil, relayable{}, nil
	}
	if string(out[0]) == "relay" {
		return nil, relayable{ok: true, principal: p}, nil
	}
	c, err := h.openConn(r.Context(), ep, p, id, token)
	if err == nil {
		c.offerStateful = len(out[2]) > 0
	}
	return c, relayable{}, err
}

// serveTake hands over a negotiated connection that has no transport yet.
func (h *Hub) serveTake(connID string, args [][]byte) ([][]byte, error) {
	if len(args) != 2 {
		return nil, errBadEnvelope
	}
	c := h.reg.byTokenOf(string(args[0]))
	if c == nil || c.id != connID || strconv.Itoa(c.ep.key) != string(args[1]) {
		return nil, ErrConnectionClosed
	}
	p, err := json.Marshal(c.principal)
	if err != nil {
		return nil, err
	}
	stateful := []byte(nil)
	if c.offerStateful {
		stateful = []byte{1}
	}
	if !c.handOver() {
		if c.resumable.Load() {
			return [][]byte{[]byte("relay"), p, nil}, nil
		}
		return [][]byte{[]byte("kept"), nil, nil}, nil
	}
	return [][]byte{[]byte("ok"), p, stateful}, nil
}

// errHandedOver ends a connection another node took over.
var errHandedOver = errors.New("hub: connection handed over to another node")

// handOver ends a negotiated connection here without a trace (the app never saw it), so that
// another node can make it; false when a transport is bound already.
func (c *conn) handOver() bool {
	c.mu.Lock()
	if c.transport != nil || c.tornDown {
		c.mu.Unlock()
		return false
	}
	c.tornDown = true
	c.tornDownAt = time.Now()
	c.mu.Unlock()
	c.cancel(errHandedOver)
	c.queue.drop()
	c.h.forget(c)
	return true
}

// serveForwarded serves a request another node forwarded, as if it had come here.
func (h *Hub) serveForwarded(ctx context.Context, connID string, args [][]byte) ([][]byte, error) {
	if len(args) != 8 {
		return nil, errBadEnvelope
	}
	token, key := string(args[0]), string(args[1])
	c := h.reg.byTokenOf(token)
	if c == nil || c.id != connID || strconv.Itoa(c.ep.key) != key {
		return nil, ErrConnectionClosed
	}
	u, err := url.ParseRequestURI(string(args[3]))
	if err != nil {
		return nil, errBadEnvelope
	}
	hdr, err := readHeader(args[6])
	if err != nil {
		return nil, errBadEnvelope
	}
	r := (&http.Request{
		Method: string(args[2]), URL: u, RequestURI: u.RequestURI(),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: hdr, Host: string(args[4]), RemoteAddr: string(args[5]),
		Body: io.NopCloser(bytes.NewReader(args[7])), ContentLength: int64(len(args[7])),
	}).WithContext(context.WithValue(ctx, forwardedKey{}, true))
	rec := &recorder{header: http.Header{}}
	c.ep.serveTransport(rec, r)
	var head bytes.Buffer
	_ = rec.header.Write(&head) // a bytes.Buffer does not fail
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return [][]byte{[]byte(strconv.Itoa(rec.status)), head.Bytes(), rec.body.Bytes()}, nil
}

// readHeader parses what http.Header.Write wrote.
func readHeader(b []byte) (http.Header, error) {
	rd := textproto.NewReader(bufio.NewReader(io.MultiReader(bytes.NewReader(b), strings.NewReader("\r\n"))))
	h, err := rd.ReadMIMEHeader()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return http.Header(h), nil
}

// recorder is the response of a forwarded request, sent back whole.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
