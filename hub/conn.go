package hub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/hub/protocol"
)

// Reasons a connection ends, for OnDisconnected, logs and metrics.
var (
	errSlowConsumer     = errors.New("hub: send queue overflowed (slow consumer)")
	errShutdown         = errors.New("hub: server shutting down")
	errHandshakeTimeout = errors.New("hub: handshake timed out")
	errClientTimeout    = errors.New("hub: client timed out")
	errPollTimeout      = errors.New("hub: long-polling client stopped polling")
	errNoTransport      = errors.New("hub: negotiated connection never connected")
	errTransportGone    = errors.New("hub: transport closed")
	errListenOnly       = errors.New("hub: a listen-only client sent an invocation")
	errTokenExpired     = errors.New("hub: the connection's credentials expired")
	// ErrConnectionClosed is returned by calls on a connection that has ended.
	ErrConnectionClosed = errors.New("hub: connection closed")
)

// closeReason describes a graceful close: the text and reconnect hint of the Close message.
type closeReason struct {
	message        string
	allowReconnect bool
	err            error
}

// conn is one client connection, from negotiate to teardown. Its state is split by who uses it,
// each part with its own lock: the send queue (sendqueue.go), the lifecycle (mu, below), the
// receive side (receive.go), invocations (dispatch.go); the transport's own state lives in the
// transport (transport_*.go), and the connection's place in the indexes in the hub's registry.
type conn struct {
	h         *Hub
	ep        *endpoint // the path it was negotiated on
	id        string    // public: what Clients().Client(id) takes
	token     string    // secret: the id= of every transport request
	principal *Principal
	created   time.Time

	ctx    context.Context // ends at teardown; invocations run under it
	cancel context.CancelCauseFunc
	items  sync.Map

	queue    sendQueue
	lastSend atomic.Int64 // hub clock, unix nanoseconds
	proto    atomic.Pointer[protocolRef]
	expires  atomic.Int64 // unix nanoseconds the credentials end; 0: never

	// Lifecycle, guarded by mu.
	mu         sync.Mutex
	transport  transport // nil until a transport attaches
	req        *Request  // the request the transport attached with
	attachedAt time.Time
	tornDown   bool
	tornDownAt time.Time
	detached   bool // stateful: the transport dropped and the client may resume (stateful.go)
	detachedAt time.Time

	// Stateful reconnect: offered at negotiate; resumable once the handshake chose version 2 on
	// a WebSocket. recv is guarded by recvMu.
	offerStateful bool
	resumable     atomic.Bool
	recv          statefulState
	recvLatest    atomic.Int64 // recv.latest, for the sweeper's Acks
	ackSent       atomic.Int64

	// Receive side: one reader at a time (the WebSocket loop, or POSTs in turn).
	recvMu     sync.Mutex
	inbuf      []byte
	handshaken atomic.Bool
	lastRecv   atomic.Int64 // hub clock, unix nanoseconds
	blocked    atomic.Bool  // the reader waits for an invocation slot or a stream buffer

	inv invocations

	// groupMu serializes this connection's group changes, which may wait on a backplane subscribe.
	groupMu sync.Mutex

	// Of connections served to a ConnectionHandler.
	rawBinary atomic.Bool
	public    Connection // set at newConn: valid whichever request reaches the handler first
}

// protocolRef lets a connection's protocol be read atomically: it is set by the handshake on the
// reader while writers and deliveries read it.
type protocolRef struct{ p protocol.HubProtocol }

var protocolRefs = map[string]*protocolRef{}

func init() {
	for _, p := range []protocol.HubProtocol{protocol.JSON(), protocol.MessagePack()} {
		protocolRefs[p.Name()] = &protocolRef{p}
	}
}

// newConn makes a negotiated connection. Its token is its id for negotiate version 0, as the
// protocol has it, and otherwise its id, a dot and a secret: any node can tell from a token which
// connection's channel to forward a request to, and only the token's holder knows the secret.
func (h *Hub) newConn(ctx context.Context, ep *endpoint, p *Principal, negotiateVersion int) (*conn, error) {
	id := randomID()
	token := id
	if negotiateVersion >= 1 {
		token = id + "." + randomID()
	}
	return h.openConn(ctx, ep, p, id, token)
}

