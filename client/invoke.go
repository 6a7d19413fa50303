package client

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"sync"

	"github.com/heraldhq/herald/hub/protocol"
)

// Invoke calls the hub method name with args and waits for its result, which it decodes into
// result (a pointer; nil to ignore it). It returns a *HubError when the method failed, ctx.Err()
// when ctx ends first (the invocation goes on on the server; its result is dropped), an error
// wrapping ErrConnectionClosed when the connection ends first, and ErrNotConnected when there is
// no connection. Writing the invocation waits as Send's does.
//
// An argument that is a channel (chan T or <-chan T) is a client-to-server stream, as a Subject
// is in the JavaScript client: it is sent as a stream id, then each value received from the
// channel is sent as a stream item, and closing the channel completes the stream. The values are
// forwarded while Invoke waits; if ctx ends first, the stream is completed with an error.
func (c *Client) Invoke(ctx context.Context, name string, result any, args ...any) error {
	cn := c.current.Load()
	if cn == nil {
		return ErrNotConnected
	}
	values, streams, err := splitStreams(args)
	if err != nil {
		return err
	}
	id := c.nextID()
	call := &invocation{done: make(chan outcome, 1)}
	if err := cn.register(id, call); err != nil {
		return err
	}
	streamIDs := c.streamIDs(len(streams))
	err = cn.send(ctx, &protocol.Invocation{InvocationID: id, Target: name, Arguments: values, StreamIDs: streamIDs})
	if err != nil {
		cn.take(id)
		return err
	}
	if len(streams) > 0 {
		// The streams end before Invoke returns, so that their Completions are on the wire before
		// any later call: a server that runs one invocation at a time would otherwise wait for
		// them behind that call.
		fctx, cancel := context.WithCancel(ctx)
		wait := cn.forward(fctx, streamIDs, streams)
		defer wait()
		defer cancel()
	}
	select {
	case o := <-call.done:
		if o.err != nil {
			return o.err
		}
		return c.decodeResult(name, o.m, result)
	case <-ctx.Done():
		cn.take(id)
		return ctx.Err()
	}
}

// Send calls the hub method name with args without waiting for it: no result, and no error from
// the method (fire-and-forget). It returns once the message is written, or queued behind a write
// in progress; ctx bounds the wait for room in the outgoing buffer (see Options.WriteBufferSize
// and Options.WriteTimeout). Channel arguments are client-to-server streams, as with
// Invoke; their values are forwarded until the channel is closed or the connection ends.
func (c *Client) Send(ctx context.Context, name string, args ...any) error {
	cn := c.current.Load()
	if cn == nil {
		return ErrNotConnected
	}
	values, streams, err := splitStreams(args)
	if err != nil {
		return err
	}
	streamIDs := c.streamIDs(len(streams))
	if err := cn.send(ctx, &protocol.Invocation{Target: name, Arguments: values, StreamIDs: streamIDs}); err != nil {
		return err
	}
	if len(streams) > 0 {
		cn.forward(cn.ctx, streamIDs, streams)
	}
	return nil
}

// Stream calls the streaming hub method name with args and returns the stream of its items. The
// stream lasts until the server completes it, Close is called, ctx ends (both send a
// CancelInvocation to the server), or the connection ends. Channel arguments are client-to-server
// streams, as with Invoke; their values are forwarded while the stream lasts.
func (c *Client) Stream(ctx context.Context, name string, args ...any) (*Stream, error) {
	cn := c.current.Load()
	if cn == nil {
		return nil, ErrNotConnected
	}
	values, streams, err := splitStreams(args)
	if err != nil {
		return nil, err
	}
	id := c.nextID()
	s := newStream(ctx, cn, id)
	if err := cn.register(id, s); err != nil {
		s.end(err)
		return nil, err
	}
	streamIDs := c.streamIDs(len(streams))
	err = cn.send(ctx, &protocol.StreamInvocation{InvocationID: id, Target: name, Arguments: values, StreamIDs: streamIDs})
	if err != nil {
		cn.take(id)
		s.end(err)
		return nil, err
	}
	if len(streams) > 0 {
		cn.forward(s.ctx, streamIDs, streams)
	}
	s.watch(ctx)
	return s, nil
}

func (c *Client) nextID() string { return strconv.FormatUint(c.ids.Add(1), 10) }

