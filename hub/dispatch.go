package hub

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/heraldhq/herald/hub/protocol"
)

// invocations is a connection's dispatch state: what runs, what streams, what waits for the
// client. Its lock guards the maps; sem bounds the invocations that run at once.
type invocations struct {
	mu         sync.Mutex
	active     map[string]context.CancelFunc // server-to-client streams by invocation id
	streams    map[string]*clientStream      // client-to-server streams by stream id
	results    map[string]chan *protocol.Completion
	nextResult atomic.Uint64
	sem        chan struct{}
}

func (v *invocations) init(maxParallel int) { v.sem = make(chan struct{}, maxParallel) }

// call is one running invocation: what its Context knows beyond the connection.
type call struct {
	target  string // the method's name as the client sent it
	method  *method
	streams []*clientStream

	mu sync.Mutex // guards the streams' err and seen
}

// clientStream is a client-to-server stream feeding one parameter of a running invocation.
type clientStream struct {
	ch   reflect.Value // chan T, both directions
	elem reflect.Type
	ctx  context.Context // the invocation's: sending stops when it ends
	call *call
	err  *ClientStreamError // why the client ended it; nil for a normal end
	seen bool               // the method asked for err (Context.ClientStreamErr)
}

// handle acts on one message from the client. It runs on the connection's reader.
func (c *conn) handle(m protocol.Message) {
	if c.ep.listenOnly {
		switch m.(type) {
		case *protocol.Invocation, *protocol.StreamInvocation, *protocol.StreamItem, *protocol.CancelInvocation:
			c.close(closeReason{message: "Connection closed with an error. This client can only receive messages: " +
				"clients of the serverless endpoint cannot invoke hub methods.", err: errListenOnly})
			return
		}
	}
	switch m := m.(type) {
	case *protocol.Invocation:
		c.invoke(m.InvocationID, m.Target, m.Arguments, m.StreamIDs, false)
	case *protocol.StreamInvocation:
		c.invoke(m.InvocationID, m.Target, m.Arguments, m.StreamIDs, true)
	case *protocol.StreamItem:
		c.streamItem(m)
	case *protocol.Completion:
		c.completion(m)
	case *protocol.CancelInvocation:
		c.inv.mu.Lock()
		cancel := c.inv.active[m.InvocationID]
		c.inv.mu.Unlock()
		if cancel != nil {
			cancel()
		}
	case *protocol.Close:
		// The client is leaving: no Close is sent back.
		c.queue.dropAndFlush()
		c.cancel(nil)
		if c.transportName() != WebSockets {
			c.teardown(nil)
		}
	case *protocol.Ping, *protocol.Ack, *protocol.Sequence:
		// Pings only refresh lastRecv. Ack and Sequence are acted on before (admitStateful); on a
		// connection that is not stateful they carry nothing to act on.
	}
}

// invoke starts an invocation, checking it in .NET's order: the method exists and its arguments
// bind, the caller holds its roles, the invocation's kind fits the method's, the stream count
// fits. It blocks while MaxParallelInvocations are already running, which stops the connection's
// reading: the back-pressure the .NET server applies too.
func (c *conn) invoke(id, target string, args []any, streamIDs []string, streaming bool) {
	m := c.h.methods[methodKey(target)]
	if m == nil {
		// .NET's binder asks for the parameter types of a method that does not exist.
		c.invocationFailed(id, target, PhaseBinding, &Error{Message: "Method does not exist."})
		return
	}
	values, err := m.bindArgs(c.protocol(), args)
	if err != nil {
		c.invocationFailed(id, target, PhaseBinding, err)
		return
	}
	if !m.allows(c.principal) {
		c.invocationFailed(id, target, PhaseAuthorization, nil)
		return
	}
	switch {
	case streaming && !m.streaming:
		c.invocationError(id, fmt.Sprintf("The client attempted to invoke the non-streaming '%s' method with a streaming invocation.", target))
		return
	case !streaming && m.streaming:
		c.invocationError(id, fmt.Sprintf("The client attempted to invoke the streaming '%s' method with a non-streaming invocation.", target))
		return
	}
	streams, err := m.bindStreams(values, streamIDs, c.h.opts.StreamBufferCapacity)
	if err != nil {
		c.invocationFailed(id, target, PhaseInvocation, err)
		return
	}
	ctx, cancelCause := context.WithCancelCause(c.ctx)
	cancel := func() { cancelCause(nil) }
	cl := &call{target: target, method: m}
	c.inv.mu.Lock()
	if streaming {
		if _, inUse := c.inv.active[id]; inUse {
			c.inv.mu.Unlock()
			cancel()
			c.invocationError(id, fmt.Sprintf("Invocation ID '%s' is already in use.", id))
			return
		}
		if c.inv.active == nil {
			c.inv.active = make(map[string]context.CancelFunc)
		}
		c.inv.active[id] = cancel
	}
	for i, sid := range streamIDs {
		if c.inv.streams == nil {
			c.inv.streams = make(map[string]*clientStream)
		}
		s := &clientStream{ch: streams[i], elem: streams[i].Type().Elem(), ctx: ctx, call: cl}
		c.inv.streams[sid] = s
		cl.streams = append(cl.streams, s)
	}
	c.inv.mu.Unlock()

	// As in .NET, only plain invocations count against MaxParallelInvocations: a method with stream
	// parameters must not keep the reader from its stream items, and a streaming response runs
	// for as long as the client wants it.
	limited := !streaming && len(streamIDs) == 0
	if limited {
		select {
		case c.inv.sem <- struct{}{}:
		default:
			// Every slot is taken: the reader waits, and watches for its client leaving meanwhile.
			c.blocked.Store(true)
			stop := c.watchHangup()
			select {
			case c.inv.sem <- struct{}{}:
				stop()
				c.blocked.Store(false)
			case <-c.ctx.Done():
				stop()
				c.blocked.Store(false)
				cancel()
				c.forgetInvocation(id, streamIDs)
				return
			}
		}
	}
	go c.run(ctx, cancel, cl, id, values, streamIDs, limited)
}

