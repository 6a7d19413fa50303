// Package backplanetest is the conformance suite every backplane.Backplane implementation must pass.
package backplanetest

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/backplane"
)

// NewCluster returns a function that makes nodes of one fresh, isolated cluster: every node made by
// the same returned function sees the others' messages, and nothing of any other cluster. The suite
// closes the nodes it makes.
type NewCluster func(t *testing.T) func() backplane.Backplane

// waitFor bounds every wait for a delivery; deliveries that must NOT happen are checked by publishing
// a marker afterwards on the same channel and waiting for it instead of sleeping.
const waitFor = 5 * time.Second

// Run runs the conformance suite.
func Run(t *testing.T, newCluster NewCluster) {
	t.Run("DeliversToEveryNodeIncludingPublisher", func(t *testing.T) {
		t.Parallel()
		node := newCluster(t)
		a, b, c := open(t, node), open(t, node), open(t, node)
		ra, rb := subscribe(t, a, "all"), subscribe(t, b, "all")
		publish(t, c, "all", "hello")
		ra.expect(t, "hello")
		rb.expect(t, "hello")
		publish(t, a, "all", "self")
		ra.expect(t, "self")
		rb.expect(t, "self")
	})
	t.Run("ChannelsAreIsolated", func(t *testing.T) {
		t.Parallel()
		node := newCluster(t)
		a, b := open(t, node), open(t, node)
		ru := subscribe(t, a, "user:a")
		rab := subscribe(t, b, "user:ab")
		publish(t, b, "user:ab", "for-ab")
		publish(t, b, "user:a", "for-a")
		ru.expect(t, "for-a")
		rab.expect(t, "for-ab")
		ru.none(t)
		rab.none(t)
	})
	t.Run("ClustersAreIsolated", func(t *testing.T) {
		t.Parallel()
		one, two := open(t, newCluster(t)), open(t, newCluster(t))
		r1, r2 := subscribe(t, one, "all"), subscribe(t, two, "all")
		publish(t, two, "all", "two")
		publish(t, one, "all", "one")
		r1.expect(t, "one")
		r2.expect(t, "two")
		r1.none(t)
		r2.none(t)
	})
	t.Run("UnsubscribeStopsDelivery", func(t *testing.T) {
		t.Parallel()
		node := newCluster(t)
		a, b := open(t, node), open(t, node)
		ra, rb := subscribe(t, a, "group:g"), subscribe(t, b, "group:g")
		require.NoError(t, a.Unsubscribe(context.Background(), "group:g"))
		require.NoError(t, a.Unsubscribe(context.Background(), "never-subscribed"))
		publish(t, b, "group:g", "after")
		rb.expect(t, "after")
		ra.none(t)
	})
	t.Run("ResubscribeReplacesHandler", func(t *testing.T) {
		t.Parallel()
		a := open(t, newCluster(t))
		first := subscribe(t, a, "c")
		second := subscribe(t, a, "c")
		publish(t, a, "c", "x")
		second.expect(t, "x")
		first.none(t)
	})
	t.Run("PreservesOrderOfOnePublisher", func(t *testing.T) {
		t.Parallel()
		node := newCluster(t)
		a, b := open(t, node), open(t, node)
		rb := subscribe(t, b, "ordered")
		const n = 500
		for i := range n {
			publish(t, a, "ordered", fmt.Sprint(i))
		}
		for i := range n {
			rb.expect(t, fmt.Sprint(i))
		}
	})
	t.Run("PayloadsAreByteExact", func(t *testing.T) {
		t.Parallel()
		node := newCluster(t)
		a, b := open(t, node), open(t, node)
		rb := subscribe(t, b, "bin")
		big := bytes.Repeat([]byte{0, 0x1e, 0xff, 'a'}, 256*1024)
		for _, p := range [][]byte{{}, {0}, []byte("héllo\n\x1e"), big} {
			_, err := a.Publish(context.Background(), "bin", p)
			require.NoError(t, err)
			got := rb.next(t)
			require.True(t, bytes.Equal(p, got), "payload of %d bytes changed in transit (got %d bytes)", len(p), len(got))
		}
	})
	t.Run("ConcurrentPublishers", func(t *testing.T) {
		t.Parallel()
		node := newCluster(t)
		sub := open(t, node)
		rs := subscribe(t, sub, "busy")
		const publishers, each = 4, 100
		var wg sync.WaitGroup
		for p := range publishers {
			pub := open(t, node)
			wg.Go(func() {
				for i := range each {
					if _, err := pub.Publish(context.Background(), "busy", fmt.Appendf(nil, "%d-%d", p, i)); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		last := make(map[string]int)
		for range publishers * each {
			var p, i int
			_, err := fmt.Sscanf(string(rs.next(t)), "%d-%d", &p, &i)
			require.NoError(t, err)
			key := fmt.Sprint(p)
			if prev, ok := last[key]; ok {
				require.Greater(t, i, prev, "publisher %d's messages arrived out of order", p)
			}
			last[key] = i
		}
	})
	t.Run("PublishCountsReceivingNodes", func(t *testing.T) {
		t.Parallel()
		node := newCluster(t)
		a, b, c := open(t, node), open(t, node), open(t, node)
		subscribe(t, a, "counted")
		subscribe(t, b, "counted")
		n, err := c.Publish(context.Background(), "counted", []byte("x"))
		require.NoError(t, err)
		require.Equal(t, 2, n, "two nodes subscribe to the channel")
		n, err = c.Publish(context.Background(), "nobody", []byte("x"))
		require.NoError(t, err)
		require.Zero(t, n, "nobody subscribes to the channel")
		require.NoError(t, b.Unsubscribe(context.Background(), "counted"))
		// Unsubscribe stops delivery to b at once, but a bus may learn of it a moment later (Redis
		// reads the UNSUBSCRIBE on b's connection, the PUBLISH on c's: nothing orders the two).
		require.Eventually(t, func() bool {
			n, err = c.Publish(context.Background(), "counted", []byte("x"))
			return err == nil && n == 1
		}, 5*time.Second, 10*time.Millisecond, "one node unsubscribed: the count must come down to 1 (last: %d, %v)", n, err)
	})
	t.Run("ClosedNodeRefusesCalls", func(t *testing.T) {
		t.Parallel()
		node := newCluster(t)
		a := node()
		require.NoError(t, a.Close())
		require.NoError(t, a.Close(), "Close is idempotent")
		_, err := a.Publish(context.Background(), "x", nil)
		require.ErrorIs(t, err, backplane.ErrClosed)
		require.ErrorIs(t, a.Subscribe(context.Background(), "x", func(string, []byte) {}), backplane.ErrClosed)
	})
	t.Run("Store", func(t *testing.T) {
		t.Parallel()
		node := newCluster(t)
		a, b := open(t, node), open(t, node)
		sa, ok := a.(backplane.Store)
		if !ok {
			t.Skip("this backplane keeps no state (backplane.Store): the hub keeps its own, for one node")
		}
		runStore(t, sa, b.(backplane.Store), open(t, newCluster(t)).(backplane.Store))
	})
	t.Run("CancelledContext", func(t *testing.T) {
		t.Parallel()
		a := open(t, newCluster(t))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := a.Publish(ctx, "x", []byte("y"))
		require.Error(t, err)
	})
}

func open(t *testing.T, node func() backplane.Backplane) backplane.Backplane {
	t.Helper()
	b := node()
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return b
}

func publish(t *testing.T, b backplane.Backplane, channel, payload string) {
	t.Helper()
	_, err := b.Publish(context.Background(), channel, []byte(payload))
	require.NoError(t, err)
}

// receiver collects what one subscription receives.
type receiver struct {
	channel string
	pub     backplane.Backplane
	ch      chan []byte
}

func subscribe(t *testing.T, b backplane.Backplane, channel string) *receiver {
	t.Helper()
	r := &receiver{channel: channel, pub: b, ch: make(chan []byte, 4096)}
	require.NoError(t, b.Subscribe(context.Background(), channel, func(got string, payload []byte) {
		if got != channel {
			panic(fmt.Sprintf("handler for %q got a payload for %q", channel, got))
		}
		r.ch <- bytes.Clone(payload)
	}))
	return r
}

func (r *receiver) next(t *testing.T) []byte {
	t.Helper()
	select {
	case p := <-r.ch:
		return p
	case <-time.After(waitFor):
		t.Fatalf("nothing received on %q within %s", r.channel, waitFor)
		return nil
	}
}

func (r *receiver) expect(t *testing.T, want string) {
	t.Helper()
	require.Equal(t, want, string(r.next(t)))
}

// none checks that nothing is pending: a marker published now on the same channel must be the next
// thing received. Only meaningful while the receiver's handler is still subscribed; for an
// unsubscribed or replaced handler it checks the buffer after a round trip through the bus.
func (r *receiver) none(t *testing.T) {
	t.Helper()
	marker := fmt.Sprintf("marker-%p-%d", r, time.Now().UnixNano())
	probe := r.ch
	// Route the marker through a private channel so that an unsubscribed receiver can still use it.
	done := make(chan struct{})
	probeChannel := r.channel + "#probe-" + marker
	require.NoError(t, r.pub.Subscribe(context.Background(), probeChannel, func(string, []byte) { close(done) }))
	_, err := r.pub.Publish(context.Background(), probeChannel, []byte(marker))
	require.NoError(t, err)
	select {
	case <-done:
	case <-time.After(waitFor):
		t.Fatalf("probe on %q not received", probeChannel)
	}
	require.NoError(t, r.pub.Unsubscribe(context.Background(), probeChannel))
	select {
	case p := <-probe:
		t.Fatalf("unexpected delivery on %q: %q", r.channel, p)
	default:
	}
}

// runStore checks a Store: a and b are nodes of one cluster, other a node of another.
func runStore(t *testing.T, a, b, other backplane.Store) {
	ctx := context.Background()
	members := func(s backplane.Store, key string) map[string]time.Time {
		t.Helper()
		m, err := s.SetMembers(ctx, key)
		require.NoError(t, err)
		return m
	}
	require.Empty(t, members(a, "set:unknown"))

	soon := time.Now().Add(300 * time.Millisecond)
	later := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	require.NoError(t, a.SetAdd(ctx, "set:u", "g1", time.Time{}))
	require.NoError(t, a.SetAdd(ctx, "set:u", "g2", later))
	require.NoError(t, a.SetAdd(ctx, "set:u", "g3", soon))
	got := members(b, "set:u")
	require.Len(t, got, 3, "the other node sees the set")
	require.True(t, got["g1"].IsZero(), "no expiry")
	require.WithinDuration(t, later, got["g2"], time.Millisecond)
	require.Empty(t, members(other, "set:u"), "another cluster does not")

	require.Eventually(t, func() bool { _, ok := members(b, "set:u")["g3"]; return !ok },
		5*time.Second, 50*time.Millisecond, "an expired member goes")
	require.Len(t, members(a, "set:u"), 2)

	require.NoError(t, b.SetAdd(ctx, "set:u", "g1", later), "re-adding replaces the expiry")
	require.WithinDuration(t, later, members(a, "set:u")["g1"], time.Millisecond)

	require.NoError(t, b.SetRemove(ctx, "set:u", "g2", "nobody"))
	require.Equal(t, []string{"g1"}, keys(members(a, "set:u")))
	require.NoError(t, a.SetRemove(ctx, "set:u"))
	require.Empty(t, members(b, "set:u"), "no members: the whole set goes")

	ok, err := a.Claim(ctx, "claim:k", 400*time.Millisecond)
	require.NoError(t, err)
	require.True(t, ok, "the first claim")
	ok, err = b.Claim(ctx, "claim:k", time.Minute)
	require.NoError(t, err)
	require.False(t, ok, "claimed already, on another node")
	ok, err = other.Claim(ctx, "claim:k", time.Minute)
	require.NoError(t, err)
	require.True(t, ok, "another cluster's key is another key")
	ok, err = a.Claim(ctx, "claim:x", 300*time.Millisecond)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, b.Extend(ctx, "claim:x", time.Minute))
	time.Sleep(500 * time.Millisecond)
	ok, err = a.Claim(ctx, "claim:x", time.Minute)
	require.NoError(t, err)
	require.False(t, ok, "an extended claim outlives its first ttl")
	require.NoError(t, a.Extend(ctx, "claim:never", time.Minute), "extending no claim is no error")
	ok, err = a.Claim(ctx, "claim:never", time.Minute)
	require.NoError(t, err)
	require.True(t, ok, "and makes none")

	require.NoError(t, a.Release(ctx, "claim:k"))
	ok, err = b.Claim(ctx, "claim:k", 400*time.Millisecond)
	require.NoError(t, err)
	require.True(t, ok, "a released claim can be made again")
	require.Eventually(t, func() bool {
		ok, err := b.Claim(ctx, "claim:k", time.Minute)
		require.NoError(t, err)
		return ok
	}, 5*time.Second, 50*time.Millisecond, "a claim expires")

	runLog(t, a, b, other)
}

// runLog checks a Store's logs: numbered from 1 across nodes, bounded, read from a number on,
// expiring.
func runLog(t *testing.T, a, b, other backplane.Store) {
	ctx := context.Background()
	since := func(s backplane.Store, key string, after int64, limit int) backplane.LogRead {
		t.Helper()
		r, err := s.LogSince(ctx, key, after, limit)
		require.NoError(t, err)
		return r
	}
	require.Equal(t, backplane.LogRead{}, since(a, "log:unknown", 0, 10), "an unknown log is empty, numbered 0")
	for i := 1; i <= 6; i++ {
		node := a
		if i%2 == 0 {
			node = b
		}
		seq, err := node.LogAppend(ctx, "log:u", []byte("v"+strconv.Itoa(i)), 4, time.Minute)
		require.NoError(t, err)
		require.Equal(t, int64(i), seq, "numbered one past the last, whichever node appends")
	}
	r := since(b, "log:u", 0, 10)
	require.Equal(t, int64(3), r.First, "the last 4 are kept")
	require.Equal(t, int64(6), r.Last)
	require.Len(t, r.Entries, 4)
	require.Equal(t, backplane.LogEntry{Seq: 3, Value: []byte("v3")}, r.Entries[0])
	r = since(a, "log:u", 4, 10)
	require.Equal(t, []backplane.LogEntry{{Seq: 5, Value: []byte("v5")}, {Seq: 6, Value: []byte("v6")}}, r.Entries)
	require.Len(t, since(a, "log:u", 2, 1).Entries, 1, "at most limit")
	require.Empty(t, since(a, "log:u", 6, 10).Entries)
	require.Equal(t, backplane.LogRead{}, since(other, "log:u", 0, 10), "another cluster's log is another log")

	_, err := a.LogAppend(ctx, "log:short", []byte("x"), 10, 300*time.Millisecond)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return since(b, "log:short", 0, 10).Last == 0 },
		5*time.Second, 50*time.Millisecond, "a log expires ttl after its last append")
	seq, err := b.LogAppend(ctx, "log:short", []byte("y"), 10, time.Minute)
	require.NoError(t, err)
	require.Equal(t, int64(1), seq, "and its numbering starts again")
}

func keys(m map[string]time.Time) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
