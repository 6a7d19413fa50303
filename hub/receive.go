package hub

import (
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/hub/protocol"
)

// receive feeds bytes from the transport to the connection's app (the hub protocol, or a
// ConnectionHandler). One reader at a time: the WebSocket loop, or POSTs in turn.
func (c *conn) receive(data []byte) error {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	if c.isClosing() {
		return ErrConnectionClosed
	}
	c.lastRecv.Store(c.h.now())
	c.h.metrics.bytesIn[c.transportName()].Add(float64(len(data)))
	return c.h.app.receive(c, data)
}

// hubProtocol is the app of hubs: the SignalR hub protocol on the connection's bytes.
type hubProtocol struct{}

var _ app = hubProtocol{}

// attached does nothing: a hub connection starts with the client's handshake.
func (hubProtocol) attached(*conn) error { return nil }

// receive parses the handshake first, then hub messages. Records may span calls; what is left of
// a partial record is kept (bounded by MaxMessageSize). A protocol error closes the connection with
// a Close message saying what was wrong, and is returned.
func (hubProtocol) receive(c *conn, data []byte) error {
	if len(c.inbuf) > 0 {
		c.inbuf = append(c.inbuf, data...)
		data = c.inbuf
	}
	n, err := c.parse(data)
	rest := data[n:]
	switch {
	case err != nil:
		c.inbuf = nil
		return err
	case len(rest) == 0:
		c.inbuf = nil
	default:
		// copy, not alias: data may be the transport's reused read buffer.
		c.inbuf = append(c.inbuf[:0:0], rest...)
	}
	return nil
}

// ended takes a connection that completed its handshake out of the indexes and its groups,
// releases its backplane channels, and runs OnDisconnected through the filters.
func (hubProtocol) ended(c *conn, t transport, err error) {
	h := c.h
	groups, indexed := h.reg.remove(c)
	if !indexed {
		return
	}
	for _, g := range groups {
		h.subs.release(h.channel("group", g))
	}
	if u := c.userID(); u != "" {
		h.subs.release(h.channel("user", u))
	}
	h.metrics.connection(t.kind(), c.protocol().Name()).Dec()
	if h.mon.on() {
		h.traceDisconnected(c, t, err)
	}
	// A panic in OnDisconnected is logged by runHook; there is nothing left to end.
	_ = c.runHook(func(hc *Context) error {
		h.disconnected(hc, err)
		return nil
	})
}

// sweep applies the handshake timeout, and to a handshaken connection on a persistent transport
// the client timeout and the keep-alive pings (long polling's polls are its sign of life).
func (hubProtocol) sweep(c *conn, t transport, now time.Time) {
	o := &c.h.opts
	if !c.handshaken.Load() {
		if !c.isClosing() && now.Sub(c.attachedAtTime()) > o.HandshakeTimeout {
			c.handshakeTimeout()
		}
		return
	}
	if exp := c.expires.Load(); exp != 0 && !o.KeepConnectionsPastExpiry && now.UnixNano() >= exp && !c.isClosing() {
		c.close(closeReason{
			message:        "Connection closed with an error: the access token expired; reconnect with a new one.",
			allowReconnect: true, err: errTokenExpired,
		})
		return
	}
	if t.kind() == LongPolling {
		return
	}
	if c.resumable.Load() {
		c.mu.Lock()
		detached, since := c.detached, c.detachedAt
		c.mu.Unlock()
		if detached {
			if now.Sub(since) > o.DisconnectTimeout {
				c.abort(errResumeTimeout)
			}
			return
		}
		c.sendAck()
	}
	nowNs := now.UnixNano()
	if !c.blocked.Load() && time.Duration(nowNs-c.lastRecv.Load()) > o.ClientTimeout {
		if c.resumable.Load() {
			// A silent socket may be a dead one the client has already left: keep the
			// connection for it to resume, as after any drop.
			c.transportLost(t, errClientTimeout)
			t.abort()
			return
		}
		c.close(closeReason{message: "Server timeout elapsed without receiving a message from the client.", err: errClientTimeout})
		return
	}
	if p := c.protocol(); p != nil && time.Duration(nowNs-c.lastSend.Load()) >= o.KeepAliveInterval {
		c.send(pingFrames[p.Name()])
	}
}

// parse consumes complete records from data and returns how many bytes it used.
func (c *conn) parse(data []byte) (int, error) {
	used := 0
	if !c.handshaken.Load() {
		n, err := c.handshake(data)
		if err != nil || n == 0 {
			return n, err
		}
		used = n
	}
	maxSize := c.h.opts.MaxMessageSize
	p := c.protocol()
	var msgs [8]protocol.Message
	for used < len(data) {
		window := data[used:]
		tracing := c.h.mon.on()
		if tracing {
			// One record at a time, so that each traced invocation has its own size.
			if n := protocol.RecordLength(p, window); n > 0 {
				window = window[:n]
			}
		}
		batch, n, err := p.ParseMessages(window, maxSize, msgs[:0])
		used += n
		for _, m := range batch {
			c.h.metrics.messagesIn.Inc()
			if tracing {
				c.traceMessage(m, n)
			}
			if c.resumable.Load() {
				handle, err := c.admitStateful(m)
				if err != nil {
					clear(msgs[:])
					return used, err
				}
				if !handle {
					continue
				}
			}
			c.handle(m)
		}
		clear(msgs[:])
		if err != nil {
			return used, c.protocolError(err)
		}
		if n == 0 {
			break // a partial record: wait for more
		}
	}
	return used, nil
}

