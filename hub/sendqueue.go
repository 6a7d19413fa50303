package hub

import (
	"context"
	"errors"
	"sync"
	"time"
)

// errQueueClosed is returned by sendQueue.pushWait once the queue no longer takes frames.
var errQueueClosed = errors.New("hub: send queue closed")

// sendQueue is one connection's outgoing frames: a bounded FIFO with its own lock, written by the
// connection's transport.
//
// Two kinds of writer drain it. A WebSocket has no writer goroutine while it is idle (an idle
// connection must cost little memory): when frames arrive and no writer runs, the queue starts one
// with the spawn function the transport set, and that writer returns once it finds the queue
// empty (takeOrStop). Server-Sent Events and long polling have a goroutine of their own waiting
// anyway (the response being written): they wait on wake and take the whole queue each time.
//
// At the bound: push, for messages from others (broadcasts, group and user messages), never
// waits; a full queue means a slow consumer, and the queue closes (onOverflow runs). pushWait, for
// the caller's own replies, waits for room instead, as the .NET server awaits each write.
//
// Once closing, nothing more is queued; the writer ends the transport after writing what is
// queued (a graceful close puts its Close message last) or at once after drop.
type sendQueue struct {
	max int
	// onOverflow runs under the lock when a push finds the queue full, as the queue closes: it
	// records why the connection ends before any writer can see the queue closed.
	onOverflow func()
	// wake is signalled, never blocking, whenever there is something for the writer to do.
	wake chan struct{}

	mu       sync.Mutex
	frames   [][]byte
	spare    [][]byte // a written batch's slice, kept for the next one
	closing  bool
	spawn    func(delay time.Duration) // starts a writer; nil until a WebSocket attaches
	delay    time.Duration             // how long a spawned writer of delivered frames waits to batch more
	writing  bool                      // a spawned writer runs
	roomWait chan struct{}             // closed when the writer takes the queue; nil when nobody waits

	// Stateful reconnect (stateful.go). replay is nil unless the connection negotiated it; owner is
	// the transport whose writer may take frames (a writer of a transport since replaced stops);
	// detached is set while the transport is gone and the connection waits for the client to
	// resume: messages then only go to replay, from which they are written once it resumes.
	replay   *replayBuffer
	owner    any
	detached bool
}

// init prepares a queue of at most max frames; onOverflow may be nil.
func (q *sendQueue) init(max int, onOverflow func()) {
	q.max, q.onOverflow, q.wake = max, onOverflow, make(chan struct{}, 1)
}

// setWriter makes the queue start writers with spawn, each waiting coalesce first when what woke
// it is a delivered frame (see push); owner is what they pass to takeOrStop. What is already
// queued is written at once.
func (q *sendQueue) setWriter(owner any, spawn func(delay time.Duration), coalesce time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.owner, q.spawn, q.delay = owner, spawn, coalesce
	if len(q.frames) > 0 || q.closing {
		q.kickLocked(false)
	}
}

// push queues a frame without waiting. coalesce lets a spawned writer wait a little for more
// frames to the same connection (messages from others: a burst of broadcasts then costs one write
// per connection, not one per message). counted says the frame is a hub message that stateful
// reconnect numbers (an invocation, stream item, completion; not a ping or a Close). It returns
// false when the frame was not queued: the queue is closing, or it was full and has just closed
// (overflow is then true), or the replay buffer is full (the caller closes the connection).
func (q *sendQueue) push(frame []byte, coalesce, counted bool) (ok, overflow bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closing {
		return false, false
	}
	if q.replay != nil {
		switch {
		case counted && !q.replay.add(frame):
			return false, false
		case q.detached:
			// Written from replay when the client resumes; a ping or an Ack is of no use by then.
			return counted, false
		}
	}
	if len(q.frames) >= q.max {
		q.closing = true
		if q.onOverflow != nil {
			q.onOverflow()
		}
		return false, true
	}
	q.frames = append(q.frames, frame)
	q.kickLocked(coalesce)
	return true, false
}

