package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/backplane"
	"github.com/heraldhq/herald/hub"
)

// countingBackplane counts what is published on the Monitors' trace channels.
type countingBackplane struct {
	backplane.Backplane
	trace atomic.Int64
}

func (c *countingBackplane) Publish(ctx context.Context, channel string, payload []byte) (int, error) {
	if strings.HasPrefix(channel, ":trace:") {
		c.trace.Add(1)
	}
	return c.Backplane.Publish(ctx, channel, payload)
}

// monitored serves a hub named "test" with a started Monitor on bp, node id node.
func monitored(t testing.TB, bp backplane.Backplane, node string, mo hub.MonitorOptions) (*fixture, *hub.Monitor) {
	t.Helper()
	mo.Backplane, mo.NodeID, mo.Logger = bp, node, discardLogger
	mon, err := hub.NewMonitor(mo)
	require.NoError(t, err)
	require.NoError(t, mon.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, mon.Close()) })
	reg := prometheus.NewRegistry()
	h, err := hub.New("test", hub.Options{
		Backplane: bp, Monitor: mon, Logger: discardLogger, Authenticate: testAuthenticate, Metrics: hub.NewMetrics(reg),
	})
	require.NoError(t, err)
	registerBasics(h)
	return serve(t, h, reg), mon
}

// nextEvent returns the next event of w of type typ, skipping others.
func nextEvent(t testing.TB, w *hub.Watch, typ string) hub.Event {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case e := <-w.Events():
			if e.Type == typ {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s event", typ)
		}
	}
}

// activity connects alice, has her invoke Echo, sends her a message and disconnects her.
func activity(t *testing.T, f *fixture) {
	t.Helper()
	c := f.connect(t, "json", "alice")
	c.echo(t)
	require.NoError(t, f.hub.Clients().User("alice").Send(context.Background(), "Msg", "hi"))
	c.invocation(t, "Msg")
	require.NoError(t, c.ws.Close(websocket.StatusNormalClosure, ""))
	eventually(t, func() bool { return f.hub.ConnectionCount() == 0 })
}

// While nobody watches, nothing is traced: no event is emitted and nothing goes on the trace
// channels. A watch turns tracing on; its end turns it off again.
func TestTraceNothingWhileNobodyWatches(t *testing.T) {
	t.Parallel()
	bp := &countingBackplane{Backplane: backplane.NewMemory()}
	f, mon := monitored(t, bp, "n1", hub.MonitorOptions{})
	activity(t, f)
	require.False(t, hub.Tracing(mon))
	require.Zero(t, hub.TraceEmitted(mon), "no event while nobody watches")
	require.Zero(t, bp.trace.Load(), "nothing on the trace channels while nobody watches")

	w, err := mon.Watch(context.Background(), hub.TraceFilter{})
	require.NoError(t, err)
	require.True(t, hub.Tracing(mon))
	activity(t, f)
	for _, typ := range []string{hub.EventConnected, hub.EventInvocation, hub.EventSend, hub.EventDisconnected} {
		nextEvent(t, w, typ)
	}
	w.Close()
	eventually(t, func() bool { return !hub.Tracing(mon) }, "the last watch withdrew the lease")
	emitted, published := hub.TraceEmitted(mon), bp.trace.Load()
	activity(t, f)
	require.Equal(t, emitted, hub.TraceEmitted(mon), "no event once the watch has ended")
	require.Equal(t, published, bp.trace.Load(), "nothing published once the watch has ended")
}

