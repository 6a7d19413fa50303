package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/hub/protocol"
)

// conn is one WebSocket connection of a Client, from the handshake until it ends. An automatic
// reconnect makes a new conn. An idle conn costs one goroutine (the session's reader), a timer and
// the socket's buffers: the writer and the handler goroutines exist only while they have work,
// and read buffers are shared.
type conn struct {
	c     *Client
	s     *session
	ws    *websocket.Conn
	id    string // connection id; empty when negotiation was skipped
	proto protocol.HubProtocol
	frame websocket.MessageType

	// ctx ends when the connection ends (or starts closing); its cause says why.
	ctx    context.Context
	cancel context.CancelCauseFunc

	// Writer state (writer.go), guarded by wmu.
	wmu      sync.Mutex
	out      *[]byte // encoded records waiting for the writer; nil when none
	flushing bool    // a write is in progress (by a caller or the writer goroutine)

	closing  bool // Stop: after what is queued, the writer closes the socket
	wdone    bool // ended: nothing more is accepted
	room     chan struct{}
	wtimer   *time.Timer // the writer's watchdog (WriteTimeout); used by the writer goroutine only
	lastSend atomic.Int64

	// Reader state, used by the reader goroutine only (plus the atomics).
	lastRecv atomic.Int64
	blocked  atomic.Bool // the reader waits for room in a handler queue or a stream buffer
	partial  []byte      // the start of a record that continues in the next chunk
	first    io.Reader   // the rest of the frame that carried the handshake response
	msgs     [8]protocol.Message

	// Calls waiting for the server (invoke.go), guarded by pmu.
	pmu     sync.Mutex
	pending map[string]pendingCall
	ended   bool

	// Server invocations waiting for their handler (handler.go), guarded by hmu.
	hmu      sync.Mutex
	queue    []*protocol.Invocation
	head     int
	hrunning bool
	hroom    chan struct{}

	tmu      sync.Mutex
	timer    *time.Timer // keep-alive and server timeout
	timerOff bool        // the connection is ending: no more timer
	endOnce  sync.Once
}

// epoch makes the monotonic clock readings of now().
var epoch = time.Now()

// now is a monotonic clock in nanoseconds, cheap enough to read on every frame.
func now() int64 { return int64(time.Since(epoch)) }

// maxHandshakeReply bounds the handshake response.
const maxHandshakeReply = 64 << 10

// connect makes one connection: negotiate, WebSocket, handshake. The connection does not read
// nor time out until start.
func (c *Client) connect(ctx context.Context, s *session) (*conn, error) {
	ep, err := c.negotiate(ctx)
	if err != nil {
		return nil, err
	}
	u := ep.url
	if c.opts.AccessTokenInQuery && ep.token != "" {
		u = withQuery(u, "access_token", ep.token)
	}
	h := make(http.Header, len(c.opts.Header)+1)
	c.setHeaders(h, ep.token)
	ws, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{
		HTTPClient:      c.http,
		HTTPHeader:      h,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			var body []byte
			if resp.Body != nil {
				body, _ = io.ReadAll(io.LimitReader(resp.Body, 1024))
			}
			return nil, &HTTPError{Op: "websocket", StatusCode: resp.StatusCode, Body: snippet(body)}
		}
		return nil, fmt.Errorf("client: websocket: %w", err)
	}
	// Records are bounded by MaxMessageSize as they are parsed; a frame may carry many of them.
	ws.SetReadLimit(-1)
	cn := &conn{c: c, s: s, ws: ws, id: ep.connectionID, proto: c.proto, frame: websocket.MessageText}
	if c.proto.Binary() {
		cn.frame = websocket.MessageBinary
	}
	cn.ctx, cn.cancel = context.WithCancelCause(context.Background())
	if err := cn.handshake(ctx); err != nil {
		cn.cancel(err)
		_ = ws.CloseNow() // the handshake failed: nothing to say to the server
		return nil, err
	}
	return cn, nil
}

