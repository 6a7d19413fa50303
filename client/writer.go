package client

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldhq/herald/hub/protocol"
)

// Writes are serialized through one bounded buffer per connection: callers encode their message
// and append the record to conn.out. When no write is in progress, the caller writes the buffer
// itself, as one WebSocket frame (no goroutine hand-off: a third less latency for a lone Invoke);
// records appended during a write are written next by a writer goroutine, which exits once the
// buffer is empty. Several records in one frame is what the official clients do too; a record is
// never split.

// buffers are the encoding and outgoing buffers, shared by every connection.
var buffers = sync.Pool{New: func() any {
	b := make([]byte, 0, 1024)
	return &b
}}

// maxPooledBuffer keeps one large message from pinning a large buffer in the pool.
const maxPooledBuffer = 256 << 10

func getBuffer() *[]byte { return buffers.Get().(*[]byte) }

func putBuffer(b *[]byte) {
	if cap(*b) > maxPooledBuffer {
		return
	}
	*b = (*b)[:0]
	buffers.Put(b)
}

// send encodes m and queues it, waiting while the buffer is full (see Options.WriteBufferSize).
func (cn *conn) send(ctx context.Context, m protocol.Message) error {
	bp := getBuffer()
	rec, err := cn.proto.AppendMessage((*bp)[:0], m)
	if err != nil {
		putBuffer(bp)
		return fmt.Errorf("client: encode %s: %w", m.Type(), err)
	}
	*bp = rec
	err = cn.enqueue(ctx, rec)
	putBuffer(bp)
	return err
}

// sendNow encodes m and queues it without waiting for room: for the few small messages that must
// not block (CancelInvocation from Stream.Close, the end of a cancelled client stream).
func (cn *conn) sendNow(m protocol.Message) error {
	bp := getBuffer()
	defer putBuffer(bp)
	rec, err := cn.proto.AppendMessage((*bp)[:0], m)
	if err != nil {
		return fmt.Errorf("client: encode %s: %w", m.Type(), err)
	}
	*bp = rec
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	if cn.wdone || cn.closing {
		return cn.closedErr()
	}
	if cn.appendLocked(rec) {
		cn.s.g.Go(func() { cn.flush(false) })
	}
	return nil
}

// enqueue appends one record to the outgoing buffer, waiting while it is full, and writes the
// buffer when no write is in progress.
func (cn *conn) enqueue(ctx context.Context, rec []byte) error {
	limit := cn.c.opts.WriteBufferSize
	cn.wmu.Lock()
	for !cn.wdone && !cn.closing && cn.out != nil && len(*cn.out) > 0 && len(*cn.out)+len(rec) > limit {
		if cn.room == nil {
			cn.room = make(chan struct{})
		}
		room := cn.room
		cn.wmu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		}
		cn.wmu.Lock()
	}
	if cn.wdone || cn.closing {
		cn.wmu.Unlock()
		return cn.closedErr()
	}
	write := cn.appendLocked(rec)
	cn.wmu.Unlock()
	if write {
		cn.flush(true)
	}
	return nil
}

// enqueueIfIdle appends a record and writes it, only when nothing else waits to be written (a
// keep-alive ping is pointless then).
func (cn *conn) enqueueIfIdle(rec []byte) {
	cn.wmu.Lock()
	if cn.wdone || cn.closing || cn.flushing || (cn.out != nil && len(*cn.out) > 0) {
		cn.wmu.Unlock()
		return
	}
	write := cn.appendLocked(rec)
	cn.wmu.Unlock()
	if write {
		cn.flush(true)
	}
}

func (cn *conn) closedErr() error { return connectionClosed(context.Cause(cn.ctx)) }

// appendLocked appends rec. It reports whether no write was in progress: the caller must then
// call flush, and no one else will. The caller holds wmu.
func (cn *conn) appendLocked(rec []byte) (mustFlush bool) {
	if cn.out == nil {
		cn.out = getBuffer()
	}
	*cn.out = append(*cn.out, rec...)
	cn.lastSend.Store(now())
	if cn.flushing {
		return false
	}
	cn.flushing = true
	return true
}

// flush writes the buffer until it is empty; after Stop it then closes the socket. Called inline
// by a caller (inline true), it writes one batch only and leaves the rest, and the close, to a
// writer goroutine: a caller never writes for others for long.
func (cn *conn) flush(inline bool) {
	for n := 0; ; n++ {
		cn.wmu.Lock()
		if inline && n > 0 && !cn.wdone && (cn.closing || cn.out != nil && len(*cn.out) > 0) {
			cn.wmu.Unlock()
			cn.s.g.Go(func() { cn.flush(false) })
			return
		}
		bp := cn.out
		cn.out = nil
		if cn.room != nil {
			close(cn.room)
			cn.room = nil
		}
		if bp == nil || len(*bp) == 0 {
			if bp != nil {
				putBuffer(bp)
			}
			cn.flushing = false
			closing := cn.closing && !cn.wdone
			cn.wmu.Unlock()
			if closing {
				// Close waits for the server's answering close frame, bounded by the library.
				if err := cn.ws.Close(websocket.StatusNormalClosure, ""); err != nil {
					cn.c.log.Debug("client: websocket close", "connection", cn.id, "err", err)
				}
			}
			return
		}
		cn.wmu.Unlock()
		err := cn.write(*bp)
		putBuffer(bp)
		if err != nil {
			cn.end(fmt.Errorf("client: write: %w", err))
			cn.wmu.Lock()
			cn.flushing = false
			cn.wmu.Unlock()
			return
		}
	}
}

// write writes one frame. A watchdog timer, made once per connection, bounds it by WriteTimeout:
// cheaper than a context per write.
func (cn *conn) write(frame []byte) error {
	timeout := cn.c.opts.WriteTimeout
	if cn.wtimer == nil {
		cn.wtimer = time.AfterFunc(timeout, cn.writeTimedOut)
	} else {
		cn.wtimer.Reset(timeout)
	}
	err := cn.ws.Write(context.Background(), cn.frame, frame)
	cn.wtimer.Stop()
	return err
}

func (cn *conn) writeTimedOut() {
	cn.end(fmt.Errorf("client: write: timed out after %v", cn.c.opts.WriteTimeout))
}
