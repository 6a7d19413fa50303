package hub

import (
	"time"

	"github.com/heraldhq/herald/hub/protocol"
)

// now is the hub's coarse clock (unix nanoseconds), advanced by the sweeper: reading it costs an
// atomic load instead of a clock call on every message.
func (h *Hub) now() int64 {
	if t := h.clock.Load(); t != 0 {
		return t
	}
	return time.Now().UnixNano()
}

// sweepPeriod is how often timers are checked: often enough for the shortest timeout.
func (o Options) sweepPeriod() time.Duration {
	p := min(o.KeepAliveInterval, o.ClientTimeout, o.HandshakeTimeout, o.DisconnectTimeout) / 4
	return max(min(p, time.Second), 5*time.Millisecond)
}

// sweep runs keep-alive pings and every timeout, for all connections, from one goroutine.
func (h *Hub) sweep() {
	defer h.wg.Done()
	t := time.NewTicker(h.opts.sweepPeriod())
	defer t.Stop()
	for {
		select {
		case <-h.done:
			return
		case now := <-t.C:
			h.clock.Store(now.UnixNano())
			for _, c := range h.allConns() {
				c.sweep(now)
			}
		}
	}
}

var pingFrames = map[string][]byte{}

func init() {
	for _, p := range []protocol.HubProtocol{protocol.JSON(), protocol.MessagePack()} {
		frame, err := p.AppendMessage(nil, &protocol.Ping{})
		if err != nil {
			panic(err)
		}
		pingFrames[p.Name()] = frame
	}
}

// handshakeTimeout answers a handshake that never came with an error, as the .NET server does
// ("Handshake was canceled."), and closes the connection.
func (c *conn) handshakeTimeout() {
	if !c.recvMu.TryLock() {
		return // a handshake is being parsed right now: look again on the next sweep
	}
	defer c.recvMu.Unlock()
	if c.handshaken.Load() || c.isClosing() {
		return
	}
	_ = c.failHandshake("Handshake was canceled.", errHandshakeTimeout) // closes the connection
}

// sweep applies the transport's timers (a transport that never came, a long-polling client that
// stopped polling, forgetting a torn-down connection), then the app's.
func (c *conn) sweep(now time.Time) {
	o := &c.h.opts
	c.mu.Lock()
	t, tornDown, tornDownAt := c.transport, c.tornDown, c.tornDownAt
	c.mu.Unlock()
	switch {
	case tornDown:
		// Long-polling connections linger so that a last poll can fetch the Close message.
		if now.Sub(tornDownAt) > o.DisconnectTimeout {
			c.h.forget(c)
		}
		return
	case t == nil:
		if now.Sub(c.created) > o.DisconnectTimeout {
			c.abort(errNoTransport)
		}
		return
	case t.kind() == LongPolling:
		// The client does not ping on long polling: its polls are the sign of life.
		if t.(*pollTransport).idleFor(now) > o.DisconnectTimeout {
			c.abort(errPollTimeout)
			return
		}
	}
	c.h.app.sweep(c, t, now)
}