// handshake sends the handshake request and reads the response. The socket's own contexts would
// also close it if they ended later, while reading the rest of the frame; a timer and ctx close it
// instead, only while the handshake runs.
func (cn *conn) handshake(ctx context.Context) error {
	var timedOut atomic.Bool
	timer := time.AfterFunc(cn.c.opts.HandshakeTimeout, func() {
		timedOut.Store(true)
		_ = cn.ws.CloseNow()
	})
	stopCtx := context.AfterFunc(ctx, func() { _ = cn.ws.CloseNow() })
	err := cn.exchangeHandshake()
	timerStopped, ctxStopped := timer.Stop(), stopCtx()
	switch {
	case !ctxStopped:
		return fmt.Errorf("client: handshake: %w", context.Cause(ctx))
	case !timerStopped || timedOut.Load():
		return fmt.Errorf("client: handshake: no response from the server within %v", cn.c.opts.HandshakeTimeout)
	}
	return err
}

func (cn *conn) exchangeHandshake() error {
	req := protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: cn.proto.Name(), Version: 1})
	// The handshake is JSON text whatever the protocol, so it goes in a text frame.
	if err := cn.ws.Write(context.Background(), websocket.MessageText, req); err != nil {
		return fmt.Errorf("client: handshake: write: %w", err)
	}
	var buf []byte
	chunk := make([]byte, 512)
	for {
		_, r, err := cn.ws.Reader(context.Background())
		if err != nil {
			return fmt.Errorf("client: handshake: read: %w", err)
		}
		for {
			n, rerr := r.Read(chunk)
			buf = append(buf, chunk[:n]...)
			msg, used, perr := protocol.ParseHandshakeResponse(buf)
			switch {
			case perr == nil && msg != "":
				return &HandshakeError{Message: msg}
			case perr == nil:
				// Records may follow the response, in this frame and the next.
				if rest := buf[used:]; len(rest) > 0 {
					cn.partial = append([]byte(nil), rest...)
				}
				if rerr == nil {
					cn.first = r
				}
				return nil
			case !errors.Is(perr, protocol.ErrIncomplete):
				return fmt.Errorf("client: handshake: invalid response: %w", perr)
			case len(buf) > maxHandshakeReply:
				return errors.New("client: handshake: the response is too large")
			}
			if rerr == io.EOF {
				break // the response continues in the next frame
			}
			if rerr != nil {
				return fmt.Errorf("client: handshake: read: %w", rerr)
			}
		}
	}
}

// start arms the keep-alive and the server timeout, and pings at once, as the official clients do
// (the server's client timeout runs from the first ping). It does nothing once the connection is
// ending.
func (cn *conn) start() {
	t := now()
	cn.lastRecv.Store(t)
	cn.lastSend.Store(t)
	cn.tmu.Lock()
	if cn.timerOff {
		cn.tmu.Unlock()
		return
	}
	cn.timer = time.AfterFunc(min(cn.c.opts.KeepAliveInterval, cn.c.opts.ServerTimeout), cn.tick)
	cn.tmu.Unlock()
	cn.ping()
}

// tick runs the keep-alive ping and the server timeout from one timer.
func (cn *conn) tick() {
	if cn.ctx.Err() != nil {
		return
	}
	o := &cn.c.opts
	t := now()
	recvDeadline := cn.lastRecv.Load() + int64(o.ServerTimeout)
	if t >= recvDeadline {
		var err error
		if cn.blocked.Load() {
			err = fmt.Errorf("%w for %v while the reader waited for a handler or a stream consumer", ErrServerTimeout, o.ServerTimeout)
		} else {
			err = fmt.Errorf("%w for %v", ErrServerTimeout, o.ServerTimeout)
		}
		cn.c.log.Info("client: server timeout", "connection", cn.id, "timeout", o.ServerTimeout)
		cn.end(err)
		return
	}
	sendDeadline := cn.lastSend.Load() + int64(o.KeepAliveInterval)
	if t >= sendDeadline {
		cn.ping()
		sendDeadline = t + int64(o.KeepAliveInterval)
	}
	next := time.Duration(min(recvDeadline, sendDeadline) - t)
	cn.tmu.Lock()
	if cn.timer != nil {
		cn.timer.Reset(max(next, time.Millisecond))
	}
	cn.tmu.Unlock()
}