// protocolError closes the connection because of bad input and returns the error.
func (c *conn) protocolError(err error) error {
	var text string
	var pe *protocol.Error
	switch {
	case errors.Is(err, protocol.ErrMessageTooLarge):
		text = fmt.Sprintf("Connection closed with an error: a message exceeded the maximum message size of %d bytes.", c.h.opts.MaxMessageSize)
	case errors.As(err, &pe):
		text = "Connection closed with an error: invalid message: " + pe.Msg
	default:
		text = "Connection closed with an error: " + err.Error()
	}
	c.h.log.Info("protocol error", "connection", c.id, "err", err)
	c.close(closeReason{message: text, err: err})
	return err
}

// handshake parses the handshake request; it returns 0 bytes used while the request is incomplete.
func (c *conn) handshake(data []byte) (int, error) {
	req, n, err := protocol.ParseHandshakeRequest(data, c.h.opts.MaxMessageSize)
	if errors.Is(err, protocol.ErrIncomplete) {
		return 0, nil
	}
	if err != nil {
		return n, c.failHandshake(handshakeErrorText(err), err)
	}
	p := protocol.ByName(req.Protocol)
	switch {
	case p == nil:
		return n, c.failHandshake(fmt.Sprintf("The protocol '%s' is not supported.", req.Protocol), nil)
	case req.Version < 1 || req.Version > 2:
		// Version 2 adds the Ack and Sequence messages of stateful reconnect; current clients send it
		// whether or not they reconnect statefully.
		return n, c.failHandshake(fmt.Sprintf("The server does not support version %d of the '%s' protocol.", req.Version, req.Protocol), nil)
	case p.Binary() && c.transportName() == ServerSentEvents:
		return n, c.failHandshake(fmt.Sprintf("Cannot use the '%s' protocol on the current transport. The transport does not support 'Binary' transfer format.", req.Protocol), nil)
	}
	c.proto.Store(protocolRefs[p.Name()])
	if c.offerStateful && req.Version >= 2 && c.transportName() == WebSockets {
		// Both sides opted in: number and keep what is sent from the handshake response on.
		c.queue.enableReplay(c.h.opts.StatefulReconnectBufferSize)
		c.recv = statefulState{next: 1}
		c.resumable.Store(true)
	}
	// register queues the handshake response: it must go first, and a message published once the
	// client has it must not miss the connection.
	if err := c.h.register(c); err != nil {
		if errors.Is(err, ErrConnectionClosed) {
			return n, err // it ended while its handshake was read
		}
		c.h.log.Error("register connection", "connection", c.id, "err", err)
		c.send(handshakeOK)
		c.handshaken.Store(true)
		c.close(closeReason{message: "Connection closed with an error: the server could not register the connection.", allowReconnect: true, err: err})
		return n, err
	}
	if err := c.runHook(c.h.connected); err != nil {
		// As .NET when OnConnectedAsync throws: the connection is closed with the error.
		c.h.log.Info("connection refused by OnConnected or a filter", "connection", c.id, "err", err)
		c.close(closeReason{message: buildErrorMessage("Connection closed with an error.", err, c.h.opts.EnableDetailedErrors), err: err})
		return n, nil
	}
	return n, nil
}

var handshakeOK = protocol.AppendHandshakeResponse(nil, "")

func handshakeErrorText(err error) string {
	var pe *protocol.Error
	switch {
	case errors.As(err, &pe):
		return "Invalid handshake request: " + pe.Msg
	case errors.Is(err, protocol.ErrMessageTooLarge):
		return "Invalid handshake request: too large."
	}
	return "Invalid handshake request."
}

// failHandshake answers the handshake with an error and ends the connection.
func (c *conn) failHandshake(text string, err error) error {
	c.h.log.Info("handshake refused", "connection", c.id, "reason", text, "err", err)
	c.send(protocol.AppendHandshakeResponse(nil, text))
	if err == nil {
		err = errors.New(text)
	}
	c.close(closeReason{err: err})
	return err
}

// register adds a connection that completed its handshake to the indexes and subscribes to its
// user's channel (its own channel it holds from negotiate on). A connection is in the groups its
// user was added to from the moment its handshake response goes out (manage.go).
func (h *Hub) register(c *conn) error {
	userChannel := ""
	var groups []string
	if u := c.userID(); u != "" {
		userChannel = h.channel("user", u)
		if err := h.subs.acquire(c.ctx, userChannel); err != nil {
			return err
		}
		groups = h.subscribeUserGroups(c)
	}
	added := h.reg.add(c, groups, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.tornDown {
			return false
		}
		// Under the registry's lock, which every delivery takes: nothing is queued before the
		// response, and the connection is reachable by the time the client can read it. And
		// handshaken from here on, under the queue's lock that close() reads it under: a close
		// that comes once the client may have the response always sends a Close message.
		return c.queue.openWith(handshakeOK, func() { c.handshaken.Store(true) })
	})
	if !added {
		if userChannel != "" {
			h.subs.release(userChannel)
		}
		for _, g := range groups {
			h.subs.release(h.channel("group", g))
		}
		return ErrConnectionClosed
	}
	c.lastSend.Store(h.now())
	h.metrics.connection(c.transportName(), c.protocol().Name()).Inc()
	if h.mon.on() {
		h.traceConnected(c)
	}
	h.joinUserGroups(c)
	return nil
}