// pushWait queues a frame, waiting while the queue is full until the writer takes it, ctx ends or
// done is closed. It returns errQueueClosed once the queue is closing.
func (q *sendQueue) pushWait(ctx context.Context, done <-chan struct{}, frame []byte) error {
	for {
		q.mu.Lock()
		if q.closing {
			q.mu.Unlock()
			return errQueueClosed
		}
		if q.replay != nil && q.replay.fits(len(frame)) && (q.detached || len(q.frames) < q.max) {
			// The client has acknowledged enough: as the .NET server, a reply waits for acks
			// rather than outgrow the buffer.
			q.replay.add(frame)
			if !q.detached {
				q.frames = append(q.frames, frame)
				q.kickLocked(false)
			}
			q.mu.Unlock()
			return nil
		}
		if q.replay == nil && len(q.frames) < q.max {
			q.frames = append(q.frames, frame)
			q.kickLocked(false)
			q.mu.Unlock()
			return nil
		}
		if q.roomWait == nil {
			q.roomWait = make(chan struct{})
		}
		room := q.roomWait
		q.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			return errQueueClosed
		}
	}
}

// openWith queues frame unless the queue is closing, and runs then, under the lock, once it is
// queued: a close that comes afterwards sees what then changed (the handshake response is queued
// and the connection is marked handshaken in one step).
func (q *sendQueue) openWith(frame []byte, then func()) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closing {
		return false
	}
	q.frames = append(q.frames, frame)
	then()
	q.kickLocked(false)
	return true
}

// close stops the queue taking frames; what is queued is still written, then final's frame (if
// final returns one), and the writer ends the transport. final runs under the lock, before the
// queue is seen closed, so it can also record why the connection ends. close returns false, and
// does not call final, when the queue was already closing.
func (q *sendQueue) close(final func() []byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closing {
		return false
	}
	if final != nil {
		if frame := final(); frame != nil {
			q.frames = append(q.frames, frame)
		}
	}
	q.closing = true
	q.kickLocked(false)
	return true
}

// drop closes the queue and discards what it holds: the connection ends at once.
func (q *sendQueue) drop() {
	q.mu.Lock()
	q.closing = true
	q.frames = nil
	q.mu.Unlock()
	q.signal()
}

// dropAndFlush is drop for a connection the client is leaving: what is queued is discarded, and
// the writer still ends the transport as after a graceful close (a WebSocket gets its close frame).
func (q *sendQueue) dropAndFlush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closing = true
	q.frames = nil
	q.kickLocked(false)
}

// take removes and returns everything queued, and whether the queue is closing.
func (q *sendQueue) take() (batch [][]byte, closing bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.takeLocked(), q.closing
}

// takeOrStop is take for a spawned writer of owner's: when nothing is queued it marks the writer
// stopped, in the same step, so that the next push starts a new one. current is false when owner
// is no longer the queue's writer (its transport was replaced): the writer stops at once.
func (q *sendQueue) takeOrStop(owner any) (batch [][]byte, closing, current bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.owner != owner {
		return nil, false, false
	}
	batch = q.takeLocked()
	if len(batch) == 0 {
		q.writing = false
	}
	return batch, q.closing, true
}

// stopWriter marks owner's spawned writer that gave up (its transport failed) as stopped.
func (q *sendQueue) stopWriter(owner any) {
	q.mu.Lock()
	if q.owner == owner {
		q.writing = false
	}
	q.mu.Unlock()
}

func (q *sendQueue) takeLocked() [][]byte {
	batch := q.frames
	q.frames = q.spare[:0]
	q.spare = nil
	q.wakeRoomLocked()
	return batch
}

// wakeRoomLocked wakes the replies waiting for room.
func (q *sendQueue) wakeRoomLocked() {
	if q.roomWait != nil {
		close(q.roomWait)
		q.roomWait = nil
	}
}

// recycle gives a written batch's slice back for a later take.
func (q *sendQueue) recycle(batch [][]byte) {
	clear(batch)
	q.mu.Lock()
	if q.spare == nil && cap(batch) <= 256 {
		q.spare = batch[:0]
	}
	q.mu.Unlock()
}

// empty reports whether nothing is queued.
func (q *sendQueue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.frames) == 0
}

// isClosing reports whether the queue has stopped taking frames.
func (q *sendQueue) isClosing() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closing
}

// kickLocked tells the writer there is work: it starts a spawned writer when none runs (waiting
// delay first for a coalescing push), or signals wake.
func (q *sendQueue) kickLocked(coalesce bool) {
	if q.spawn == nil {
		q.signal()
		return
	}
	if q.writing {
		return
	}
	q.writing = true
	var d time.Duration
	if coalesce {
		d = q.delay
	}
	q.spawn(d)
}

func (q *sendQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}