func (cn *conn) stopTimer() {
	cn.tmu.Lock()
	cn.timerOff = true
	if cn.timer != nil {
		cn.timer.Stop()
		cn.timer = nil
	}
	cn.tmu.Unlock()
}

// ping queues a Ping unless something is already waiting to be written.
func (cn *conn) ping() {
	cn.enqueueIfIdle(pingRecords[cn.proto.Name()])
}

var pingRecords = map[string][]byte{}

func init() {
	for _, p := range []protocol.HubProtocol{protocol.JSON(), protocol.MessagePack()} {
		rec, err := p.AppendMessage(nil, &protocol.Ping{})
		if err != nil {
			panic(err)
		}
		pingRecords[p.Name()] = rec
	}
}

// readLoop reads and dispatches until the connection ends, and returns why it ended.
func (cn *conn) readLoop() error {
	if len(cn.partial) > 0 {
		data := cn.partial
		cn.partial = nil
		if err := cn.feed(data); err != nil {
			return cn.readEnd(err)
		}
	}
	if r := cn.first; r != nil {
		cn.first = nil
		if err := cn.readFrame(r); err != nil {
			return cn.readEnd(err)
		}
	}
	for {
		_, r, err := cn.ws.Reader(context.Background())
		if err != nil {
			return cn.readEnd(err)
		}
		if err := cn.readFrame(r); err != nil {
			return cn.readEnd(err)
		}
	}
}

// readEnd turns what stopped the reader into why the connection ended.
func (cn *conn) readEnd(err error) error {
	var ce *CloseError
	switch {
	case errors.As(err, &ce):
		// The server said goodbye: answer its WebSocket close (bounded by the library's timeouts).
		_ = cn.ws.Close(websocket.StatusNormalClosure, "")
		return err
	case cn.ctx.Err() != nil:
		return context.Cause(cn.ctx) // the timer or Stop ended the connection
	case websocket.CloseStatus(err) != -1:
		return fmt.Errorf("client: the server closed the WebSocket (status %d) without a Close message", websocket.CloseStatus(err))
	}
	return err
}

// readBuffers are the chunks the readers read into: shared, so that an idle connection holds none.
var readBuffers = sync.Pool{New: func() any {
	b := make([]byte, 16<<10)
	return &b
}}

// readFrame feeds one WebSocket message to the parser, chunk by chunk.
func (cn *conn) readFrame(r io.Reader) error {
	bp := readBuffers.Get().(*[]byte)
	defer readBuffers.Put(bp)
	for {
		n, err := r.Read(*bp)
		if n > 0 {
			cn.lastRecv.Store(now())
			if ferr := cn.feed((*bp)[:n]); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("client: read: %w", err)
		}
	}
}

// feed parses the complete records of partial+data and dispatches them; it keeps the start of an
// incomplete record for the next chunk. The parser copies what it keeps, so data may be reused.
func (cn *conn) feed(data []byte) error {
	if len(cn.partial) > 0 {
		cn.partial = append(cn.partial, data...)
		data = cn.partial
	}
	msgs, used, perr := cn.proto.ParseMessages(data, cn.c.opts.MaxMessageSize, cn.msgs[:0])
	var err error
	for _, m := range msgs {
		if err = cn.dispatch(m); err != nil {
			break
		}
	}
	clear(cn.msgs[:])
	switch {
	case err != nil:
		return err
	case errors.Is(perr, protocol.ErrMessageTooLarge):
		return fmt.Errorf("client: a message from the server exceeds MaxMessageSize (%d bytes)", cn.c.opts.MaxMessageSize)
	case perr != nil:
		return fmt.Errorf("client: invalid message from the server: %w", perr)
	}
	rest := data[used:]
	switch {
	case len(rest) == 0:
		cn.partial = nil
	case len(cn.partial) > 0:
		// rest aliases partial: move it to the front.
		cn.partial = cn.partial[:copy(cn.partial, rest)]
	default:
		cn.partial = append([]byte(nil), rest...)
	}
	return nil
}

