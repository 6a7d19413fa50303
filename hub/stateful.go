package hub

import (
	"errors"
	"net/http"
	"time"

	"github.com/heraldhq/herald/hub/protocol"
)

// Stateful reconnect, as the official clients' withStatefulReconnect() speaks it (WebSockets only).
//
// The client asks in negotiate (useStatefulReconnect=true) and, when the server agrees, shakes
// hands with version 2. From then on each side numbers the hub messages it sends (invocations,
// stream items, completions, stream invocations and cancels; not pings, Acks, Sequences or Close)
// from 1, keeps those the peer has not acknowledged, and acknowledges what it received about once
// a second (Ack). When the WebSocket drops, the client opens a new one with the same id= token
// (no negotiate, no handshake) and sends Sequence{first id it resends}, then what it kept; the
// server does the same. Each side ignores what arrives until the peer's Sequence, and drops what
// it has seen already. So nothing is lost or doubled across the blip.
//
// Here: the connection's sendQueue keeps the numbered frames in a replayBuffer, in the order they
// were queued, freed by the client's Acks. A WebSocket that drops detaches the connection instead
// of ending it: the connection stays in its groups and indexes, messages go on into the buffer,
// and a WebSocket that comes with the token within DisconnectTimeout resumes it. A new WebSocket
// that comes while the server still thinks the old one alive (the client saw the drop first)
// takes the connection over from it. A buffer that would outgrow StatefulReconnectBufferSize
// closes the connection (the client then reconnects afresh): a message from someone else cannot
// wait, and dropping it would leave a gap.

// errResumeTimeout ends a detached connection whose client did not come back in time.
var errResumeTimeout = errors.New("hub: the client did not resume the connection within the disconnect timeout")

// errReplayOverflow ends a connection whose client acknowledged too little for its buffer.
var errReplayOverflow = errors.New("hub: stateful reconnect buffer overflowed")

// replayBuffer holds a stateful connection's numbered frames that the client has not acknowledged,
// oldest first. It is guarded by the sendQueue's lock.
type replayBuffer struct {
	max    int
	frames [][]byte
	first  int64 // the id of frames[0]; ids count from 1
	bytes  int
	full   bool // a frame did not fit: no later one may be kept either, or the client would see a gap
}

func newReplayBuffer(max int) *replayBuffer { return &replayBuffer{max: max, first: 1} }

// next is the id the next frame gets.
func (b *replayBuffer) next() int64 { return b.first + int64(len(b.frames)) }

// fits reports whether a frame of n bytes may be kept now. A frame larger than the whole buffer
// fits an empty one, as in the .NET server and the clients.
func (b *replayBuffer) fits(n int) bool {
	return !b.full && (b.bytes == 0 || b.bytes+n <= b.max)
}

// add keeps frame, or marks the buffer full and returns false.
func (b *replayBuffer) add(frame []byte) bool {
	if !b.fits(len(frame)) {
		b.full = true
		return false
	}
	b.frames = append(b.frames, frame)
	b.bytes += len(frame)
	return true
}

// ack frees the frames up to id.
func (b *replayBuffer) ack(id int64) {
	n := int(min(id-b.first+1, int64(len(b.frames))))
	if n <= 0 {
		return
	}
	for _, f := range b.frames[:n] {
		b.bytes -= len(f)
	}
	clear(b.frames[:n])
	b.frames = b.frames[n:]
	b.first += int64(n)
}

// enableReplay makes the queue keep numbered frames for stateful reconnect; before any is queued.
func (q *sendQueue) enableReplay(max int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.replay = newReplayBuffer(max)
}

// ack frees what the client acknowledged, waking replies waiting for room.
func (q *sendQueue) ack(id int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.replay != nil {
		q.replay.ack(id)
		q.wakeRoomLocked()
	}
}

// detach stops writing: the transport is gone. Queued frames are dropped (the numbered ones are
// in replay), and the current writer, whatever it was doing, stops at its next take.
func (q *sendQueue) detach() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.detached = true
	q.frames = nil
	q.owner, q.spawn, q.writing = nil, nil, false
}

// resume starts writing to a new transport: first the Sequence message sequence builds for the
// first id it will write, then every frame the client has not acknowledged, then what comes.
func (q *sendQueue) resume(owner any, spawn func(time.Duration), coalesce time.Duration, sequence func(first int64) []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.detached = false
	// A new slice: a written batch is cleared for reuse, and replay's frames must stay.
	frames := make([][]byte, 0, 1+len(q.replay.frames))
	frames = append(frames, sequence(q.replay.first))
	q.frames = append(frames, q.replay.frames...)
	q.owner, q.spawn, q.delay, q.writing = owner, spawn, coalesce, false
	q.kickLocked(false)
}

// statefulState is the receive side of stateful reconnect, guarded by the connection's recvMu.
type statefulState struct {
	next          int64 // the id the client's next numbered message has
	latest        int64 // the highest id processed
	awaitSequence bool  // resumed: ignore everything until the client's Sequence
}

// counted reports whether stateful reconnect numbers m.
func counted(m protocol.Message) bool {
	switch m.(type) {
	case *protocol.Invocation, *protocol.StreamItem, *protocol.Completion, *protocol.StreamInvocation, *protocol.CancelInvocation:
		return true
	}
	return false
}

