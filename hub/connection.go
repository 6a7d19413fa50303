package hub

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// app is what runs on a connection's bytes: the hub protocol (hubProtocol), or an application's
// ConnectionHandler (handlerApp). Negotiate, the transports, the send queue and the transport
// timers are the same for both.
type app interface {
	// attached runs once the transport can carry messages both ways, before anything the client
	// sends is received. An error ends the connection.
	attached(c *conn) error
	// receive takes bytes from the client, on the connection's reader.
	receive(c *conn, data []byte) error
	// ended runs once when a connection whose transport attached ends; err is why.
	ended(c *conn, t transport, err error)
	// sweep runs the app's timers.
	sweep(c *conn, t transport, now time.Time)
}

// ConnectionHandler is application code below the hub protocol, as .NET's ConnectionHandler
// mapped with MapConnectionHandler<T>: negotiate and the three transports deliver what a client
// sends as bytes, and what the handler sends reaches the client unchanged. (A Hub is the
// connection handler of the SignalR hub protocol.) Serve one with NewConnections.
//
// The official clients' HttpConnection speaks to it: start(TransferFormat.Text or Binary),
// send(data), onreceive.
type ConnectionHandler interface {
	// OnConnected runs when the client's transport is attached, before anything it sends is
	// delivered. An error ends the connection.
	OnConnected(c *Connection) error
	// OnReceive gets bytes the client sent: a WebSocket message, or a chunk of a POST body with
	// Server-Sent Events and long polling (the transports keep the bytes' order, not their
	// boundaries). It runs on the connection's reader: while it runs nothing more is read, which
	// slows a fast client down. data is only valid during the call. An error ends the connection.
	OnReceive(c *Connection, data []byte) error
	// OnDisconnected runs once when the connection ends; err is why (nil for a normal close).
	OnDisconnected(c *Connection, err error)
}

// Connection is one client connection as a ConnectionHandler sees it.
type Connection struct {
	c *conn
}

// ID is the connection's public id.
func (c *Connection) ID() string { return c.c.id }

// Context ends when the connection ends.
func (c *Connection) Context() context.Context { return c.c.ctx }

// User is the authenticated identity, nil for an anonymous connection.
func (c *Connection) User() *Principal { return c.c.principal }

// Request is the HTTP request that opened the connection.
func (c *Connection) Request() *Request { return c.c.request() }

// Transport is the connection's transport.
func (c *Connection) Transport() Transport { return c.c.transportName() }

// Items holds values that live as long as the connection.
func (c *Connection) Items() *sync.Map { return &c.c.items }

// SetBinary chooses binary WebSocket frames (and an octet-stream long-poll body) for what the
// handler sends; text is the default (.NET's TransferFormat, which the client chose at start).
func (c *Connection) SetBinary(binary bool) { c.c.rawBinary.Store(binary) }

// Send queues data for the client, waiting while the connection's send queue is full until ctx
// ends. data is copied. It returns ErrConnectionClosed once the connection has ended.
func (c *Connection) Send(ctx context.Context, data []byte) error {
	frame := append([]byte(nil), data...)
	if err := c.c.queue.pushWait(ctx, c.c.ctx.Done(), frame); err != nil {
		if err == errQueueClosed {
			return ErrConnectionClosed
		}
		return err
	}
	c.c.lastSend.Store(c.c.h.now())
	c.c.h.metrics.messagesOut.Inc()
	return nil
}

// Close ends the connection after what is queued has been written; err, when not nil, is the
// reason OnDisconnected gets.
func (c *Connection) Close(err error) { c.c.close(closeReason{err: err}) }

// handlerApp serves a ConnectionHandler.
type handlerApp struct {
	handler ConnectionHandler
}

var _ app = (*handlerApp)(nil)

// attached indexes the connection and runs OnConnected under the receive lock, so that nothing the
// client sends is delivered before OnConnected has returned (a POST may race the first poll).
func (a *handlerApp) attached(c *conn) error {
	h := c.h
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	if !h.reg.add(c, nil, func() bool { return !c.isTornDown() }) {
		return ErrConnectionClosed
	}
	h.metrics.connection(c.transportName(), "none").Inc()
	err := a.call(c, func() error { return a.handler.OnConnected(&c.public) })
	if err != nil {
		h.log.Info("connection refused by its handler", "connection", c.id, "err", err)
	}
	return err
}

func (a *handlerApp) receive(c *conn, data []byte) error {
	if err := a.call(c, func() error { return a.handler.OnReceive(&c.public, data) }); err != nil {
		c.h.log.Info("connection handler failed", "connection", c.id, "err", err)
		c.close(closeReason{err: err})
		return err
	}
	return nil
}

func (a *handlerApp) ended(c *conn, t transport, err error) {
	if _, indexed := c.h.reg.remove(c); !indexed {
		return
	}
	c.h.metrics.connection(t.kind(), "none").Dec()
	_ = a.call(c, func() error { a.handler.OnDisconnected(&c.public, err); return nil })
}

// sweep does nothing: below the hub protocol there are no pings and no client timeout.
func (a *handlerApp) sweep(*conn, transport, time.Time) {}

// call runs handler code; a panic is an error.
func (a *handlerApp) call(c *conn, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.h.log.Error("connection handler panicked", "connection", c.id, "panic", r)
			err = fmt.Errorf("hub: connection handler panicked: %v", r)
		}
	}()
	return fn()
}

// Connections serves a ConnectionHandler: negotiate and the three transports, with no hub protocol
// (.NET's MapConnectionHandler<T>). Mount it like a Hub (a Router, or the path and its
// /negotiate on any router); Endpoint serves it with other options on other paths.
type Connections struct {
	h *Hub
}

// NewConnections serves handler. name scopes its metrics. Of opts, what concerns connections and
// transports applies (authentication, transports, origins, MaxMessageSize, SendQueueSize, the
// disconnect, long-poll and write timeouts, Logger, Metrics); what concerns the hub protocol
// (methods, filters, keep-alive pings, the client and handshake timeouts, the backplane) does not.
func NewConnections(name string, handler ConnectionHandler, opts Options) (*Connections, error) {
	if handler == nil {
		return nil, fmt.Errorf("hub: NewConnections needs a handler")
	}
	h, err := New(name, opts)
	if err != nil {
		return nil, err
	}
	h.app = &handlerApp{handler: handler}
	return &Connections{h: h}, nil
}

// Name is the name given to NewConnections.
func (s *Connections) Name() string { return s.h.Name() }

// ServeHTTP serves the handler with its Options.
func (s *Connections) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.h.ServeHTTP(w, r) }

// Endpoint serves the handler on another path with opts (see Hub.Endpoint).
func (s *Connections) Endpoint(opts EndpointOptions) http.Handler { return s.h.Endpoint(opts) }

// Start starts the timers (ServeHTTP does on first use).
func (s *Connections) Start(ctx context.Context) error { return s.h.Start(ctx) }

// Shutdown closes every connection, waiting for them until ctx ends (see Hub.Shutdown).
func (s *Connections) Shutdown(ctx context.Context) error { return s.h.Shutdown(ctx) }

// ConnectionCount is the number of connections whose transport attached.
func (s *Connections) ConnectionCount() int { return s.h.ConnectionCount() }
