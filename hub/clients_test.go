package hub_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/backplane"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/hub/protocol"
)

// target names a Clients API call that a hub method makes on the caller's behalf.
type target struct {
	Kind   string   `json:"kind" msgpack:"kind"`
	IDs    []string `json:"ids" msgpack:"ids"`
	Names  []string `json:"names" msgpack:"names"` // groups or users
	Tag    string   `json:"tag" msgpack:"tag"`
	Except []string `json:"except" msgpack:"except"`
}

func (tg target) proxy(c *hub.Context) hub.ClientProxy {
	cl := c.Clients()
	switch tg.Kind {
	case "All":
		return cl.All()
	case "AllExcept":
		return cl.AllExcept(tg.IDs...)
	case "Caller":
		return cl.Caller()
	case "Others":
		return cl.Others()
	case "Client":
		return cl.Client(tg.IDs[0])
	case "Clients":
		return cl.Clients(tg.IDs...)
	case "Group":
		return cl.Group(tg.Names[0])
	case "Groups":
		return cl.Groups(tg.Names...)
	case "GroupExcept":
		return cl.GroupExcept(tg.Names[0], tg.IDs...)
	case "OthersInGroup":
		return cl.OthersInGroup(tg.Names[0])
	case "User":
		return cl.User(tg.Names[0])
	case "Users":
		return cl.Users(tg.Names...)
	}
	panic("unknown target " + tg.Kind)
}

// registerClientsAPI adds Join, Leave and Send, which sends "Msg"(tag) to a target.
func registerClientsAPI(h *hub.Hub) {
	h.On("Join", func(c *hub.Context, group string) error {
		return c.Groups().Add(c, c.ConnectionID(), group)
	})
	h.On("Leave", func(c *hub.Context, group string) error {
		return c.Groups().Remove(c, c.ConnectionID(), group)
	})
	h.On("Send", func(c *hub.Context, tg target) error {
		return tg.proxy(c).Send(c, "Msg", tg.Tag)
	})
}

// received reads c's messages up to the Invocation "Marker"(marker) and returns the tags of the
// "Msg" invocations before it, in order. Completions and pings are skipped.
func received(t *testing.T, c *wsClient, marker string) []string {
	t.Helper()
	var tags []string
	for {
		switch m := c.next(t).(type) {
		case *protocol.Completion:
			require.Empty(t, m.Error)
		case *protocol.Invocation:
			require.Empty(t, m.InvocationID, "a broadcast expects no result")
			require.Len(t, m.Arguments, 1)
			arg := decode[string](t, c.proto, m.Arguments[0])
			switch m.Target {
			case "Marker":
				require.Equal(t, marker, arg, "markers out of order")
				return tags
			case "Msg":
				tags = append(tags, arg)
			default:
				t.Fatalf("unexpected invocation of %s", m.Target)
			}
		default:
			t.Fatalf("unexpected %T %+v", m, m)
		}
	}
}