// openConn makes a connection with a known id and token (newConn's, or those of a connection
// another node handed over) and subscribes to its channel: from negotiate on, requests for it
// that reach other nodes are forwarded here.
func (h *Hub) openConn(ctx context.Context, ep *endpoint, p *Principal, id, token string) (*conn, error) {
	if err := h.subs.acquire(ctx, h.channel("conn", id)); err != nil {
		return nil, fmt.Errorf("hub: subscribe connection: %w", err)
	}
	c := &conn{
		h:         h,
		ep:        ep,
		id:        id,
		token:     token,
		principal: p,
		created:   time.Now(),
	}
	c.public.c = c
	c.expires.Store(p.expiry())
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	c.queue.init(h.opts.SendQueueSize, func() {
		// The reason, before the transport can see the queue closed and end first.
		c.cancel(errSlowConsumer)
	})
	c.inv.init(h.opts.MaxParallelInvocations)
	now := h.now()
	c.lastRecv.Store(now)
	c.lastSend.Store(now)
	h.reg.addToken(c)
	return c, nil
}

// forget drops c's token and its channel: later requests with it get 404, here and on every node.
func (h *Hub) forget(c *conn) {
	if h.reg.forget(c) {
		h.subs.release(h.channel("conn", c.id))
	}
}

// userID is the connection's user, "" when anonymous.
func (c *conn) userID() string {
	if c.principal == nil {
		return ""
	}
	return c.principal.UserID
}

// protocol is the hub protocol the handshake chose; nil before it.
func (c *conn) protocol() protocol.HubProtocol {
	if r := c.proto.Load(); r != nil {
		return r.p
	}
	return nil
}

// attach binds a transport to the connection, r being the request it came with; false when one is
// already bound or the connection is closing.
func (c *conn) attach(t transport, r *http.Request) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.transport != nil || c.queue.isClosing() {
		return false
	}
	c.transport = t
	c.req = captureRequest(r)
	c.attachedAt = time.Now()
	return true
}

// attachedAtTime is when the transport attached.
func (c *conn) attachedAtTime() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.attachedAt
}

// binary reports whether frames to the client are binary: the hub protocol's format, or what a
// ConnectionHandler chose (Connection.SetBinary).
func (c *conn) binary() bool {
	if p := c.protocol(); p != nil {
		return p.Binary()
	}
	return c.rawBinary.Load()
}

// request is the request the transport attached with; nil before.
func (c *conn) request() *Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.req
}

// transportOf is the bound transport, nil before one attaches.
func (c *conn) transportOf() transport {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.transport
}

// transportName is the bound transport's name, "" before one attaches.
func (c *conn) transportName() Transport {
	if t := c.transportOf(); t != nil {
		return t.kind()
	}
	return ""
}

// send queues one encoded message and has it written at once. It never blocks: when the queue is
// full the connection is a slow consumer and is aborted. It reports whether the message was queued.
func (c *conn) send(frame []byte) bool { return c.enqueue(frame, false, false) }

// deliver queues a message from someone else (a broadcast, a group or user message). Its write
// may wait up to Options.WriteCoalesce for more messages to the same connection, so that a burst
// of broadcasts costs one write per connection rather than one per message.
func (c *conn) deliver(frame []byte) bool { return c.enqueue(frame, true, true) }

func (c *conn) enqueue(frame []byte, coalesce, counted bool) bool {
	ok, overflow := c.queue.push(frame, coalesce, counted)
	if !ok && !overflow && counted && c.resumable.Load() && !c.queue.isClosing() {
		// The client acknowledged too little to keep this one for a resume: end the connection
		// cleanly, outside the caller's locks; the client reconnects afresh.
		c.h.log.Warn("stateful reconnect buffer full; closing the connection", "connection", c.id, "buffer", c.h.opts.StatefulReconnectBufferSize)
		go c.close(closeReason{
			message:        "Connection closed with an error: the stateful reconnect buffer is full.",
			allowReconnect: true, err: errReplayOverflow,
		})
	}
	if overflow {
		c.h.metrics.slowConsumers.Inc()
		c.h.log.Warn("slow consumer disconnected", "connection", c.id, "queue", c.h.opts.SendQueueSize)
		// Abort outside the caller's locks: delivery holds the registry's lock.
		go c.abort(errSlowConsumer)
	}
	if ok {
		c.lastSend.Store(c.h.now())
	}
	return ok
}

