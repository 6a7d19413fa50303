package hub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

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
	// ErrConnectionClosed is returned by calls on a connection that has ended.
	ErrConnectionClosed = errors.New("hub: connection closed")
)

// closeReason describes a graceful close: the text and reconnect hint of the Close message.
type closeReason struct {
	message        string
	allowReconnect bool
	err            error
}

// conn is one client connection, from negotiate to teardown.
type conn struct {
	h         *Hub
	id        string // public: what Clients().Client(id) takes
	token     string // secret: the id= of every transport request
	principal *Principal
	created   time.Time

	ctx    context.Context // ends at teardown; invocations run under it
	cancel context.CancelCauseFunc
	items  sync.Map

	// Send side, guarded by mu.
	mu          sync.Mutex
	transport   Transport // "" until a transport attaches
	proto       protocol.HubProtocol
	queue       [][]byte
	spare       [][]byte
	flushing    bool // a WebSocket flusher goroutine is running
	closing     bool // nothing more is queued; the transport ends once the queue is written
	tornDown    bool
	tornDownAt  time.Time
	registered  bool // in the hub's indexes and subscribed to its channels
	ws          *gws.Conn
	polling     chan struct{} // closed to end the pending long poll early; nil when no poll waits
	polled      bool          // the first (immediate) long poll happened
	lastPollEnd time.Time
	attachedAt  time.Time
	wake        chan struct{} // wakes the SSE writer or the pending poll
	drained     chan struct{} // closed when the queue is taken; nil when no reply waits for room

	// Receive side: one reader at a time (the WebSocket loop, or POSTs in turn).
	recvMu     sync.Mutex
	inbuf      []byte
	handshaken atomic.Bool
	lastRecv   atomic.Int64 // hub clock, unix nanoseconds
	lastSend   atomic.Int64
	blocked    atomic.Bool // the reader waits for an invocation slot or a stream buffer

	// Dispatch state, guarded by dmu.
	dmu        sync.Mutex
	active     map[string]context.CancelFunc // server-to-client streams by invocation id
	streams    map[string]*clientStream      // client-to-server streams by stream id
	results    map[string]chan *protocol.Completion
	groups     map[string]struct{}
	nextResult atomic.Uint64
	sem        chan struct{}
}

func (h *Hub) newConn(p *Principal, negotiateVersion int) *conn {
	c := &conn{
		h:         h,
		id:        randomID(),
		principal: p,
		created:   time.Now(),
		wake:      make(chan struct{}, 1),
		sem:       make(chan struct{}, h.opts.MaxParallelInvocations),
	}
	c.token = c.id
	if negotiateVersion >= 1 {
		c.token = randomID()
	}
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	now := h.now()
	c.lastRecv.Store(now)
	c.lastSend.Store(now)
	h.tokensMu.Lock()
	h.byToken[c.token] = c
	h.tokensMu.Unlock()
	return c
}

// userID is the connection's user, "" when anonymous.
func (c *conn) userID() string {
	if c.principal == nil {
		return ""
	}
	return c.principal.UserID
}

// attach binds a transport to the connection; false when one is already bound or it has ended.
func (c *conn) attach(t Transport) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.transport != "" || c.closing {
		return false
	}
	c.transport = t
	c.attachedAt = time.Now()
	return true
}

// send queues one encoded message and has it written at once. It never blocks: when the queue is full the connection is a slow
// consumer and is aborted. It reports whether the message was queued.
func (c *conn) send(frame []byte) bool { return c.enqueue(frame, false) }

// deliver queues a message from someone else (a broadcast, a group or user message). Its write
// may wait up to Options.WriteCoalesce for more messages to the same connection, so that a burst
// of broadcasts costs one write per connection rather than one per message.
func (c *conn) deliver(frame []byte) bool { return c.enqueue(frame, true) }

func (c *conn) enqueue(frame []byte, coalesce bool) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	if len(c.queue) >= c.h.opts.SendQueueSize {
		c.closing = true
		c.cancel(errSlowConsumer) // the reason, before the transport can see closing and end first
		c.mu.Unlock()
		c.h.metrics.slowConsumers.Inc()
		c.h.log.Warn("slow consumer disconnected", "connection", c.id, "queue", c.h.opts.SendQueueSize)
		// Abort outside the caller's locks: delivery holds the hub's index lock.
		go c.abort(errSlowConsumer)
		return false
	}
	c.queue = append(c.queue, frame)
	if coalesce {
		c.kickLaterLocked()
	} else {
		c.kickLocked()
	}
	c.mu.Unlock()
	c.lastSend.Store(c.h.now())
	return true
}

// reply encodes m with the connection's protocol and queues it, waiting while the queue is full:
// the caller's own replies (completions, stream items, client-result invocations) slow the
// caller's own work down instead of dropping the connection, as the .NET server awaits each
// write. Messages from others use send, which never waits.
func (c *conn) reply(ctx context.Context, m protocol.Message) error {
	c.mu.Lock()
	p := c.proto
	c.mu.Unlock()
	if p == nil {
		return ErrConnectionClosed
	}
	frame, err := p.AppendMessage(nil, m)
	if err != nil {
		return fmt.Errorf("encode %s: %w", m.Type(), err)
	}
	for {
		c.mu.Lock()
		if c.closing {
			c.mu.Unlock()
			return ErrConnectionClosed
		}
		if len(c.queue) < c.h.opts.SendQueueSize {
			c.queue = append(c.queue, frame)
			c.kickLocked()
			c.mu.Unlock()
			c.lastSend.Store(c.h.now())
			c.h.metrics.messagesOut.Inc()
			return nil
		}
		if c.drained == nil {
			c.drained = make(chan struct{})
		}
		drained := c.drained
		c.mu.Unlock()
		select {
		case <-drained:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.ctx.Done():
			return ErrConnectionClosed
		}
	}
}

