package hub

import (
	"slices"
	"strings"
)

// deliver is the backplane handler of every channel this node subscribes to: it hands a payload to
// the local connections the channel addresses, or serves the request it carries. A payload that
// is not the hub's (another program publishing under the prefix) is counted and dropped.
func (h *Hub) deliver(channel string, payload []byte) {
	e, err := decodeEnvelope(payload)
	if err != nil {
		h.metrics.malformed.Inc()
		h.log.Warn("drop backplane payload", "channel", channel, "err", err)
		return
	}
	kind, name, _ := strings.Cut(strings.TrimPrefix(channel, h.name+":"), ":")
	switch e.kind {
	case kindInvoke:
		h.deliverInvocation(kind, name, &e)
	case kindClose:
		h.closeLocal(kind, name, &e)
	case kindRequest:
		serve := h.serveRequest
		switch kind {
		case "conn":
		case "user":
			serve = h.serveUserRequest
		default:
			h.metrics.malformed.Inc()
			return
		}
		// The fields alias payload, which the backplane may reuse once this returns.
		fields := cloneFields(e.fields)
		h.serving.Add(1)
		go func() {
			defer h.serving.Add(-1)
			serve(name, fields)
		}()
	case kindReply:
		h.complete(cloneFields(e.fields))
	case kindCancel:
		h.cancelRequest(e.fields)
	case kindProbe:
	case kindRelay:
		fields := cloneFields(e.fields) // they alias payload
		switch kind {
		case "conn":
			h.relayIn(name, fields)
		case "relay":
			h.relayOut(name, fields)
		default:
			h.metrics.malformed.Inc()
		}
	}
}

func cloneFields(fields [][]byte) [][]byte {
	out := make([][]byte, len(fields))
	for i, f := range fields {
		out[i] = slices.Clone(f)
	}
	return out
}

func (h *Hub) deliverInvocation(kind, name string, e *envelope) {
	sent := 0
	deliver := func(c *conn) {
		if len(e.exclude) > 0 && slices.Contains(e.exclude, c.id) {
			return
		}
		for _, g := range e.skipGroups {
			if h.reg.isMemberLocked(c, g) {
				return // it gets the message from group g's channel
			}
		}
		frame := e.json
		if c.protocol().Binary() {
			frame = e.msgpack
		}
		if c.deliver(frame) {
			sent++
		}
	}
	h.reg.forTarget(kind, name, deliver)
	h.metrics.messagesOut.Add(float64(sent))
}