func (c *Client) streamIDs(n int) []string {
	if n == 0 {
		return nil
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = c.nextID()
	}
	return ids
}

// decodeResult turns a Completion into Invoke's result.
func (c *Client) decodeResult(name string, m *protocol.Completion, result any) error {
	if m.Error != "" {
		return &HubError{Message: m.Error}
	}
	if result == nil || !m.HasResult {
		return nil
	}
	raw, _ := m.Result.(protocol.RawValue)
	if err := c.proto.Unmarshal(raw, result); err != nil {
		return fmt.Errorf("client: decode the result of %s: %w", name, err)
	}
	return nil
}

// outcome is how an invocation ended.
type outcome struct {
	m   *protocol.Completion
	err error
}

// invocation is a pending Invoke.
type invocation struct {
	done chan outcome // buffered: the reader never waits
}

var _ pendingCall = (*invocation)(nil)

func (i *invocation) item(cn *conn, _ protocol.RawValue) {
	cn.c.log.Debug("client: stream item for a non-streaming invocation")
}

func (i *invocation) complete(m *protocol.Completion) { i.done <- outcome{m: m} }

func (i *invocation) fail(err error) { i.done <- outcome{err: err} }

// splitStreams takes the channel arguments out of args.
func splitStreams(args []any) ([]any, []reflect.Value, error) {
	n := 0
	for i, a := range args {
		if a == nil {
			continue
		}
		if t := reflect.TypeOf(a); t.Kind() == reflect.Chan {
			if t.ChanDir()&reflect.RecvDir == 0 {
				return nil, nil, fmt.Errorf("client: argument %d is a send-only channel; a stream argument must be receivable", i)
			}
			n++
		}
	}
	if n == 0 {
		return args, nil, nil
	}
	values := make([]any, 0, len(args)-n)
	streams := make([]reflect.Value, 0, n)
	for _, a := range args {
		if a != nil && reflect.TypeOf(a).Kind() == reflect.Chan {
			streams = append(streams, reflect.ValueOf(a))
			continue
		}
		values = append(values, a)
	}
	return values, streams, nil
}

// forward starts one goroutine per client-to-server stream; each sends the channel's values as
// StreamItems until the channel is closed (then a Completion), ctx ends (then an error
// Completion) or the connection ends. The returned func waits for them.
func (cn *conn) forward(ctx context.Context, ids []string, chans []reflect.Value) (wait func()) {
	var wg sync.WaitGroup
	wg.Add(len(chans))
	for i, ch := range chans {
		id := ids[i]
		cn.s.g.Go(func() {
			defer wg.Done()
			cn.pump(ctx, id, ch)
		})
	}
	return wg.Wait
}

// streamCanceled is the error that completes a client-to-server stream whose call was cancelled.
const streamCanceled = "Stream canceled by the client."

func (cn *conn) pump(ctx context.Context, id string, ch reflect.Value) {
	cases := []reflect.SelectCase{
		{Dir: reflect.SelectRecv, Chan: ch},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(cn.ctx.Done())},
	}
	for {
		chosen, v, ok := reflect.Select(cases)
		switch {
		case chosen == 0 && ok:
			if err := cn.send(ctx, &protocol.StreamItem{InvocationID: id, Item: v.Interface()}); err != nil {
				if cn.ctx.Err() == nil {
					cn.c.log.Debug("client: stream item not sent", "stream", id, "err", err)
					_ = cn.sendNow(&protocol.Completion{InvocationID: id, Error: streamError(ctx, err)})
				}
				return
			}
		case chosen == 0:
			if err := cn.send(cn.ctx, &protocol.Completion{InvocationID: id}); err != nil {
				cn.c.log.Debug("client: stream completion not sent", "stream", id, "err", err)
			}
			return
		case chosen == 1:
			if err := cn.sendNow(&protocol.Completion{InvocationID: id, Error: streamCanceled}); err != nil {
				cn.c.log.Debug("client: stream completion not sent", "stream", id, "err", err)
			}
			return
		default:
			return // the connection ended: the server ends the stream
		}
	}
}

// streamError is the text that completes a client stream whose item could not be sent.
func streamError(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return streamCanceled
	}
	return "The client could not send a stream item: " + err.Error()
}