// A watcher on one node sees the events of another, filtered, with the other node's id.
func TestTraceAcrossNodes(t *testing.T) {
	t.Parallel()
	bus := backplane.NewBus()
	a, monA := monitored(t, bus.Node(), "a", hub.MonitorOptions{})
	b, monB := monitored(t, bus.Node(), "b", hub.MonitorOptions{})
	ctx := context.Background()
	alice, err := monA.Watch(ctx, hub.TraceFilter{Hub: "test", User: "alice"})
	require.NoError(t, err)
	defer alice.Close()
	withPayload, err := monA.Watch(ctx, hub.TraceFilter{Types: []string{hub.EventInvocation}, Payload: true})
	require.NoError(t, err)
	defer withPayload.Close()
	eventually(t, func() bool { return hub.Tracing(monB) }, "node b heard of the watches")

	bob := b.connect(t, "messagepack", "bob")
	c := b.connect(t, "json", "alice")
	e := nextEvent(t, alice, hub.EventConnected)
	require.Equal(t, "b", e.Node, "the event comes from node b")
	require.Equal(t, "test", e.Hub)
	require.Equal(t, c.id, e.Connection)
	require.Equal(t, "alice", e.User)
	require.Equal(t, "WebSockets", e.Transport)
	require.Equal(t, "json", e.Protocol)
	require.False(t, e.Time.IsZero())

	require.Equal(t, "x", result[string](t, c, c.invoke(t, "Echo", "x")))
	e = nextEvent(t, alice, hub.EventInvocation)
	require.Equal(t, "Echo", e.Target)
	require.Equal(t, len(`{"type":1,"invocationId":"c1","target":"Echo","arguments":["x"]}`)+1, e.Size)
	require.Empty(t, e.Payload, "no payload unless asked")
	p := nextEvent(t, withPayload, hub.EventInvocation)
	require.JSONEq(t, `["x"]`, string(p.Payload))

	require.Equal(t, 3, result[int](t, bob, bob.invoke(t, "Add", 1, 2)))
	p = nextEvent(t, withPayload, hub.EventInvocation)
	require.Equal(t, "bob", p.User)
	require.Equal(t, "messagepack", p.Protocol)
	require.JSONEq(t, `[1,2]`, string(p.Payload), "MessagePack arguments as JSON")

	require.NoError(t, a.hub.Clients().User("alice").Send(ctx, "Msg", "hello"))
	require.NoError(t, a.hub.Clients().User("bob").Send(ctx, "Msg", "not alice's"))
	e = nextEvent(t, alice, hub.EventSend)
	require.Equal(t, "a", e.Node)
	require.Equal(t, hub.ScopeUser, e.Scope)
	require.Equal(t, "alice", e.To)
	require.Equal(t, "Msg", e.Target)
	require.Positive(t, e.Size)

	require.NoError(t, c.ws.Close(websocket.StatusNormalClosure, ""))
	e = nextEvent(t, alice, hub.EventDisconnected)
	require.Equal(t, c.id, e.Connection)
	require.Equal(t, "normal", e.Reason)
	select {
	case e := <-alice.Events():
		t.Fatalf("alice's watch got another's event: %+v", e)
	default:
	}
	out, err := json.Marshal(e)
	require.NoError(t, err)
	require.NotContains(t, string(out), `"target"`, "empty fields are left out")
	require.NotContains(t, string(out), `"payload"`)
}

// A node that stops renewing its lease (it died) stops being traced for within the lease's TTL.
func TestTraceLeaseExpires(t *testing.T) {
	t.Parallel()
	bus := backplane.NewBus()
	_, mon := monitored(t, bus.Node(), "survivor", hub.MonitorOptions{})
	dead := bus.Node()
	lease := `{"v":1,"node":"dead","ttlMs":1000,"watches":[{"user":"alice"}]}`
	_, err := dead.Publish(context.Background(), hub.LeaseChannel, []byte(lease))
	require.NoError(t, err)
	require.True(t, hub.Tracing(mon))
	eventually(t, func() bool { return !hub.Tracing(mon) }, "the dead node's lease expired")
}

