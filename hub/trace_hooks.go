package hub

import (
	"encoding/json"
	"strings"

	"github.com/heraldhq/herald/hub/protocol"
)

// The hub's trace points. Each call site checks h.mon.on() first, so that nothing here runs, and
// nothing is allocated, while nobody watches.

func (h *Hub) traceConnected(c *conn) {
	h.mon.emit(Event{Hub: h.name, Type: EventConnected, Connection: c.id, User: c.userID(),
		Transport: string(c.transportName()), Protocol: protocolName(c)})
}

func (h *Hub) traceDisconnected(c *conn, t transport, err error) {
	h.mon.emit(Event{Hub: h.name, Type: EventDisconnected, Connection: c.id, User: c.userID(),
		Transport: string(t.kind()), Protocol: protocolName(c), Reason: closeReasonText(err)})
}

// traceInvocation records an invocation from a client; size is the bytes of its record.
func (h *Hub) traceInvocation(c *conn, target string, args []any, size int) {
	e := Event{Hub: h.name, Type: EventInvocation, Connection: c.id, User: c.userID(),
		Transport: string(c.transportName()), Protocol: protocolName(c), Target: target, Size: size}
	if h.mon.wantsPayload() {
		e.Payload = rawArgsJSON(c.protocol(), args)
	}
	h.mon.emit(e)
}

// traceSend records a send published on channel; frame is its JSON frame.
func (h *Hub) traceSend(channel, target string, frame []byte, args []any) {
	kind, name, _ := strings.Cut(strings.TrimPrefix(channel, h.name+":"), ":")
	e := Event{Hub: h.name, Type: EventSend, Target: target, Size: len(frame), To: name}
	switch kind {
	case "all":
		e.Scope = ScopeAll
	case "conn":
		e.Scope = ScopeConnection
	case "user":
		e.Scope = ScopeUser
	case "group":
		e.Scope = ScopeGroup
	}
	if h.mon.wantsPayload() {
		if b, err := json.Marshal(args); err == nil {
			e.Payload = b
		}
	}
	h.mon.emit(e)
}

func protocolName(c *conn) string {
	if p := c.protocol(); p != nil {
		return p.Name()
	}
	return ""
}

// rawArgsJSON is a client's arguments as a JSON array: JSON arguments as sent, MessagePack ones
// decoded (what JSON cannot hold, such as binary, as encoding/json writes it: base64).
func rawArgsJSON(p protocol.HubProtocol, args []any) json.RawMessage {
	out := []byte{'['}
	for i, a := range args {
		if i > 0 {
			out = append(out, ',')
		}
		raw, _ := a.(protocol.RawValue)
		if p != nil && !p.Binary() && json.Valid(raw) {
			out = append(out, raw...)
			continue
		}
		var v any
		var b []byte
		err := error(nil)
		if p != nil {
			err = p.Unmarshal(raw, &v)
		}
		if err == nil {
			b, err = json.Marshal(v)
		}
		if err != nil {
			b, _ = json.Marshal([]byte(raw)) // a base64 string
		}
		out = append(out, b...)
	}
	return append(out, ']')
}

// traceMessage records the invocations among a client's messages.
func (c *conn) traceMessage(m protocol.Message, size int) {
	switch m := m.(type) {
	case *protocol.Invocation:
		c.h.traceInvocation(c, m.Target, m.Arguments, size)
	case *protocol.StreamInvocation:
		c.h.traceInvocation(c, m.Target, m.Arguments, size)
	}
}
