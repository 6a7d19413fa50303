package hub

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

	"github.com/heraldhq/herald/hub/protocol"
)

// A stateful connection resumed through another node. The client's new WebSocket reaches node B
// (the load balancer chose it) while the connection, its buffer, groups and invocations live on
// node A. A connection with a transport cannot move (what is in flight would be lost), so B
// relays: it upgrades the client's WebSocket and carries its frames over the backplane, both ways,
// and A resumes the connection on a relayTransport as it would on a WebSocket of its own. Each
// direction has one publisher and the backplane keeps one publisher's order, so the frames arrive
// in order. The backplane may lose a payload (Redis pub/sub is at most once: a cut, a subscriber
// reconnecting), and a frame lost inside the numbered stream would shift the client's count and
// its Acks: so each direction numbers its payloads, and a gap ends the relay like a dropped socket
// (the client resumes again, and stateful reconnect replays from its last Ack).
//
//	B → A, on the connection's channel: kindRelay [tunnel, "in", n, frame bytes] or [tunnel, "gone"]
//	A → B, on B's tunnel channel ({hub}:relay:{tunnel}): kindRelay ["data", n, frame...] or
//	       ["end", close code]
//
// n counts each direction's payloads from 1.
//
// The ASP.NET server keeps a stateful connection on the node that made it; a reconnect the load
// balancer sends elsewhere fails there, and the client starts afresh.

// opRelay asks a stateful connection's node to resume the connection on a relay.
const opRelay = "relay"

// relayInbox bounds the client frames waiting on A for the connection's reader.
const relayInbox = 256

// relayOutbox bounds the batches waiting on B for the client's socket.
const relayOutbox = 1024

// relayBatchBytes bounds one published batch of frames from A to B.
const relayBatchBytes = 256 * 1024

// relayTransport is, on A, a connection's WebSocket on another node.
type relayTransport struct {
	c       *conn
	tunnel  string // B's tunnel channel
	inbox   chan []byte
	done    chan struct{}
	endOnce sync.Once
	sent    uint64 // payloads published to B (flush: one writer at a time)
	got     uint64 // payloads received from B (the backplane's delivery: one at a time)
}

func (t *relayTransport) kind() Transport { return WebSockets }

// abort ends the relay: B closes the client's socket.
func (t *relayTransport) abort() { t.end(1011) }

// end tells B to close the client's socket with code, once, and stops the reader.
func (t *relayTransport) end(code int) {
	t.endOnce.Do(func() {
		close(t.done)
		t.c.h.endTunnel(t.tunnel, code)
	})
}

// endTunnel tells the node of a relay's tunnel to close the client's socket with code.
func (h *Hub) endTunnel(tunnel string, code int) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// A lost end leaves B's socket open until the client's server timeout: nothing worse.
		_, _ = h.bp.Publish(ctx, tunnel, encodeFields(kindRelay, []byte("end"), []byte(strconv.Itoa(code))))
	}()
}

// read hands the client's frames to the connection, in order, until the relay ends.
func (t *relayTransport) read() {
	for {
		select {
		case <-t.done:
			return
		case data := <-t.inbox:
			if t.c.transportOf() != t {
				return
			}
			_ = t.c.receive(data) // an error has closed the connection gracefully
		}
	}
}

// flush publishes the queue to B until it is empty, as wsTransport.flush writes a socket.
func (t *relayTransport) flush(delay time.Duration) {
	if delay > 0 {
		time.Sleep(delay)
	}
	c := t.c
	for {
		batch, closing, current := c.queue.takeOrStop(t)
		if !current {
			return
		}
		if len(batch) == 0 {
			if closing {
				code := 1000
				if err := context.Cause(c.ctx); err != nil && !errors.Is(err, context.Canceled) {
					code = 1011
				}
				t.end(code)
				c.abort(errTransportGone)
			}
			return
		}
		err := t.publish(batch)
		c.queue.recycle(batch)
		if err != nil {
			c.queue.stopWriter(t)
			c.transportLost(t, errors.Join(errTransportGone, err))
			return
		}
	}
}

func (t *relayTransport) publish(batch [][]byte) error {
	c := t.c
	ctx, cancel := context.WithTimeout(context.Background(), c.h.opts.WriteTimeout)
	defer cancel()
	return chunks(batch, relayBatchBytes, func(run [][]byte, size int) error {
		t.sent++
		fields := append([][]byte{[]byte("data"), strconv.AppendUint(nil, t.sent, 10)}, run...)
		if _, err := c.h.bp.Publish(ctx, t.tunnel, encodeFields(kindRelay, fields...)); err != nil {
			c.h.metrics.publishErrors.Inc()
			return err
		}
		c.h.metrics.bytesOut[WebSockets].Add(float64(size))
		return nil
	})
}

