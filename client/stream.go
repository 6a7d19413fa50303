package client

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/heraldhq/herald/hub/protocol"
)

// Stream is the stream of items a streaming hub method sends (see Client.Stream). Its methods are
// safe for concurrent use.
//
// Up to Options.StreamBufferSize items wait for Next; while a stream's buffer is full the
// connection's reader waits for room (see Client.On for what that means), so read streams
// promptly, or Close them.
type Stream struct {
	cn    *conn
	id    string
	items chan protocol.RawValue

	// ctx ends with the stream; the forwarders of client-to-server stream arguments use it.
	ctx    context.Context
	cancel context.CancelFunc

	once   sync.Once
	done   chan struct{} // closed when the stream has ended; err is set first
	err    error
	closed atomic.Bool // Close was called
}

var _ pendingCall = (*Stream)(nil)

func newStream(ctx context.Context, cn *conn, id string) *Stream {
	s := &Stream{
		cn:    cn,
		id:    id,
		items: make(chan protocol.RawValue, cn.c.opts.StreamBufferSize),
		done:  make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	return s
}

// watch cancels the stream on the server when ctx ends first.
func (s *Stream) watch(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() { s.stop(ctx.Err()) })
	// The stream's end releases the watch.
	context.AfterFunc(s.ctx, func() { stop() })
}

// Next waits for the next item and decodes it into v (a pointer, as for Invoke's result; a
// *protocol.RawValue receives the item's wire bytes; nil skips decoding). It returns io.EOF when
// the server completed the stream, a *HubError when the server ended it with an error, an error
// wrapping ErrConnectionClosed when the connection ended, ErrStreamClosed after Close, the error of
// the context given to Client.Stream when that ended, and ctx.Err() when ctx ends before an item
// comes (the stream goes on). Items that arrived before the end are returned first.
func (s *Stream) Next(ctx context.Context, v any) error {
	if s.closed.Load() {
		return ErrStreamClosed
	}
	select {
	case raw := <-s.items:
		return s.decode(raw, v)
	default:
	}
	select {
	case raw := <-s.items:
		return s.decode(raw, v)
	case <-s.done:
		select {
		case raw := <-s.items:
			return s.decode(raw, v)
		default:
			return s.err
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Stream) decode(raw protocol.RawValue, v any) error {
	if v == nil {
		return nil
	}
	if err := s.cn.proto.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("client: decode stream item: %w", err)
	}
	return nil
}

// Close ends the stream: unless it has already ended, the server is sent a CancelInvocation, which
// stops the method's producer. Items not read yet are dropped. Close never waits.
func (s *Stream) Close() error {
	s.closed.Store(true)
	s.stop(ErrStreamClosed)
	return nil
}

// stop ends the stream from the client's side and tells the server.
func (s *Stream) stop(err error) {
	if !s.end(err) {
		return
	}
	if s.cn.take(s.id) == nil {
		return // the server completed it, or the connection ended, meanwhile
	}
	if err := s.cn.sendNow(&protocol.CancelInvocation{InvocationID: s.id}); err != nil {
		s.cn.c.log.Debug("client: stream cancel not sent", "stream", s.id, "err", err)
	}
}

// end records why the stream ended; it reports whether this call ended it.
func (s *Stream) end(err error) bool {
	ended := false
	s.once.Do(func() {
		s.err = err
		close(s.done)
		s.cancel()
		ended = true
	})
	return ended
}

// item implements pendingCall: it runs on the reader and waits while the buffer is full.
func (s *Stream) item(cn *conn, raw protocol.RawValue) {
	select {
	case s.items <- raw:
		return
	default:
	}
	cn.blocked.Store(true)
	defer cn.blocked.Store(false)
	select {
	case s.items <- raw:
	case <-s.done:
	case <-cn.ctx.Done():
	}
}

// complete implements pendingCall.
func (s *Stream) complete(m *protocol.Completion) {
	if m.Error != "" {
		s.end(&HubError{Message: m.Error})
		return
	}
	s.end(io.EOF)
}

// fail implements pendingCall.
func (s *Stream) fail(err error) { s.end(err) }
