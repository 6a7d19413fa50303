package hub

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/hub/protocol"
)

func TestReplayBufferAcksAndBounds(t *testing.T) {
	t.Parallel()
	b := newReplayBuffer(10)
	require.Equal(t, int64(1), b.next(), "ids count from 1")
	require.True(t, b.add([]byte("aaaa")))
	require.True(t, b.add([]byte("bbbb")))
	require.False(t, b.add([]byte("ccc")), "4+4+3 bytes outgrow 10")
	require.False(t, b.add([]byte("d")), "once full, nothing more is kept: the client would see a gap")
	require.Equal(t, int64(3), b.next())

	b = newReplayBuffer(10)
	require.True(t, b.add([]byte("a large frame")), "a frame larger than the buffer fits an empty one")
	require.False(t, b.add([]byte("x")))

	b = newReplayBuffer(100)
	for i := range 5 {
		require.True(t, b.add([]byte{byte('0' + i)}))
	}
	b.ack(0)
	require.Len(t, b.frames, 5, "an Ack of nothing frees nothing")
	b.ack(3)
	require.Equal(t, []string{"3", "4"}, frames(b.frames))
	require.Equal(t, int64(4), b.first)
	require.Equal(t, 2, b.bytes)
	b.ack(99)
	require.Empty(t, b.frames, "an Ack past the end frees everything and no more")
	require.Equal(t, int64(6), b.next())
}

func TestSendQueueDetachAndResume(t *testing.T) {
	t.Parallel()
	q, _ := newTestQueue(8)
	q.enableReplay(1000)
	var log spawnLog
	q.setWriter("old", log.spawn, 0)
	q.push([]byte("m1"), false, true)
	q.push([]byte("ping"), false, false)
	q.push([]byte("m2"), true, true)
	batch, _, _ := q.takeOrStop("old")
	require.Equal(t, []string{"m1", "ping", "m2"}, frames(batch))
	q.recycle(batch) // a written batch is cleared: replay keeps its own references

	q.detach()
	ok, _ := q.push([]byte("m3"), true, true)
	require.True(t, ok, "a numbered frame is kept while detached")
	ok, _ = q.push([]byte("ping"), false, false)
	require.False(t, ok, "a ping is not")
	_, _, current := q.takeOrStop("old")
	require.False(t, current, "the old transport's writer stops")

	q.ack(1)
	q.resume("new", log.spawn, 0, func(first int64) []byte { return []byte("seq" + strconv.FormatInt(first, 10)) })
	q.push([]byte("m4"), false, true)
	batch, _, current = q.takeOrStop("new")
	require.True(t, current)
	require.Equal(t, []string{"seq2", "m2", "m3", "m4"}, frames(batch),
		"Sequence of the first unacknowledged id, what the client did not acknowledge, then what came")
}

func TestSendQueueReplyWaitsForAck(t *testing.T) {
	t.Parallel()
	q, _ := newTestQueue(100)
	q.enableReplay(4)
	require.NoError(t, q.pushWait(context.Background(), nil, []byte("abcd")))
	done := make(chan error, 1)
	go func() { done <- q.pushWait(context.Background(), nil, []byte("efgh")) }()
	select {
	case err := <-done:
		t.Fatalf("a reply outgrew the buffer instead of waiting for an Ack: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	q.ack(1)
	require.NoError(t, <-done)
	require.Equal(t, []string{"efgh"}, frames(q.replay.frames))
}

func TestAdmitStateful(t *testing.T) {
	t.Parallel()
	h, err := New("test", Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Shutdown(context.Background()) })
	c := &conn{h: h}
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	c.queue.init(8, nil)
	c.queue.enableReplay(1000)
	c.recv = statefulState{next: 1}
	c.resumable.Store(true)
	inv := &protocol.Invocation{Target: "x"}
	admit := func(m protocol.Message) bool {
		ok, err := c.admitStateful(m)
		require.NoError(t, err)
		return ok
	}
	require.True(t, admit(inv))
	require.True(t, admit(inv))
	require.True(t, admit(&protocol.Ping{}), "a ping is not numbered")
	require.Equal(t, int64(2), c.recvLatest.Load())

	// A resume: nothing counts before the client's Sequence; then what it resends is seen once.
	c.recv.awaitSequence = true
	require.False(t, admit(inv))
	require.False(t, admit(&protocol.Sequence{SequenceID: 2}))
	require.False(t, admit(inv), "id 2 again: handled already")
	require.True(t, admit(inv), "id 3 is new")
	require.Equal(t, int64(3), c.recvLatest.Load())

	_, err = c.admitStateful(&protocol.Sequence{SequenceID: 10})
	require.Error(t, err, "a Sequence past what the client sent is a protocol error")
	require.True(t, c.isClosing())
}

// A relay whose payloads arrive with a gap (the backplane lost one) ends, rather than pass on a
// stream the client would count wrong.
func TestRelayEndsAtAGap(t *testing.T) {
	t.Parallel()
	h, err := New("test", Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Shutdown(context.Background()) })
	e := &relayEnd{h: h, tunnel: h.channel("relay", "t"), connID: "c", out: make(chan [][]byte, 4), done: make(chan struct{})}
	defer h.relays.put(e.tunnel, e)()
	h.relayOut("t", [][]byte{[]byte("data"), []byte("1"), []byte("a")})
	require.Len(t, e.out, 1, "payload 1 is passed on")
	select {
	case <-e.done:
		t.Fatal("ended without a gap")
	default:
	}
	h.relayOut("t", [][]byte{[]byte("data"), []byte("3"), []byte("c")})
	require.Len(t, e.out, 1, "payload 3 after 1 is not passed on")
	select {
	case <-e.done:
	case <-time.After(time.Second):
		t.Fatal("a gap did not end the relay")
	}
}