// run executes one invocation, through the hub's filters, and sends its Completion (or, for a
// stream, its items then a Completion).
func (c *conn) run(ctx context.Context, cancel context.CancelFunc, cl *call, id string, args []reflect.Value, streamIDs []string, limited bool) {
	defer cancel()
	defer c.forgetInvocation(id, streamIDs)
	if limited {
		// Held until the Completion is queued, as in .NET: with one slot, completions come in
		// the order of the invocations.
		defer func() { <-c.inv.sem }()
	}
	m := cl.method
	hc := &Context{Context: ctx, conn: c, call: cl}
	result, err := c.h.invokeMethod(hc, m, args)
	if err == nil {
		// A client stream the client ended with an error fails the invocation unless the method
		// asked why (Context.ClientStreamErr) and still returned normally, as a .NET method that
		// catches the exception its stream reader throws.
		err = cl.unseenStreamError()
	}
	if err != nil {
		c.invocationFailed(id, cl.target, PhaseInvocation, err)
		return
	}
	switch {
	case m.streaming:
		c.forwardStream(ctx, id, result)
	case id == "":
	case m.hasResult:
		var r any
		if result.IsValid() {
			r = result.Interface()
		}
		c.complete(&protocol.Completion{InvocationID: id, HasResult: true, Result: r}, m.name)
	default:
		c.complete(&protocol.Completion{InvocationID: id}, m.name)
	}
}

// unseenStreamError is the first error a client ended one of the call's streams with, when the
// method did not ask for it.
func (cl *call) unseenStreamError() error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for _, s := range cl.streams {
		if s.err != nil && !s.seen {
			return s.err
		}
	}
	return nil
}

// forwardStream sends the items of a server-to-client stream until the producer closes its channel
// or the invocation is cancelled, then the Completion.
func (c *conn) forwardStream(ctx context.Context, id string, ch reflect.Value) {
	if !ch.IsValid() || ch.IsNil() {
		c.complete(&protocol.Completion{InvocationID: id}, "")
		return
	}
	cases := []reflect.SelectCase{
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		{Dir: reflect.SelectRecv, Chan: ch},
	}
	for {
		chosen, item, ok := reflect.Select(cases)
		if chosen == 0 || !ok {
			break
		}
		if err := c.reply(ctx, &protocol.StreamItem{InvocationID: id, Item: item.Interface()}); err != nil {
			if errors.Is(err, ErrConnectionClosed) {
				return
			}
			break // cancelled while waiting for room: the Completion still goes
		}
	}
	c.complete(&protocol.Completion{InvocationID: id}, "")
}

// complete sends a Completion; a result that cannot be encoded becomes an error Completion.
func (c *conn) complete(m *protocol.Completion, method string) {
	err := c.reply(c.ctx, m)
	if err == nil || err == ErrConnectionClosed {
		return
	}
	c.h.log.Error("encode completion", "connection", c.id, "method", method, "err", err)
	c.invocationError(m.InvocationID, fmt.Sprintf("The result of '%s' could not be serialized.", method))
}

// invocationFailed answers a failed invocation with the text Options.ErrorText makes of it.
func (c *conn) invocationFailed(id, target string, phase ErrorPhase, err error) {
	if id == "" {
		c.h.metrics.invocationErrs.Inc()
		c.h.log.Info("fire-and-forget invocation failed", "connection", c.id, "method", target, "err", err)
		return
	}
	if err != nil && phase != PhaseBinding {
		c.h.log.Debug("invocation failed", "connection", c.id, "method", target, "err", err)
	}
	c.invocationError(id, c.h.opts.ErrorText(&InvocationError{Method: target, Phase: phase, Err: err, Detailed: c.h.opts.EnableDetailedErrors}))
}

// invocationError answers an invocation with an error Completion (none for fire-and-forget).
func (c *conn) invocationError(id, text string) {
	c.h.metrics.invocationErrs.Inc()
	if id == "" {
		c.h.log.Info("fire-and-forget invocation failed", "connection", c.id, "err", text)
		return
	}
	if err := c.reply(c.ctx, &protocol.Completion{InvocationID: id, Error: text}); err != nil && err != ErrConnectionClosed {
		c.h.log.Error("send completion", "connection", c.id, "err", err)
	}
}

