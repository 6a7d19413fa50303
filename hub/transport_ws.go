package hub

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lxzan/gws"

	"github.com/heraldhq/herald/hub/protocol"
	"github.com/heraldhq/herald/internal/httpx"
)

// The server side of WebSockets uses github.com/lxzan/gws rather than coder/websocket (which the
// Go client uses): measured with `herald bench hub`, an idle connection costs about 21 KiB of
// server memory with coder/websocket (it keeps the 4 KiB read and 4 KiB write buffers of the
// hijacked HTTP connection) and about half that with gws and a small read buffer. See README.

// maxFrameBatch bounds the bytes of records gathered into one WebSocket frame.
const maxFrameBatch = 64 * 1024

// wsReadBufferSize is each connection's read buffer. Small on purpose: idle connections dominate,
// and a frame larger than the buffer is read straight into a pooled buffer.
const wsReadBufferSize = 1024

// newUpgrader configures the WebSocket upgrade for the hub's limits.
func (h *Hub) newUpgrader() *gws.Upgrader {
	return gws.NewUpgrader(wsEvents{}, &gws.ServerOption{
		ReadBufferSize:     wsReadBufferSize,
		ReadMaxPayloadSize: h.wsReadLimit(),
		HandshakeTimeout:   h.opts.WriteTimeout,
		NewSession:         func() gws.SessionStorage { return &wsSession{} },
		Logger:             gwsLogger{h},
	})
}

// wsTransport is a connection's WebSocket. It has no writer goroutine while idle: the send queue
// starts flush when frames arrive.
type wsTransport struct {
	c      *conn
	socket atomic.Pointer[gws.Conn] // set once the upgrade succeeded
}

func (t *wsTransport) kind() Transport { return WebSockets }

func (t *wsTransport) abort() {
	if s := t.socket.Load(); s != nil {
		_ = s.NetConn().Close() // dropping the socket: its error says nothing new
	}
}

func (h *Hub) serveWebSocket(w http.ResponseWriter, r *http.Request, c *conn) {
	if !c.ep.originAllowed(r) {
		c.abort(errors.New("hub: websocket origin not allowed"))
		http.Error(w, "Origin not allowed", http.StatusForbidden)
		return
	}
	t := &wsTransport{c: c}
	resume := false
	if !c.attach(t, r) {
		// A stateful connection's client coming back after a blip (stateful.go).
		if resume = c.attachResume(t, r); !resume {
			http.Error(w, "Another transport is already bound to this connection", http.StatusConflict)
			return
		}
	}
	socket, err := h.upgrade(w, r, func() []byte {
		// gws refuses a frame over its limit with close code 1009 before the hub sees a byte of
		// it: say why in a Close message first, and end the connection rather than detach it.
		c.queue.close(func() []byte { c.cancel(errFrameTooLarge); return nil })
		c.h.metrics.closedWithError.Inc()
		c.h.log.Info("protocol error", "connection", c.id, "err", errFrameTooLarge)
		if !c.handshaken.Load() {
			return nil
		}
		return h.tooLargeFrame(c.protocol())
	})
	if err != nil {
		// A failed upgrade has answered the request (or the client is gone).
		c.transportLost(t, errors.Join(errTransportGone, err))
		return
	}
	socket.Session().(*wsSession).t = t
	t.socket.Store(socket)
	if resume {
		if !c.resumeWith(t, func(delay time.Duration) { go t.flush(delay) }) {
			// Superseded while it was upgraded (its abort found no socket yet): a socket left open
			// and silent would only end at the client's timeout.
			t.abort()
		}
	} else {
		c.queue.setWriter(t, func(delay time.Duration) { go t.flush(delay) }, h.opts.WriteCoalesce)
		if err := h.app.attached(c); err != nil {
			c.close(closeReason{err: err}) // the reader below sees the socket close
		}
	}
	// The reader gets a goroutine of its own and the request's goroutine ends: its deep net/http
	// stack and the request it holds would otherwise stay for the connection's life.
	go socket.ReadLoop()
}

