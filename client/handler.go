package client

import (
	"context"
	"fmt"
	"strings"

	"github.com/heraldhq/herald/hub/protocol"
)

// Handler handles an invocation of a client method by the server. ctx ends when the connection
// that delivered the invocation ends. When the server expects a result (a client result: the
// server called InvokeAsync / Clients.Caller().Invoke), the returned value is sent back, or the
// error's text if err is not nil; a nil value is sent as null. Otherwise the value is ignored and
// an error is only logged.
type Handler func(ctx context.Context, args Args) (any, error)

// Args are the arguments of a server invocation, still encoded as the protocol put them on the wire.
type Args struct {
	proto  protocol.HubProtocol
	values []any
}

// Len is the number of arguments.
func (a Args) Len() int { return len(a.values) }

// Raw is argument i as encoded on the wire (JSON text or MessagePack bytes), nil when out of range.
// It is valid until the handler returns; Decode into a *protocol.RawValue to keep a copy.
func (a Args) Raw(i int) protocol.RawValue {
	if i < 0 || i >= len(a.values) {
		return nil
	}
	raw, _ := a.values[i].(protocol.RawValue)
	return raw
}

// Decode decodes argument i into v, a pointer, as encoding/json would (json struct tags apply to
// MessagePack too).
func (a Args) Decode(i int, v any) error {
	if i < 0 || i >= len(a.values) {
		return fmt.Errorf("client: argument %d of %d", i, len(a.values))
	}
	if err := a.proto.Unmarshal(a.Raw(i), v); err != nil {
		return fmt.Errorf("client: decode argument %d: %w", i, err)
	}
	return nil
}

// On sets the handler of the client method name (matched case-insensitively, as the official
// clients do), replacing any previous one; a nil h removes it. It may be called at any time.
//
// Handlers run one at a time, in the order the server sent the invocations, on a goroutine of the
// connection (started when an invocation arrives and gone when none waits). Up to
// Options.HandlerQueueSize invocations wait for their turn; when that many wait, the reader stops
// reading until the queue has room: completions, stream items and pings then wait too, and when
// this lasts longer than Options.ServerTimeout the connection ends with ErrServerTimeout. So a
// handler that may take long should hand its work to another goroutine.
//
// Invocations already queued when their connection ends still run, with ctx done; their results
// are not sent. An invocation of a method without a handler is logged; when the server expects a
// result it gets the error "Client didn't provide a result.".
func (c *Client) On(name string, h Handler) {
	key := strings.ToLower(name)
	c.handlersMu.Lock()
	defer c.handlersMu.Unlock()
	if h == nil {
		delete(c.handlers, key)
		return
	}
	if c.handlers == nil {
		c.handlers = make(map[string]Handler)
	}
	c.handlers[key] = h
}

func (c *Client) handler(name string) Handler {
	c.handlersMu.RLock()
	defer c.handlersMu.RUnlock()
	if h, ok := c.handlers[name]; ok {
		return h
	}
	return c.handlers[strings.ToLower(name)]
}

// queueInvocation queues a server invocation for the handler goroutine, waiting while the queue is
// full. It runs on the reader.
func (cn *conn) queueInvocation(m *protocol.Invocation) {
	limit := cn.c.opts.HandlerQueueSize
	cn.hmu.Lock()
	for len(cn.queue)-cn.head >= limit {
		if cn.hroom == nil {
			cn.hroom = make(chan struct{})
		}
		room := cn.hroom
		cn.hmu.Unlock()
		cn.blocked.Store(true)
		select {
		case <-room:
		case <-cn.ctx.Done():
			cn.blocked.Store(false)
			return // the connection ended: its invocations no longer matter
		}
		cn.blocked.Store(false)
		cn.hmu.Lock()
	}
	if cn.head > 0 && len(cn.queue) == cap(cn.queue) {
		// Reuse the room of the invocations already taken rather than grow.
		n := copy(cn.queue, cn.queue[cn.head:])
		clear(cn.queue[n:])
		cn.queue = cn.queue[:n]
		cn.head = 0
	}
	cn.queue = append(cn.queue, m)
	if !cn.hrunning {
		cn.hrunning = true
		cn.s.g.Go(cn.runHandlers)
	}
	cn.hmu.Unlock()
}

// runHandlers runs the queued invocations in order, and returns when the queue is empty.
func (cn *conn) runHandlers() {
	for {
		cn.hmu.Lock()
		if cn.head == len(cn.queue) {
			cn.queue, cn.head = nil, 0 // an idle connection keeps no queue
			cn.hrunning = false
			cn.hmu.Unlock()
			return
		}
		m := cn.queue[cn.head]
		cn.queue[cn.head] = nil
		cn.head++
		if cn.hroom != nil {
			close(cn.hroom)
			cn.hroom = nil
		}
		cn.hmu.Unlock()
		cn.runHandler(m)
	}
}

// noResult is what the official clients answer when the server expects a result and no handler
// gives one.
const noResult = "Client didn't provide a result."

func (cn *conn) runHandler(m *protocol.Invocation) {
	log := cn.c.log
	h := cn.c.handler(m.Target)
	if h == nil {
		log.Warn("client: no handler for a method the server invoked", "method", m.Target)
		if m.InvocationID != "" {
			cn.reply(&protocol.Completion{InvocationID: m.InvocationID, Error: noResult})
		}
		return
	}
	res, err := callHandler(cn.ctx, h, Args{proto: cn.proto, values: m.Arguments})
	if m.InvocationID == "" {
		if err != nil {
			log.Warn("client: handler failed", "method", m.Target, "err", err)
		}
		return
	}
	if err != nil {
		cn.reply(&protocol.Completion{InvocationID: m.InvocationID, Error: err.Error()})
		return
	}
	cn.reply(&protocol.Completion{InvocationID: m.InvocationID, HasResult: true, Result: res})
}

// reply sends a handler's Completion; a result that cannot be encoded becomes an error.
func (cn *conn) reply(m *protocol.Completion) {
	err := cn.send(cn.ctx, m)
	if err != nil && cn.ctx.Err() == nil && m.Error == "" {
		cn.c.log.Warn("client: handler result not sent", "err", err)
		err = cn.send(cn.ctx, &protocol.Completion{InvocationID: m.InvocationID, Error: "The client's result could not be serialized."})
	}
	if err != nil {
		cn.c.log.Debug("client: completion not sent", "invocation", m.InvocationID, "err", err)
	}
}

// callHandler runs h, turning a panic into an error.
func callHandler(ctx context.Context, h Handler, args Args) (res any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return h(ctx, args)
}