// reply encodes m with the connection's protocol and queues it, waiting while the queue is full:
// the caller's own replies (completions, stream items, client-result invocations) slow the
// caller's own work down instead of dropping the connection, as the .NET server awaits each
// write. Messages from others use send, which never waits.
func (c *conn) reply(ctx context.Context, m protocol.Message) error {
	p := c.protocol()
	if p == nil {
		return ErrConnectionClosed
	}
	frame, err := p.AppendMessage(nil, m)
	if err != nil {
		return fmt.Errorf("encode %s: %w", m.Type(), err)
	}
	if err := c.queue.pushWait(ctx, c.ctx.Done(), frame); err != nil {
		if errors.Is(err, errQueueClosed) {
			return ErrConnectionClosed
		}
		return err
	}
	c.lastSend.Store(c.h.now())
	c.h.metrics.messagesOut.Inc()
	return nil
}

// isClosing reports whether the connection has stopped sending.
func (c *conn) isClosing() bool { return c.queue.isClosing() }

// close ends the connection gracefully: a Close message (when the handshake is done) is queued
// behind what is already queued, and the transport ends once it is written.
func (c *conn) close(r closeReason) {
	closed := c.queue.close(func() []byte {
		// Under the queue's lock, before any writer can see the queue closed: the reason (and the
		// close code it implies) is recorded first.
		c.cancel(r.err)
		if !c.handshaken.Load() {
			return nil
		}
		frame, err := c.protocol().AppendMessage(nil, &protocol.Close{Error: r.message, AllowReconnect: r.allowReconnect})
		if err != nil {
			return nil
		}
		return frame
	})
	if !closed {
		return
	}
	if r.err != nil {
		c.h.metrics.closedWithError.Inc()
		c.h.log.Debug("closing connection", "connection", c.id, "reason", r.err)
	}
	if c.transportOf() == nil || c.isDetached() {
		// Nothing will ever write the Close: no transport is bound.
		c.teardown(r.err)
	}
}

// abort ends the connection at once, dropping whatever is queued.
func (c *conn) abort(err error) {
	if err != nil && err != errTransportGone && !errors.Is(err, errShutdown) && !c.queue.isClosing() && !c.isTornDown() {
		// An end that no graceful close counted: a reset socket, a killed request, a timeout.
		c.h.metrics.closedWithError.Inc()
	}
	c.queue.drop()
	// Record why first: ending the transport makes it abort too, and its reason must not win the
	// race to teardown.
	c.cancel(err)
	if t := c.transportOf(); t != nil {
		t.abort()
	}
	c.teardown(err)
}

func (c *conn) isTornDown() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tornDown
}

// teardown releases everything the connection holds, once: its invocations are cancelled, it leaves
// the indexes and its groups, and OnDisconnected runs.
func (c *conn) teardown(err error) {
	c.mu.Lock()
	if c.tornDown {
		c.mu.Unlock()
		return
	}
	c.tornDown = true
	c.tornDownAt = time.Now()
	t := c.transport
	c.mu.Unlock()
	c.queue.drop()
	// The first reason wins: a graceful close or an abort records it before the transport ends.
	if cause := context.Cause(c.ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	c.cancel(err)

	h := c.h
	if t == nil || t.kind() != LongPolling {
		// Long-polling connections linger so that a last poll can fetch the Close message; the
		// sweeper forgets them.
		h.forget(c)
	}
	if t == nil {
		return // no transport ever came: the app never saw the connection
	}
	if errors.Is(err, errTransportGone) {
		err = nil
	}
	h.app.ended(c, t, err)
}

// runHook runs a connection hook (OnConnected, OnDisconnected through the filters); a panic is an
// error.
func (c *conn) runHook(fn func(*Context) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.h.log.Error("connection hook panicked", "connection", c.id, "panic", r)
			err = fmt.Errorf("hub: connection hook panicked: %v", r)
		}
	}()
	return fn(&Context{Context: context.WithoutCancel(c.ctx), conn: c})
}