// serveRelay, on A, resumes a stateful connection on B's tunnel: args are the token, the endpoint
// key and the tunnel's channel. It answers whether frames to the client are binary.
func (h *Hub) serveRelay(connID string, args [][]byte) ([][]byte, error) {
	if len(args) != 3 {
		return nil, errBadEnvelope
	}
	c := h.reg.byTokenOf(string(args[0]))
	if c == nil || c.id != connID || strconv.Itoa(c.ep.key) != string(args[1]) {
		return nil, ErrConnectionClosed
	}
	t := &relayTransport{c: c, tunnel: string(args[2]), inbox: make(chan []byte, relayInbox), done: make(chan struct{})}
	if !c.attachResume(t, nil) {
		return nil, ErrConnectionClosed
	}
	if !c.resumeWith(t, func(delay time.Duration) { go t.flush(delay) }) {
		return nil, ErrConnectionClosed // superseded or ended meanwhile: B refuses the client
	}
	go t.read()
	h.metrics.relayed.Inc()
	binary := ""
	if c.binary() {
		binary = "1"
	}
	return [][]byte{[]byte(binary)}, nil
}

// relayIn, on A, takes what B relays from the client: a frame, or word that the socket is gone.
func (h *Hub) relayIn(connID string, fields [][]byte) {
	if len(fields) < 2 {
		h.metrics.malformed.Inc()
		return
	}
	c := h.reg.conn(connID)
	var t *relayTransport
	if c != nil {
		t, _ = c.transportOf().(*relayTransport)
	}
	tunnel, op := string(fields[0]), string(fields[1])
	if t == nil || t.tunnel != tunnel {
		if op == "in" {
			// A relay this node no longer serves (replaced by a later resume): B closes it.
			h.endTunnel(tunnel, 1011)
		}
		return
	}
	switch {
	case op == "gone":
		c.transportLost(t, errTransportGone)
		t.end(1000)
	case op == "in" && len(fields) == 4:
		if n, err := strconv.ParseUint(string(fields[2]), 10, 64); err != nil || n != t.got+1 {
			// A payload was lost on the way: as a socket that dropped, the relay ends.
			c.transportLost(t, errors.New("hub: a relayed frame from the client was lost"))
			t.abort()
			return
		}
		t.got++
		select {
		case t.inbox <- fields[3]:
		default:
			// The connection's reader is stuck: as a socket that cannot be read, the relay ends.
			c.transportLost(t, errors.New("hub: relayed client frames overflowed"))
			t.abort()
		}
	default:
		h.metrics.malformed.Inc()
	}
}

// relayEnd is, on B, the client's WebSocket relayed to the connection's node.
type relayEnd struct {
	h      *Hub
	tunnel string // this end's channel
	connID string
	binary bool
	// socket is set once upgraded; the backplane's delivery (an "end") may read it before.
	socket atomic.Pointer[gws.Conn]
	out    chan [][]byte
	done   chan struct{}
	once   sync.Once
	sent   uint64 // payloads published to the connection's node (the socket's reader: one at a time)
	got    uint64 // payloads received from it (the backplane's delivery: one at a time)
}

// relayWebSocket, on B, serves a WebSocket resuming a stateful connection that another node holds
// (p is its principal, as that node told): the client's socket is upgraded here and relayed.
func (ep *endpoint) relayWebSocket(w http.ResponseWriter, r *http.Request, connID, token string, p *Principal) {
	h := ep.h
	if !ep.allows(WebSockets) {
		http.Error(w, "WebSockets transport not enabled", http.StatusNotFound)
		return
	}
	if !ep.originAllowed(r) {
		http.Error(w, "Origin not allowed", http.StatusForbidden)
		return
	}
	if !ep.authorizeAs(w, r, p) {
		return
	}
	e := &relayEnd{h: h, tunnel: h.channel("relay", randomID()), connID: connID,
		out: make(chan [][]byte, relayOutbox), done: make(chan struct{})}
	if err := h.subs.acquire(r.Context(), e.tunnel); err != nil {
		h.log.Warn("relay subscribe", "err", err)
		http.Error(w, "hub unavailable", http.StatusServiceUnavailable)
		return
	}
	remove := h.relays.put(e.tunnel, e)
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	out, err := h.call(ctx, connID, opRelay, []byte(token), []byte(strconv.Itoa(ep.key)), []byte(e.tunnel))
	if err != nil || len(out) != 1 {
		remove()
		h.subs.release(e.tunnel)
		if errors.Is(err, ErrConnectionClosed) {
			http.Error(w, "No Connection with that ID", http.StatusNotFound)
			return
		}
		h.log.Warn("relay a resumed connection", "connection", connID, "err", err)
		http.Error(w, "hub unavailable", http.StatusServiceUnavailable)
		return
	}
	e.binary = len(out[0]) > 0
	// The connection's node writes Sequence and the replay from now on: they wait in out until the
	// socket is there.
	proto := protocol.JSON()
	if e.binary {
		proto = protocol.MessagePack()
	}
	select {
	case <-e.done:
		// The connection's node ended the relay before the upgrade: refusing now is a clean
		// refusal for the client (it reconnects), where an upgraded socket closed at once is
		// not (the official JS client can then leave that socket feeding its next connection).
		remove()
		h.subs.release(e.tunnel)
		http.Error(w, "No Connection with that ID", http.StatusNotFound)
		return
	default:
	}
	socket, err := h.upgrade(w, r, func() []byte { return h.tooLargeFrame(proto) })
	if err != nil {
		e.close(nil)
		remove()
		h.subs.release(e.tunnel)
		return
	}
	socket.Session().(*wsSession).t = e
	e.socket.Store(socket)
	select {
	case <-e.done:
		// Ended while upgrading: close() may have run before the socket was there.
		_ = socket.NetConn().Close() // closing what nobody will use
	default:
	}
	go func() {
		<-e.done
		remove()
		h.subs.release(e.tunnel)
	}()
	go e.write()
	go socket.ReadLoop()
}