// kickLocked makes the transport write what is queued.
func (c *conn) kickLocked() {
	if c.ws != nil {
		if !c.flushing {
			c.flushing = true
			go c.flushWS(0)
		}
		return
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// kickLaterLocked is kickLocked for delivered messages: a WebSocket flusher it starts waits
// WriteCoalesce first. (Server-Sent Events and long polling batch by themselves: their writer
// takes the whole queue each time it wakes.)
func (c *conn) kickLaterLocked() {
	if c.ws != nil && !c.flushing {
		c.flushing = true
		go c.flushWS(c.h.opts.WriteCoalesce)
		return
	}
	c.kickLocked()
}

// takeQueue removes and returns everything queued.
func (c *conn) takeQueue() (batch [][]byte, closing bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	batch = c.queue
	c.queue = c.spare[:0]
	c.spare = nil
	if c.drained != nil {
		close(c.drained) // wake replies waiting for room
		c.drained = nil
	}
	return batch, c.closing
}

// recycle gives a written batch's slice back for the next takeQueue.
func (c *conn) recycle(batch [][]byte) {
	clear(batch)
	c.mu.Lock()
	if c.spare == nil && cap(batch) <= 256 {
		c.spare = batch[:0]
	}
	c.mu.Unlock()
}

// close ends the connection gracefully: a Close message (when the handshake is done) is queued
// behind what is already queued, and the transport ends once it is written.
func (c *conn) close(r closeReason) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	if c.handshaken.Load() && c.proto != nil {
		if frame, err := c.proto.AppendMessage(nil, &protocol.Close{Error: r.message, AllowReconnect: r.allowReconnect}); err == nil {
			c.queue = append(c.queue, frame)
		}
	}
	c.closing = true
	// Cancel under the lock: the transport may end the connection as soon as it sees closing, and
	// this reason (and the close code it implies) must be recorded first.
	c.cancel(r.err)
	transport := c.transport
	c.kickLocked()
	c.mu.Unlock()
	if r.err != nil {
		c.h.metrics.closedWithError.Inc()
		c.h.log.Debug("closing connection", "connection", c.id, "reason", r.err)
	}
	if transport == "" {
		// Nothing will ever write the Close: no transport is bound.
		c.teardown(r.err)
	}
}

// abort ends the connection at once, dropping whatever is queued.
func (c *conn) abort(err error) {
	c.mu.Lock()
	c.closing = true
	c.queue = nil
	ws := c.ws
	if c.polling != nil {
		close(c.polling)
		c.polling = nil
	}
	c.mu.Unlock()
	// Record why first: closing the socket makes the transport abort too, and its reason must not
	// win the race to teardown.
	c.cancel(err)
	select {
	case c.wake <- struct{}{}:
	default:
	}
	if ws != nil {
		_ = ws.NetConn().Close() // dropping the socket: its error says nothing new
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
	c.closing = true
	c.queue = nil
	transport, proto, registered := c.transport, c.proto, c.registered
	c.mu.Unlock()
	// The first reason wins: a graceful close or an abort records it before the transport ends.
	if cause := context.Cause(c.ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	c.cancel(err)

	h := c.h
	if transport != LongPolling {
		h.forget(c)
	}
	if !registered {
		return
	}
	c.dmu.Lock()
	groups := make([]string, 0, len(c.groups))
	for g := range c.groups {
		groups = append(groups, g)
	}
	c.groups = nil
	c.dmu.Unlock()
	h.mu.Lock()
	delete(h.conns, c.id)
	for _, g := range groups {
		removeMember(h.groups, g, c)
	}
	if u := c.userID(); u != "" {
		removeMember(h.users, u, c)
	}
	h.mu.Unlock()
	for _, g := range groups {
		h.release(h.channel("group", g))
	}
	if u := c.userID(); u != "" {
		h.release(h.channel("user", u))
	}
	h.release(h.channel("conn", c.id))
	h.metrics.connection(transport, proto.Name()).Dec()
	if errors.Is(err, errTransportGone) {
		err = nil
	}
	if fn := h.opts.OnDisconnected; fn != nil {
		c.runHook(func(hc *Context) { fn(hc, err) })
	}
}

// forget drops the connection's token: later requests with it get 404.
func (h *Hub) forget(c *conn) {
	h.tokensMu.Lock()
	if h.byToken[c.token] == c {
		delete(h.byToken, c.token)
	}
	h.tokensMu.Unlock()
}

func (c *conn) runHook(fn func(*Context)) {
	defer func() {
		if r := recover(); r != nil {
			c.h.log.Error("connection hook panicked", "connection", c.id, "panic", r)
		}
	}()
	fn(&Context{Context: context.WithoutCancel(c.ctx), conn: c})
}

func addMember(index map[string]map[*conn]struct{}, key string, c *conn) {
	set := index[key]
	if set == nil {
		set = make(map[*conn]struct{})
		index[key] = set
	}
	set[c] = struct{}{}
}

func removeMember(index map[string]map[*conn]struct{}, key string, c *conn) {
	set := index[key]
	delete(set, c)
	if len(set) == 0 {
		delete(index, key)
	}
}
