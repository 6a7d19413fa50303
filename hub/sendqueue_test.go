package hub

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// spawnLog records the writers a queue starts, and the delay each was asked to wait.
type spawnLog struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (s *spawnLog) spawn(d time.Duration) {
	s.mu.Lock()
	s.delays = append(s.delays, d)
	s.mu.Unlock()
}

func (s *spawnLog) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.delays)
}

func newTestQueue(max int) (*sendQueue, *int) {
	overflows := 0
	q := &sendQueue{}
	q.init(max, func() { overflows++ })
	return q, &overflows
}

func frames(batch [][]byte) []string {
	out := make([]string, len(batch))
	for i, b := range batch {
		out[i] = string(b)
	}
	return out
}

func woken(q *sendQueue) bool {
	select {
	case <-q.wake:
		return true
	default:
		return false
	}
}

func TestSendQueueOrderAndWake(t *testing.T) {
	t.Parallel()
	q, _ := newTestQueue(4)
	require.False(t, woken(q))
	ok, overflow := q.push([]byte("a"), false, false)
	require.True(t, ok)
	require.False(t, overflow)
	q.push([]byte("b"), true, false)
	require.True(t, woken(q), "a push wakes a waiting writer")
	require.False(t, woken(q), "wake holds one signal, never blocks")
	batch, closing := q.take()
	require.Equal(t, []string{"a", "b"}, frames(batch))
	require.False(t, closing)
	require.True(t, q.empty())
	q.recycle(batch)
	q.push([]byte("c"), false, false)
	batch, _ = q.take()
	require.Equal(t, []string{"c"}, frames(batch), "a recycled slice holds no stale frames")
}

func TestSendQueueOverflowClosesOnce(t *testing.T) {
	t.Parallel()
	q, overflows := newTestQueue(2)
	q.push([]byte("a"), false, false)
	q.push([]byte("b"), false, false)
	ok, overflow := q.push([]byte("c"), false, false)
	require.False(t, ok)
	require.True(t, overflow)
	require.Equal(t, 1, *overflows)
	require.True(t, q.isClosing())
	ok, overflow = q.push([]byte("d"), false, false)
	require.False(t, ok)
	require.False(t, overflow, "a closed queue refuses frames without calling it an overflow again")
	require.Equal(t, 1, *overflows)
	batch, closing := q.take()
	require.Equal(t, []string{"a", "b"}, frames(batch), "what was queued before the overflow stays")
	require.True(t, closing)
}

func TestSendQueuePushWaitWaitsForRoom(t *testing.T) {
	t.Parallel()
	q, overflows := newTestQueue(1)
	q.push([]byte("a"), false, false)
	done := make(chan error, 1)
	go func() { done <- q.pushWait(context.Background(), nil, []byte("reply")) }()
	select {
	case err := <-done:
		t.Fatalf("pushWait returned %v with the queue full", err)
	case <-time.After(50 * time.Millisecond):
	}
	batch, _ := q.take()
	require.Equal(t, []string{"a"}, frames(batch))
	require.NoError(t, <-done)
	batch, _ = q.take()
	require.Equal(t, []string{"reply"}, frames(batch))
	require.Zero(t, *overflows, "a reply waits; it never makes the connection a slow consumer")
}

func TestSendQueuePushWaitEnds(t *testing.T) {
	t.Parallel()
	t.Run("context", func(t *testing.T) {
		t.Parallel()
		q, _ := newTestQueue(1)
		q.push([]byte("a"), false, false)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		require.ErrorIs(t, q.pushWait(ctx, nil, []byte("b")), context.Canceled)
	})
	t.Run("connection done", func(t *testing.T) {
		t.Parallel()
		q, _ := newTestQueue(1)
		q.push([]byte("a"), false, false)
		done := make(chan struct{})
		close(done)
		require.ErrorIs(t, q.pushWait(context.Background(), done, []byte("b")), errQueueClosed)
	})
	t.Run("closed while waiting", func(t *testing.T) {
		t.Parallel()
		q, _ := newTestQueue(1)
		q.push([]byte("a"), false, false)
		errc := make(chan error, 1)
		go func() { errc <- q.pushWait(context.Background(), nil, []byte("b")) }()
		time.Sleep(10 * time.Millisecond) // let it wait; the result is the same if it has not yet
		q.close(nil)
		q.take() // the writer takes the rest, which wakes the waiter
		require.ErrorIs(t, <-errc, errQueueClosed)
	})
}

func TestSendQueueCloseQueuesFinalLast(t *testing.T) {
	t.Parallel()
	q, _ := newTestQueue(2)
	q.push([]byte("a"), false, false)
	q.push([]byte("b"), false, false)
	calls := 0
	require.True(t, q.close(func() []byte { calls++; return []byte("close") }),
		"the Close message goes even when the queue is full")
	require.False(t, q.close(func() []byte { calls++; return []byte("again") }))
	require.Equal(t, 1, calls, "final runs once, on the first close")
	batch, closing := q.take()
	require.Equal(t, []string{"a", "b", "close"}, frames(batch))
	require.True(t, closing)
	ok, _ := q.push([]byte("late"), false, false)
	require.False(t, ok)
}

func TestSendQueueDrop(t *testing.T) {
	t.Parallel()
	q, _ := newTestQueue(4)
	q.push([]byte("a"), false, false)
	woken(q)
	q.drop()
	require.True(t, woken(q), "drop wakes the writer so that it ends")
	batch, closing := q.take()
	require.Empty(t, batch)
	require.True(t, closing)
}

func TestSendQueueOpenWith(t *testing.T) {
	t.Parallel()
	q, _ := newTestQueue(4)
	ran := false
	require.True(t, q.openWith([]byte("hello"), func() { ran = true }))
	require.True(t, ran)
	q.close(nil)
	require.False(t, q.openWith([]byte("again"), func() { t.Fatal("then ran on a closed queue") }))
}

func TestSendQueueSpawnedWriter(t *testing.T) {
	t.Parallel()
	q, _ := newTestQueue(8)
	q.push([]byte("before"), false, false)
	require.True(t, woken(q), "before a writer function is set, a push signals wake")
	var log spawnLog
	q.setWriter(&log, log.spawn, 5*time.Millisecond)
	require.Equal(t, 1, log.count(), "what was queued before the writer was set is written at once")

	q.push([]byte("a"), true, false)
	require.Equal(t, 1, log.count(), "no second writer while one runs")
	batch, _, current := q.takeOrStop(&log)
	require.True(t, current)
	require.Equal(t, []string{"before", "a"}, frames(batch))
	_, _, current = q.takeOrStop("another writer")
	require.False(t, current, "a writer whose transport was replaced takes nothing")
	batch, _, _ = q.takeOrStop(&log)
	require.Empty(t, batch, "an empty take stops the writer")

	q.push([]byte("delivered"), true, false)
	require.Equal(t, 2, log.count())
	q.takeOrStop(&log)
	q.takeOrStop(&log)
	q.push([]byte("reply"), false, false)
	require.Equal(t, []time.Duration{0, 5 * time.Millisecond, 0}, log.delays,
		"a delivered frame's writer waits to coalesce; a reply's does not")
	require.False(t, woken(q), "a queue with a writer function does not use wake")

	q.stopWriter(&log)
	require.True(t, q.close(nil))
	require.Equal(t, 4, log.count(), "a close starts a writer to end the transport")
}