// dispatch acts on one message from the server. A Close message ends the reader (as an error).
func (cn *conn) dispatch(m protocol.Message) error {
	switch m := m.(type) {
	case *protocol.Invocation:
		cn.queueInvocation(m)
	case *protocol.StreamItem:
		if p := cn.lookup(m.InvocationID); p != nil {
			raw, _ := m.Item.(protocol.RawValue)
			p.item(cn, raw)
		}
	case *protocol.Completion:
		if p := cn.take(m.InvocationID); p != nil {
			p.complete(m)
		}
	case *protocol.Close:
		return &CloseError{Message: m.Error, AllowReconnect: m.AllowReconnect}
	case *protocol.Ping, *protocol.Ack, *protocol.Sequence:
		// A ping only proves the server is alive, which receiving it already recorded.
	default:
		cn.c.log.Debug("client: unexpected message from the server", "type", m.Type())
	}
	return nil
}

// end ends the connection at once, for cause: calls still waiting fail, the socket closes, and
// the reader returns. Only the first cause counts.
func (cn *conn) end(cause error) {
	cn.endOnce.Do(func() {
		cn.cancel(cause)
		cn.stopTimer()
		cn.wmu.Lock()
		cn.wdone = true
		if cn.out != nil {
			putBuffer(cn.out)
			cn.out = nil
		}
		if cn.room != nil {
			close(cn.room)
			cn.room = nil
		}
		cn.wmu.Unlock()
		_ = cn.ws.CloseNow()
		cn.failPending(connectionClosed(context.Cause(cn.ctx)))
	})
}

// closeGracefully starts a clean close for Stop: calls still waiting fail with cause, a Close
// message is written after what is already queued, then the WebSocket is closed normally; the
// reader then sees the socket end.
func (cn *conn) closeGracefully(cause error) {
	cn.cancel(cause)
	cn.stopTimer()
	cn.failPending(connectionClosed(context.Cause(cn.ctx)))
	rec, err := cn.proto.AppendMessage(nil, &protocol.Close{})
	if err != nil {
		cn.end(cause)
		return
	}
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	if cn.wdone || cn.closing {
		return
	}
	cn.closing = true
	if cn.appendLocked(rec) {
		cn.s.g.Go(func() { cn.flush(false) })
	}
}

// pendingCall is an invocation waiting for the server: an Invoke or a Stream.
type pendingCall interface {
	// item delivers a StreamItem; it runs on the reader and may wait for room.
	item(cn *conn, raw protocol.RawValue)
	// complete delivers the Completion.
	complete(m *protocol.Completion)
	// fail ends the call without a Completion.
	fail(err error)
}

// register adds a pending call, unless the connection has ended.
func (cn *conn) register(id string, p pendingCall) error {
	cn.pmu.Lock()
	defer cn.pmu.Unlock()
	if cn.ended {
		return connectionClosed(context.Cause(cn.ctx))
	}
	if cn.pending == nil {
		cn.pending = make(map[string]pendingCall)
	}
	cn.pending[id] = p
	return nil
}

func (cn *conn) lookup(id string) pendingCall {
	cn.pmu.Lock()
	defer cn.pmu.Unlock()
	return cn.pending[id]
}

// take removes and returns a pending call.
func (cn *conn) take(id string) pendingCall {
	cn.pmu.Lock()
	defer cn.pmu.Unlock()
	p := cn.pending[id]
	if p != nil {
		delete(cn.pending, id)
	}
	return p
}

func (cn *conn) failPending(err error) {
	cn.pmu.Lock()
	calls := cn.pending
	cn.pending = nil
	cn.ended = true
	cn.pmu.Unlock()
	for _, p := range calls {
		p.fail(err)
	}
}

// pendingCount is the number of calls waiting for the server.
func (cn *conn) pendingCount() int {
	cn.pmu.Lock()
	defer cn.pmu.Unlock()
	return len(cn.pending)
}