// admitStateful filters a received message of a stateful connection: it acts on Ack and Sequence,
// drops what comes before the client's Sequence after a resume and what was processed already,
// and numbers the rest. It returns whether m is to be handled, or an error that closed the
// connection. The caller holds recvMu.
func (c *conn) admitStateful(m protocol.Message) (bool, error) {
	s := &c.recv
	switch m := m.(type) {
	case *protocol.Ack:
		c.queue.ack(m.SequenceID)
		return false, nil
	case *protocol.Sequence:
		if m.SequenceID > s.next || m.SequenceID < 1 {
			err := errors.New("hub: Sequence ID greater than amount of messages we've received")
			c.close(closeReason{message: "Connection closed with an error: Sequence ID greater than amount of messages we've received.", err: err})
			return false, err
		}
		s.next, s.awaitSequence = m.SequenceID, false
		return false, nil
	}
	if s.awaitSequence {
		return false, nil
	}
	if !counted(m) {
		return true, nil
	}
	id := s.next
	s.next++
	if id <= s.latest {
		return false, nil // sent again after a resume, and handled already
	}
	s.latest = id
	c.recvLatest.Store(id)
	return true, nil
}

// sendAck acknowledges what the client sent since the last Ack; the sweeper calls it (about once a
// second, as the clients do).
func (c *conn) sendAck() {
	latest := c.recvLatest.Load()
	if latest <= c.ackSent.Load() || c.isDetached() {
		return
	}
	c.ackSent.Store(latest)
	if frame, err := c.protocol().AppendMessage(nil, &protocol.Ack{SequenceID: latest}); err == nil {
		c.send(frame)
	}
}

// isDetached reports whether a stateful connection lost its transport and waits for the client.
func (c *conn) isDetached() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.detached
}

// transportLost ends the connection whose transport t failed, or, for a stateful connection that
// is not closing, detaches it to wait for the client to resume. A transport already replaced
// changes nothing.
func (c *conn) transportLost(t transport, err error) {
	c.mu.Lock()
	switch {
	case c.transport != t:
		c.mu.Unlock()
		return
	case c.resumable.Load() && !c.tornDown && !c.queue.isClosing():
		if !c.detached {
			c.detachLocked()
			c.h.log.Debug("connection detached; waiting for the client to resume", "connection", c.id, "err", err)
		}
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.abort(err)
}

// detachLocked marks the connection detached from its transport; c.mu is held.
func (c *conn) detachLocked() {
	c.detached = true
	c.detachedAt = time.Now()
	c.queue.detach()
	c.h.metrics.detached.Inc()
}

// attachResume binds t, a WebSocket coming with the token of a stateful connection that has a
// transport: the old one is dropped (the client saw the blip before the server) and t resumes the
// connection once upgraded. It returns false when the connection cannot be resumed.
func (c *conn) attachResume(t transport, r *http.Request) bool {
	c.mu.Lock()
	if !c.resumable.Load() || c.tornDown || c.queue.isClosing() || c.transport == nil || c.transport.kind() != WebSockets {
		c.mu.Unlock()
		return false
	}
	old := c.transport
	if !c.detached {
		c.detachLocked()
	}
	c.transport = t
	if r != nil {
		c.req = captureRequest(r) // a relay keeps the request of the first WebSocket
	}
	c.mu.Unlock()
	old.abort() // its reader sees the socket close; transportLost then ignores it
	return true
}

// resumeWith starts writing to t, attached by attachResume and upgraded, with writers spawn starts:
// Sequence, what the client did not acknowledge, then the rest; what the client sends is ignored
// until its Sequence. It returns false when t is no longer the connection's transport (a newer
// resume took over while t was upgraded, or the connection ended): the caller closes t.
func (c *conn) resumeWith(t transport, spawn func(time.Duration)) bool {
	c.recvMu.Lock()
	c.inbuf = nil // a partial record of the old socket
	c.recv.awaitSequence = true
	c.recvMu.Unlock()
	c.mu.Lock()
	if c.transport != t || c.tornDown {
		c.mu.Unlock()
		return false
	}
	c.detached = false
	c.mu.Unlock()
	now := c.h.now()
	c.lastRecv.Store(now)
	c.lastSend.Store(now)
	c.ackSent.Store(0) // acknowledge again what the client may resend
	p := c.protocol()
	c.queue.resume(t, spawn, c.h.opts.WriteCoalesce, func(first int64) []byte {
		frame, _ := p.AppendMessage(nil, &protocol.Sequence{SequenceID: first}) // a Sequence always encodes
		return frame
	})
	c.h.metrics.resumed.Inc()
	c.h.log.Debug("connection resumed", "connection", c.id)
	return true
}

// watchHangup runs while the connection's reader is blocked (on an invocation slot or a full
// client-stream buffer) and so reads nothing: a WebSocket whose client has gone would otherwise
// not be noticed until the reader is free again. It polls the socket for the peer's hang-up
// without reading, and ends the transport when it comes. The returned func stops it.
func (c *conn) watchHangup() (stop func()) {
	t, ok := c.transportOf().(*wsTransport)
	if !ok {
		return func() {}
	}
	s := t.socket.Load()
	if s == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-c.ctx.Done():
				return
			default:
			}
			if peerHungUp(s.NetConn(), 200) {
				t.abort()
				c.transportLost(t, errTransportGone)
				return
			}
		}
	}()
	return func() { close(done) }
}