// TestClientsAPI checks that every target reaches exactly the right connections, JSON and
// MessagePack alike. After each send, a marker goes to everyone: what a connection received
// before the marker is exactly what the send delivered to it.
func TestClientsAPI(t *testing.T) {
	t.Parallel()
	f := setup(t, hub.Options{}, registerClientsAPI)
	c1 := f.connect(t, "json", "alice")
	c2 := f.connect(t, "messagepack", "alice")
	c3 := f.connect(t, "json", "bob")
	c4 := f.connect(t, "messagepack", "carol")
	c5 := f.connect(t, "json", "") // anonymous
	all := []*wsClient{c1, c2, c3, c4, c5}
	names := map[*wsClient]string{c1: "c1", c2: "c2", c3: "c3", c4: "c4", c5: "c5"}

	for _, j := range []struct {
		c     *wsClient
		group string
	}{{c1, "g1"}, {c3, "g1"}, {c3, "g2"}, {c4, "g2"}} {
		require.Empty(t, j.c.invoke(t, "Join", j.group).Error)
	}
	require.Empty(t, c5.invoke(t, "Join", "g3").Error)
	require.Empty(t, c5.invoke(t, "Leave", "g3").Error)

	markers := 0
	check := func(t *testing.T, caller *wsClient, tg target, want map[*wsClient][]string) {
		t.Helper()
		id := caller.call(t, "Send", tg)
		var early []string // Msgs the caller got before its Completion
		for done := false; !done; {
			switch m := caller.next(t).(type) {
			case *protocol.Completion:
				require.Equal(t, id, m.InvocationID)
				require.Empty(t, m.Error)
				done = true
			case *protocol.Invocation:
				require.Equal(t, "Msg", m.Target)
				early = append(early, decode[string](t, caller.proto, m.Arguments[0]))
			}
		}
		markers++
		marker := fmt.Sprint("m", markers)
		require.NoError(t, f.hub.Clients().All().Send(context.Background(), "Marker", marker))
		for _, c := range all {
			got := received(t, c, marker)
			if c == caller {
				got = append(early, got...)
			}
			require.Equal(t, want[c], got, "%s to %s", tg.Kind, names[c])
		}
	}
	tag := func(clients ...*wsClient) map[*wsClient][]string {
		w := map[*wsClient][]string{}
		for _, c := range clients {
			w[c] = append(w[c], "t")
		}
		return w
	}

	cases := []struct {
		name   string
		caller *wsClient
		tg     target
		want   map[*wsClient][]string
	}{
		{"All", c1, target{Kind: "All"}, tag(c1, c2, c3, c4, c5)},
		{"AllExcept", c1, target{Kind: "AllExcept", IDs: []string{c2.id, c5.id}}, tag(c1, c3, c4)},
		{"Caller", c2, target{Kind: "Caller"}, tag(c2)},
		{"Others", c2, target{Kind: "Others"}, tag(c1, c3, c4, c5)},
		{"Client", c1, target{Kind: "Client", IDs: []string{c4.id}}, tag(c4)},
		{"Client unknown", c1, target{Kind: "Client", IDs: []string{"nobody"}}, tag()},
		{"Clients", c1, target{Kind: "Clients", IDs: []string{c2.id, c3.id, "nobody"}}, tag(c2, c3)},
		{"Group", c5, target{Kind: "Group", Names: []string{"g1"}}, tag(c1, c3)},
		{"Group left", c1, target{Kind: "Group", Names: []string{"g3"}}, tag()},
		{"Groups", c5, target{Kind: "Groups", Names: []string{"g1", "g2", "g1"}}, tag(c1, c3, c4)}, // once, though c3 is in both
		{"GroupExcept", c1, target{Kind: "GroupExcept", Names: []string{"g2"}, IDs: []string{c4.id}}, tag(c3)},
		{"OthersInGroup", c3, target{Kind: "OthersInGroup", Names: []string{"g2"}}, tag(c4)},
		{"OthersInGroup not a member", c5, target{Kind: "OthersInGroup", Names: []string{"g1"}}, tag(c1, c3)},
		{"User", c5, target{Kind: "User", Names: []string{"alice"}}, tag(c1, c2)},
		{"Users", c1, target{Kind: "Users", Names: []string{"alice", "carol", "nobody"}}, tag(c1, c2, c4)},
		{"Group nobody joined", c1, target{Kind: "Group", Names: []string{"none"}}, tag()},
	}
	for _, tc := range cases {
		tc.tg.Tag = "t"
		t.Run(tc.name, func(t *testing.T) { check(t, tc.caller, tc.tg, tc.want) })
	}

	// The same targets from outside a hub method.
	t.Run("outside", func(t *testing.T) {
		ctx := context.Background()
		cl := f.hub.Clients()
		for _, tc := range []struct {
			name string
			p    hub.ClientProxy
			want map[*wsClient][]string
		}{
			{"All", cl.All(), tag(c1, c2, c3, c4, c5)},
			{"AllExcept", cl.AllExcept(c1.id), tag(c2, c3, c4, c5)},
			{"Client", cl.Client(c2.id), tag(c2)},
			{"Clients", cl.Clients(c1.id, c4.id), tag(c1, c4)},
			{"Group", cl.Group("g2"), tag(c3, c4)},
			{"Groups", cl.Groups("g1", "none"), tag(c1, c3)},
			{"GroupExcept", cl.GroupExcept("g1", c1.id), tag(c3)},
			{"User", cl.User("bob"), tag(c3)},
			{"Users", cl.Users("bob", "carol"), tag(c3, c4)},
		} {
			require.NoError(t, tc.p.Send(ctx, "Msg", "t"))
			markers++
			marker := fmt.Sprint("m", markers)
			require.NoError(t, cl.All().Send(ctx, "Marker", marker))
			for _, c := range all {
				require.Equal(t, tc.want[c], received(t, c, marker), "%s to %s", tc.name, names[c])
			}
		}
	})

	// Arguments reach JSON and MessagePack clients alike.
	t.Run("arguments", func(t *testing.T) {
		type point struct {
			X    int    `json:"x" msgpack:"x"`
			Name string `json:"name" msgpack:"name"`
		}
		require.NoError(t, f.hub.Clients().Clients(c1.id, c2.id).Send(context.Background(), "Point", point{3, "p"}, []int{1, 2}, nil))
		for _, c := range []*wsClient{c1, c2} {
			inv := c.invocation(t, "Point")
			require.Len(t, inv.Arguments, 3)
			require.Equal(t, point{3, "p"}, decode[point](t, c.proto, inv.Arguments[0]))
			require.Equal(t, []int{1, 2}, decode[[]int](t, c.proto, inv.Arguments[1]))
		}
		require.Error(t, f.hub.Clients().All().Send(context.Background(), "", 1), "a method name is required")
		require.Error(t, f.hub.Clients().All().Send(context.Background(), "Raw", protocol.RawValue(`1`)), "a RawValue cannot be broadcast")
	})

	// Group names are bounded.
	t.Run("group names", func(t *testing.T) {
		require.Error(t, f.hub.Groups().Add(context.Background(), c1.id, ""))
		require.Error(t, f.hub.Groups().Add(context.Background(), c1.id, string(make([]byte, hub.MaxGroupNameLength+1))))
	})
}

