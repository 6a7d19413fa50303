package hub

import (
	"context"
	"slices"
	"strings"
	"time"
)

// deliver is the backplane handler of every channel this node subscribes to: it hands a payload to
// the local connections the channel addresses.
func (h *Hub) deliver(channel string, payload []byte) {
	e, err := decodeEnvelope(payload)
	if err != nil {
		h.log.Error("drop backplane payload", "channel", channel, "err", err)
		return
	}
	kind, name, _ := strings.Cut(strings.TrimPrefix(channel, h.name+":"), ":")
	switch e.kind {
	case kindInvoke:
		h.deliverInvocation(kind, name, &e)
	case kindGroupAdd, kindGroupRemove:
		if c := h.reg.conn(e.connID); c != nil {
			// Not on the delivery path: joining may subscribe to the backplane.
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := c.changeGroup(ctx, e.kind, e.arg); err != nil {
					h.log.Warn("remote group change", "connection", c.id, "group", e.arg, "err", err)
				}
			}()
		}
	case kindClose:
		if c := h.reg.conn(e.connID); c != nil {
			c.close(closeReason{message: e.arg})
		}
	}
}

func (h *Hub) deliverInvocation(kind, name string, e *envelope) {
	sent := 0
	deliver := func(c *conn) {
		if len(e.exclude) > 0 && slices.Contains(e.exclude, c.id) {
			return
		}
		frame := e.json
		if c.protocol().Binary() {
			frame = e.msgpack
		}
		if c.deliver(frame) {
			sent++
		}
	}
	switch kind {
	case "all":
		h.reg.forAll(deliver)
	case "conn":
		h.reg.forConn(name, deliver)
	case "user":
		h.reg.forUser(name, deliver)
	case "group":
		h.reg.forGroup(name, deliver)
	}
	h.metrics.messagesOut.Add(float64(sent))
}