func (c *conn) forgetInvocation(id string, streamIDs []string) {
	c.inv.mu.Lock()
	defer c.inv.mu.Unlock()
	delete(c.inv.active, id)
	for _, sid := range streamIDs {
		delete(c.inv.streams, sid)
	}
}

// streamItem hands one item of a client-to-server stream to the method. When the stream's buffer is
// full the reader waits: back-pressure on the client.
func (c *conn) streamItem(m *protocol.StreamItem) {
	c.inv.mu.Lock()
	s := c.inv.streams[m.InvocationID]
	c.inv.mu.Unlock()
	if s == nil {
		c.h.log.Debug("stream item for an unknown stream", "connection", c.id, "stream", m.InvocationID)
		return
	}
	raw, _ := m.Item.(protocol.RawValue)
	v := reflect.New(s.elem)
	if s.elem == rawValueType {
		v.Elem().Set(reflect.ValueOf(raw))
	} else if err := c.protocol().Unmarshal(raw, v.Interface()); err != nil {
		c.h.log.Info("stream item does not fit the stream's type", "connection", c.id, "stream", m.InvocationID, "err", err)
		// .NET completes the stream with its binding failure, which the method's reader throws.
		c.endStream(m.InvocationID, buildErrorMessage("Failed to bind Stream message.", &BindingError{Message: errBindingTypes}, c.h.opts.EnableDetailedErrors))
		return
	}
	cases := []reflect.SelectCase{
		{Dir: reflect.SelectSend, Chan: s.ch, Send: v.Elem()},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(s.ctx.Done())},
		{Dir: reflect.SelectDefault},
	}
	if chosen, _, _ := reflect.Select(cases); chosen != 2 {
		return
	}
	// The stream's buffer is full: the reader waits, and watches for its client leaving meanwhile.
	c.blocked.Store(true)
	defer c.blocked.Store(false)
	defer c.watchHangup()()
	reflect.Select(cases[:2])
}

// completion ends a client-to-server stream or delivers a client result.
func (c *conn) completion(m *protocol.Completion) {
	c.inv.mu.Lock()
	waiter := c.inv.results[m.InvocationID]
	delete(c.inv.results, m.InvocationID)
	c.inv.mu.Unlock()
	if waiter != nil {
		waiter <- m // buffered: never blocks
		return
	}
	c.endStream(m.InvocationID, m.Error)
}

// endStream ends a client-to-server stream: its channel closes. A stream the client ended with an
// error keeps the error for the method (Context.ClientStreamErr).
func (c *conn) endStream(id, errText string) {
	c.inv.mu.Lock()
	s := c.inv.streams[id]
	delete(c.inv.streams, id)
	c.inv.mu.Unlock()
	if s == nil {
		return
	}
	if errText != "" {
		s.call.mu.Lock()
		s.err = &ClientStreamError{Message: errText}
		s.call.mu.Unlock()
	}
	s.ch.Close() // only the reader sends on it, and the reader is here
}

// invokeClient invokes a client method and waits for the client's result.
func (c *conn) invokeClient(ctx context.Context, target string, args []any) (Result, error) {
	p := c.protocol()
	if p == nil {
		return Result{}, ErrConnectionClosed
	}
	id := "s" + strconv.FormatUint(c.inv.nextResult.Add(1), 10)
	waiter := make(chan *protocol.Completion, 1)
	c.inv.mu.Lock()
	if c.inv.results == nil {
		c.inv.results = make(map[string]chan *protocol.Completion)
	}
	c.inv.results[id] = waiter
	c.inv.mu.Unlock()
	defer func() {
		c.inv.mu.Lock()
		delete(c.inv.results, id)
		c.inv.mu.Unlock()
	}()
	if err := c.reply(ctx, &protocol.Invocation{InvocationID: id, Target: target, Arguments: args}); err != nil {
		return Result{}, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.h.opts.ClientResultTimeout)
		defer cancel()
	}
	select {
	case m := <-waiter:
		if m.Error != "" {
			return Result{}, &ClientError{Message: m.Error}
		}
		raw, _ := m.Result.(protocol.RawValue)
		return Result{raw: raw, proto: p, has: m.HasResult}, nil
	case <-ctx.Done():
		return Result{}, fmt.Errorf("hub: client result for %q: %w", target, ctx.Err())
	case <-c.ctx.Done():
		return Result{}, ErrConnectionClosed
	}
}

// Result is what a client returned from a method the server invoked.
type Result struct {
	raw   protocol.RawValue
	proto protocol.HubProtocol
	has   bool
}

// Decode decodes the result into v (a pointer).
func (r Result) Decode(v any) error {
	if !r.has {
		return fmt.Errorf("hub: the client returned no result")
	}
	return r.proto.Unmarshal(r.raw, v)
}

// Raw is the result as the client's protocol encoded it, to return it to the same connection
// undecoded. It is nil when the client returned no result.
func (r Result) Raw() protocol.RawValue { return r.raw }