// A watcher that does not keep up loses events, counted, and never holds more than its buffer.
func TestTraceSlowWatcherDropsCounted(t *testing.T) {
	t.Parallel()
	f, mon := monitored(t, backplane.NewMemory(), "n1", hub.MonitorOptions{WatchBuffer: 4})
	w, err := mon.Watch(context.Background(), hub.TraceFilter{Types: []string{hub.EventSend}})
	require.NoError(t, err)
	defer w.Close()
	for i := range 50 {
		require.NoError(t, f.hub.Clients().Group("g").Send(context.Background(), "Msg", i))
	}
	var dropped int64
	eventually(t, func() bool { dropped += w.TakeDropped(); return dropped+int64(len(w.Events())) == 50 })
	require.Equal(t, 4, len(w.Events()), "the buffer holds its bound")
	require.Equal(t, int64(46), dropped)
}

func TestTraceFilterValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, hub.TraceFilter{Types: []string{"send", "connected"}}.Validate())
	require.ErrorContains(t, hub.TraceFilter{Types: []string{"sent"}}.Validate(), `unknown event type "sent"`)
	require.Error(t, hub.TraceFilter{User: strings.Repeat("u", 2000)}.Validate())
	m, err := hub.NewMonitor(hub.MonitorOptions{Logger: discardLogger})
	require.NoError(t, err)
	_, err = m.Watch(context.Background(), hub.TraceFilter{})
	require.ErrorIs(t, err, hub.ErrMonitorNotStarted)
	require.NoError(t, m.Close())
}

func TestDecodeLease(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{
		`{"v":1,"node":"n","ttlMs":6000,"watches":[]}`,
		`{"v":1,"node":"n","ttlMs":6000,"watches":[{"hub":"h","user":"u","connection":"c","types":["send"],"payload":true}]}`,
	} {
		require.NoError(t, hub.DecodeLease([]byte(ok)), ok)
	}
	for _, bad := range []string{
		``, `{}`, `[]`, `{"v":2,"node":"n","ttlMs":6000}`, `{"v":1,"node":"","ttlMs":6000}`,
		`{"v":1,"node":"n","ttlMs":0}`, `{"v":1,"node":"n","ttlMs":600000}`,
		`{"v":1,"node":"n","ttlMs":6000,"watches":[{"types":["nope"]}]}`,
		fmt.Sprintf(`{"v":1,"node":"n","ttlMs":6000,"watches":[%s{}]}`, strings.Repeat(`{},`, 64)),
	} {
		require.Error(t, hub.DecodeLease([]byte(bad)), bad)
	}
}

func FuzzDecodeLease(f *testing.F) {
	f.Add([]byte(`{"v":1,"node":"n","ttlMs":6000,"watches":[{"user":"alice","types":["send"]}]}`))
	f.Add([]byte(`{"v":1,"node":"n","ttlMs":6000,"watches":[]}`))
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		_ = hub.DecodeLease(payload) // must not panic; what it accepts is bounded
	})
}

// The live counts add up every node's connections, users and sends.
func TestClusterStats(t *testing.T) {
	t.Parallel()
	bus := backplane.NewBus()
	a, monA := monitored(t, bus.Node(), "a", hub.MonitorOptions{})
	b, _ := monitored(t, bus.Node(), "b", hub.MonitorOptions{})
	a.connect(t, "json", "alice")
	b.connect(t, "json", "alice")
	b.connect(t, "json", "bob")
	b.connect(t, "json", "")
	require.NoError(t, a.hub.Clients().All().Send(context.Background(), "Msg", 1))
	stats, err := monA.ClusterStats(context.Background())
	require.NoError(t, err)
	require.Len(t, stats, 2)
	require.Equal(t, "a", stats[0].ID)
	require.Equal(t, map[string]int{"test": 1}, stats[0].Connections)
	require.Equal(t, map[string]int{"test": 3}, stats[1].Connections)
	require.ElementsMatch(t, []string{"alice"}, stats[0].Users["test"])
	require.ElementsMatch(t, []string{"alice", "bob"}, stats[1].Users["test"])
	require.Equal(t, uint64(1), stats[0].Sends.Total)
	require.Equal(t, uint64(0), stats[1].Sends.Total)
	require.False(t, stats[1].Started.IsZero())
}