// errFrameTooLarge ends a connection whose client sent a WebSocket frame over the read limit.
var errFrameTooLarge = errors.New("hub: a WebSocket frame exceeded the read limit")

// upgrade upgrades r to a WebSocket whose close for a frame over the read limit (code 1009) is
// preceded by the frame tooLarge returns, if any: a SignalR Close saying why.
func (h *Hub) upgrade(w http.ResponseWriter, r *http.Request, tooLarge func() []byte) (*gws.Conn, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, errors.New("hub: the response cannot be hijacked for a WebSocket")
	}
	nc, _, err := hj.Hijack()
	if err != nil {
		return nil, err
	}
	return h.upgrader.UpgradeFromConn(&wsNetConn{Conn: nc, tooLarge: tooLarge}, bufio.NewReaderSize(nc, wsReadBufferSize), r)
}

// tooLargeFrame is the WebSocket frame of a Close message in p saying that a frame was too large.
func (h *Hub) tooLargeFrame(p protocol.HubProtocol) []byte {
	text := fmt.Sprintf("Connection closed with an error: a WebSocket frame exceeded the maximum of %d bytes.", h.wsReadLimit())
	rec, err := p.AppendMessage(nil, &protocol.Close{Error: text})
	if err != nil {
		return nil
	}
	op := byte(gws.OpcodeText)
	if p.Binary() {
		op = byte(gws.OpcodeBinary)
	}
	return appendServerFrame(nil, op, rec)
}

// wsReadLimit is the largest WebSocket frame read: records are bounded by MaxMessageSize as they
// are parsed, and a frame may carry several.
func (h *Hub) wsReadLimit() int { return max(1<<20, 4*h.opts.MaxMessageSize) }

// appendServerFrame appends a final, unmasked WebSocket frame of opcode op (RFC 6455 5.2).
func appendServerFrame(dst []byte, op byte, payload []byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, byte(n))
	case n <= 0xffff:
		dst = binary.BigEndian.AppendUint16(append(dst, 126), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint64(append(dst, 127), uint64(n))
	}
	return append(dst, payload...)
}

// wsNetConn is a hijacked connection under gws: before the close frame of code 1009 that gws
// writes for a frame over its limit, it writes tooLarge's frame. gws writes each frame in one
// Write, under its own lock.
type wsNetConn struct {
	net.Conn
	tooLarge func() []byte
}

func (c *wsNetConn) Write(b []byte) (int, error) {
	// A server's close frame: FIN and opcode 8, unmasked, its status code first.
	if len(b) >= 4 && b[0] == 0x88 && b[1]&0x80 == 0 && binary.BigEndian.Uint16(b[2:4]) == 1009 && c.tooLarge != nil {
		if f := c.tooLarge(); f != nil {
			_, _ = c.Conn.Write(f) // the close frame's own write says whether the socket works
		}
	}
	return c.Conn.Write(b)
}

// SyscallConn exposes the socket for peerHungUp.
func (c *wsNetConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("hub: not a system socket")
	}
	return sc.SyscallConn()
}

// originAllowed applies AllowedOrigins to browsers' WebSocket requests (CORS does not cover them).
func (ep *endpoint) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if len(ep.origins) == 0 || origin == "" {
		return true
	}
	if u, err := url.Parse(origin); err == nil && strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return httpx.MatchOrigin(ep.origins, origin)
}

// wsHandler takes a socket's events: a connection's wsTransport, or on another node a relayEnd
// (relay.go).
type wsHandler interface {
	onMessage(data []byte)
	onClose(err error)
}

// wsSession is the per-socket storage gws asks for; Herald keeps only the socket's handler in it
// (the library's default is a map per socket).
type wsSession struct{ t wsHandler }