// A connection leaves its groups and user when it ends; the hub drops the channels nobody needs.
func TestGroupsEndWithConnection(t *testing.T) {
	t.Parallel()
	f := setup(t, hub.Options{}, registerClientsAPI)
	c1 := f.connect(t, "json", "alice")
	c2 := f.connect(t, "messagepack", "bob")
	for _, c := range []*wsClient{c1, c2} {
		require.Empty(t, c.invoke(t, "Join", "g").Error)
		require.Empty(t, c.invoke(t, "Join", "h").Error)
	}
	require.Equal(t, 2, hub.GroupSize(f.hub, "g"))

	require.NoError(t, c2.ws.CloseNow())
	eventually(t, func() bool { return hub.GroupSize(f.hub, "g") == 1 && hub.GroupSize(f.hub, "h") == 1 })
	require.NoError(t, f.hub.Clients().Group("g").Send(context.Background(), "Msg", "after"))
	require.Equal(t, "after", decode[string](t, c1.proto, c1.invocation(t, "Msg").Arguments[0]))
	// Adding a connection that is gone does not resurrect it.
	require.ErrorIs(t, f.hub.Groups().Add(context.Background(), c2.id, "g"), hub.ErrConnectionClosed)
	require.Equal(t, 1, hub.GroupSize(f.hub, "g"))

	require.Empty(t, c1.invoke(t, "Leave", "h").Error)
	require.Zero(t, hub.GroupSize(f.hub, "h"))
	require.NoError(t, c1.ws.CloseNow())
	eventually(t, func() bool { return hub.GroupSize(f.hub, "g") == 0 })
	eventually(t, func() bool {
		return slices.Equal([]string{"test:all", "test:node:" + hub.NodeID(f.hub)}, keys(hub.Subscriptions(f.hub)))
	}, "only the broadcast and node channels are left: %v", hub.Subscriptions(f.hub))
	require.Zero(t, f.hub.ConnectionCount())
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Two hubs on one bus are two nodes of a cluster: User, Group, All and Client messages reach
// connections on both, and groups can be changed for a connection on the other node.
func TestCluster(t *testing.T) {
	t.Parallel()
	bus := backplane.NewBus()
	node := func() *fixture {
		reg := prometheus.NewRegistry()
		h, err := hub.New("test", hub.Options{
			Backplane: bus.Node(), Logger: discardLogger, Authenticate: testAuthenticate, Metrics: hub.NewMetrics(reg),
		})
		require.NoError(t, err)
		registerBasics(h)
		registerClientsAPI(h)
		return serve(t, h, reg)
	}
	a, b := node(), node()
	a1 := a.connect(t, "json", "alice")
	a2 := a.connect(t, "messagepack", "bob")
	b1 := b.connect(t, "messagepack", "alice")
	b2 := b.connect(t, "json", "carol")
	all := []*wsClient{a1, a2, b1, b2}
	names := map[*wsClient]string{a1: "a1", a2: "a2", b1: "b1", b2: "b2"}
	tag := func(clients ...*wsClient) map[*wsClient][]string {
		w := map[*wsClient][]string{}
		for _, c := range clients {
			w[c] = append(w[c], "t")
		}
		return w
	}
	ctx := context.Background()
	markers := 0
	expect := func(t *testing.T, name string, want map[*wsClient][]string) {
		t.Helper()
		markers++
		marker := fmt.Sprint("m", markers)
		// The marker goes out from node a; the bus delivers in order per publisher, so every send
		// above must come from node a as well.
		require.NoError(t, a.hub.Clients().All().Send(ctx, "Marker", marker))
		for _, c := range all {
			require.Equal(t, want[c], received(t, c, marker), "%s to %s", name, names[c])
		}
	}

	require.NoError(t, a.hub.Clients().All().Send(ctx, "Msg", "t"))
	expect(t, "All", tag(a1, a2, b1, b2))
	require.NoError(t, a.hub.Clients().User("alice").Send(ctx, "Msg", "t"))
	expect(t, "User", tag(a1, b1))
	require.NoError(t, a.hub.Clients().Users("carol", "bob").Send(ctx, "Msg", "t"))
	expect(t, "Users", tag(a2, b2))
	require.NoError(t, a.hub.Clients().Client(b2.id).Send(ctx, "Msg", "t"))
	expect(t, "Client", tag(b2))
	require.NoError(t, a.hub.Clients().AllExcept(b1.id, a1.id).Send(ctx, "Msg", "t"))
	expect(t, "AllExcept", tag(a2, b2))

	// A member on each node, one joined from the other node.
	require.Empty(t, a1.invoke(t, "Join", "g").Error)
	require.NoError(t, a.hub.Groups().Add(ctx, b2.id, "g"))
	require.Equal(t, 1, hub.GroupSize(b.hub, "g"), "a remote add has been applied when it returns")
	require.NoError(t, a.hub.Clients().Group("g").Send(ctx, "Msg", "t"))
	expect(t, "Group", tag(a1, b2))

	// A hub method on node b reaches node a.
	id := b2.call(t, "Send", target{Kind: "OthersInGroup", Names: []string{"g"}, Tag: "t"})
	require.Empty(t, b2.completion(t, id).Error)
	require.Equal(t, "t", decode[string](t, a1.proto, a1.invocation(t, "Msg").Arguments[0]))

	require.NoError(t, a.hub.Groups().Remove(ctx, b2.id, "g"))
	require.Zero(t, hub.GroupSize(b.hub, "g"), "a remote remove has been applied when it returns")
	require.NoError(t, a.hub.Clients().Group("g").Send(ctx, "Msg", "t"))
	expect(t, "Group after remove", tag(a1))

	// Groups(g, h) reaches a connection in both once, whichever node it is on.
	require.Empty(t, a1.invoke(t, "Join", "h").Error)
	require.NoError(t, a.hub.Groups().Add(ctx, b2.id, "g"))
	require.NoError(t, a.hub.Groups().Add(ctx, b2.id, "h"))
	require.NoError(t, a.hub.Groups().Add(ctx, b1.id, "h"))
	require.NoError(t, a.hub.Clients().Groups("g", "h").Send(ctx, "Msg", "t"))
	expect(t, "Groups", tag(a1, b1, b2))

	// Group changes for a connection no node has fail at once.
	err := a.hub.Groups().Add(ctx, "nobody", "g")
	require.ErrorIs(t, err, hub.ErrConnectionClosed)

	// A client result from a connection on the other node, in its protocol (b1 speaks
	// MessagePack); the arguments arrive as they were sent.
	type result struct {
		res hub.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := a.hub.Clients().Client(b1.id).Invoke(ctx, "Ask", 41, "why", map[string]any{"n": 1.5})
		done <- result{res, err}
	}()
	inv := b1.invocation(t, "Ask")
	require.NotEmpty(t, inv.InvocationID)
	require.Equal(t, 41, decode[int](t, b1.proto, inv.Arguments[0]))
	require.Equal(t, "why", decode[string](t, b1.proto, inv.Arguments[1]))
	require.Equal(t, map[string]float64{"n": 1.5}, decode[map[string]float64](t, b1.proto, inv.Arguments[2]))
	b1.send(t, &protocol.Completion{InvocationID: inv.InvocationID, HasResult: true, Result: 42})
	r := recv(t, done)
	require.NoError(t, r.err)
	var answer int
	require.NoError(t, r.res.Decode(&answer))
	require.Equal(t, 42, answer)
	// A client's error comes back as a ClientError.
	go func() {
		res, err := a.hub.Clients().Client(b2.id).Invoke(ctx, "Ask")
		done <- result{res, err}
	}()
	inv = b2.invocation(t, "Ask")
	b2.send(t, &protocol.Completion{InvocationID: inv.InvocationID, Error: "no idea"})
	r = recv(t, done)
	var ce *hub.ClientError
	require.ErrorAs(t, r.err, &ce)
	require.Equal(t, "no idea", ce.Message)
	// A connection no node has.
	_, err = a.hub.Clients().Client("nobody").Invoke(ctx, "Anything")
	require.ErrorIs(t, err, hub.ErrConnectionClosed)

	// A node that goes away takes its connections' subscriptions with it.
	require.NoError(t, b1.ws.CloseNow())
	eventually(t, func() bool { return b.hub.ConnectionCount() == 1 })
	all = []*wsClient{a1, a2, b2}
	require.NoError(t, a.hub.Clients().User("alice").Send(ctx, "Msg", "t"))
	expect(t, "User after disconnect", tag(a1))
}