// authorizeAs checks that a transport request comes from p's user, as authorizeTransport.
func (ep *endpoint) authorizeAs(w http.ResponseWriter, r *http.Request, p *Principal) bool {
	if p == nil {
		return true
	}
	got, ok := ep.authenticate(w, r)
	if !ok {
		return false
	}
	if got == nil {
		ep.h.opts.Challenge(w, r, nil)
		return false
	}
	if got.UserID != p.UserID {
		w.WriteHeader(http.StatusForbidden)
		return false
	}
	return true
}

// relayOut, on B, takes what the connection's node sends to the client.
func (h *Hub) relayOut(tunnel string, fields [][]byte) {
	e := h.relays.get(h.channel("relay", tunnel))
	if e == nil || len(fields) == 0 {
		return
	}
	switch string(fields[0]) {
	case "data":
		if len(fields) < 2 {
			return
		}
		if n, err := strconv.ParseUint(string(fields[1]), 10, 64); err != nil || n != e.got+1 {
			e.close(nil) // a payload was lost: the client resumes again, from its last Ack
			return
		}
		e.got++
		select {
		case e.out <- fields[2:]:
		case <-e.done:
		default:
			// The client reads too slowly: as a slow consumer, the socket closes (the client may
			// resume again).
			e.close(nil)
		}
	case "end":
		code := 1000
		if len(fields) == 2 {
			if n, err := strconv.Atoi(string(fields[1])); err == nil {
				code = n
			}
		}
		e.closeWith(code)
	}
}

// write writes what the connection's node sent to the client's socket, in order.
func (e *relayEnd) write() {
	op := gws.OpcodeText
	if e.binary {
		op = gws.OpcodeBinary
	}
	for {
		select {
		case <-e.done:
			return
		case batch := <-e.out:
			socket := e.socket.Load()
			if err := socket.SetWriteDeadline(time.Now().Add(e.h.opts.WriteTimeout)); err != nil {
				e.close(nil)
				return
			}
			if err := chunks(batch, maxFrameBatch, func(run [][]byte, _ int) error { return socket.Writev(op, run...) }); err != nil {
				e.close(nil)
				return
			}
		}
	}
}

// closeWith closes the client's socket with a close frame.
func (e *relayEnd) closeWith(code int) {
	if s := e.socket.Load(); s != nil {
		_ = s.WriteClose(uint16(code), nil) // the socket may be gone already
	}
	e.close(nil)
}

// close drops the client's socket and tells the connection's node, once.
func (e *relayEnd) close(error) {
	e.once.Do(func() {
		close(e.done)
		if s := e.socket.Load(); s != nil {
			_ = s.NetConn().Close()
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			// Lost, the connection's node finds out by its client timeout.
			_, _ = e.h.bp.Publish(ctx, e.h.channel("conn", e.connID), encodeFields(kindRelay, []byte(e.tunnel), []byte("gone")))
		}()
	})
}

// onMessage relays a frame from the client to the connection's node, in order (the socket's read
// goroutine publishes one at a time).
func (e *relayEnd) onMessage(data []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), e.h.opts.WriteTimeout)
	defer cancel()
	e.sent++
	if _, err := e.h.bp.Publish(ctx, e.h.channel("conn", e.connID), encodeFields(kindRelay, []byte(e.tunnel), []byte("in"), strconv.AppendUint(nil, e.sent, 10), data)); err != nil {
		e.h.metrics.publishErrors.Inc()
		e.close(nil)
	}
}

func (e *relayEnd) onClose(error) { e.close(nil) }

// closeRelays drops every relayed socket of this node (it is shutting down): their clients resume
// through another node.
func (h *Hub) closeRelays() {
	for _, e := range h.relays.all() {
		e.closeWith(1001)
	}
}