func (s *wsSession) Len() int { return 1 }
func (s *wsSession) Load(string) (any, bool) {
	return s.t, s.t != nil
}
func (s *wsSession) Delete(string)                        {}
func (s *wsSession) Store(string, any)                    {}
func (s *wsSession) Range(f func(key string, v any) bool) { f("transport", s.t) }

// wsEvents receives every socket's events on the socket's read goroutine.
type wsEvents struct{}

func (wsEvents) OnOpen(*gws.Conn) {}

func (wsEvents) OnClose(socket *gws.Conn, err error) {
	var ce *gws.CloseError
	if err == nil || errors.As(err, &ce) && (ce.Code == 1000 || ce.Code == 1001) {
		err = errTransportGone
	} else {
		err = errors.Join(errTransportGone, err)
	}
	if t := socket.Session().(*wsSession).t; t != nil {
		t.onClose(err)
	}
}

func (wsEvents) OnPing(socket *gws.Conn, payload []byte) {
	// A failed pong shows up as a read or write error on its own.
	_ = socket.WritePong(payload)
}

func (wsEvents) OnPong(*gws.Conn, []byte) {}

func (wsEvents) OnMessage(socket *gws.Conn, m *gws.Message) {
	defer m.Close() //nolint:errcheck // returns the message's buffer to the pool; it cannot fail
	if t := socket.Session().(*wsSession).t; t != nil {
		t.onMessage(m.Bytes())
	}
}

func (t *wsTransport) onMessage(data []byte) {
	if t.c.transportOf() == t {
		// An error here has already closed the connection gracefully (a Close message saying why
		// is queued); what the client sends meanwhile is dropped. So is what a socket replaced by
		// a resume still had to read: the client sends it again on the new one.
		_ = t.c.receive(data)
	}
}

func (t *wsTransport) onClose(err error) { t.c.transportLost(t, err) }

// flush writes the queue to the socket until it is empty, then returns; the send queue starts it
// when something is queued and no flush runs. A delay lets a burst of delivered frames gather.
func (t *wsTransport) flush(delay time.Duration) {
	if delay > 0 {
		time.Sleep(delay)
	}
	c := t.c
	for {
		batch, closing, current := c.queue.takeOrStop(t)
		if !current {
			return // a resume replaced this transport
		}
		if len(batch) == 0 {
			switch {
			case !closing:
			case c.isTornDown():
				// It ended before its socket was there to close (an abort during the upgrade).
				t.abort()
			default:
				code := uint16(1000)
				if err := context.Cause(c.ctx); err != nil && !errors.Is(err, context.Canceled) {
					code = 1011
				}
				// Sends the close frame and closes the socket; the reader then ends the connection.
				_ = t.socket.Load().WriteClose(code, nil)
				c.abort(errTransportGone)
			}
			return
		}
		err := t.write(batch)
		c.queue.recycle(batch)
		if err != nil {
			c.queue.stopWriter(t)
			c.transportLost(t, errors.Join(errTransportGone, err))
			return
		}
	}
}

// write writes a batch of records, several to a frame, never splitting a record.
func (t *wsTransport) write(batch [][]byte) error {
	c := t.c
	op := gws.OpcodeText
	if c.binary() {
		op = gws.OpcodeBinary
	}
	socket := t.socket.Load()
	if err := socket.SetWriteDeadline(time.Now().Add(c.h.opts.WriteTimeout)); err != nil {
		return err
	}
	metric := c.h.metrics.bytesOut[WebSockets]
	return chunks(batch, maxFrameBatch, func(run [][]byte, size int) error {
		if err := socket.Writev(op, run...); err != nil {
			return err
		}
		metric.Add(float64(size))
		return nil
	})
}

// gwsLogger routes the library's messages to the hub's logger.
type gwsLogger struct{ h *Hub }

func (l gwsLogger) Error(v ...any) { l.h.log.Error("websocket", "detail", v) }
