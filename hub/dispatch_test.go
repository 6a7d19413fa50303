package hub_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/hub/protocol"
)

func TestMethodNamesIgnoreCase(t *testing.T) {
	t.Parallel()
	f := setup(t, hub.Options{})
	for _, protoName := range []string{"json", "messagepack"} {
		c := f.connect(t, protoName, "")
		for _, name := range []string{"Echo", "echo", "ECHO", "eChO"} {
			require.Equal(t, name, result[string](t, c, c.invoke(t, name, name)))
		}
		require.Equal(t, 5, result[int](t, c, c.invoke(t, "add", 2, 3)))
		// A void method completes without a result.
		comp := c.invoke(t, "VOID")
		require.Empty(t, comp.Error)
		require.False(t, comp.HasResult)
	}
}

func TestOnRejectsBadSignatures(t *testing.T) {
	t.Parallel()
	h, err := hub.New("test", hub.Options{Logger: discardLogger})
	require.NoError(t, err)
	for name, fn := range map[string]any{
		"not a func":              42,
		"nil func":                (func(*hub.Context) error)(nil),
		"no parameters":           func() error { return nil },
		"no context":              func(s string) error { return nil },
		"context.Context":         func(ctx context.Context) error { return nil },
		"context second":          func(s string, c *hub.Context) error { return nil },
		"variadic":                func(c *hub.Context, s ...string) error { return nil },
		"send-only stream":        func(c *hub.Context, ch chan<- int) error { return nil },
		"bidirectional stream":    func(c *hub.Context, ch chan int) error { return nil },
		"no results":              func(c *hub.Context) {},
		"result not error":        func(c *hub.Context) int { return 0 },
		"second result not error": func(c *hub.Context) (int, int) { return 0, 0 },
		"three results":           func(c *hub.Context) (int, int, error) { return 0, 0, nil },
		"send-only stream result": func(c *hub.Context) (chan<- int, error) { return nil, nil },
		"bidirectional result":    func(c *hub.Context) (chan int, error) { return nil, nil },
	} {
		require.Panics(t, func() { h.On(name, fn) }, name)
	}
	h.On("Fine", func(c *hub.Context, a int, in <-chan string) (<-chan int, error) { return nil, nil })
	require.Panics(t, func() { h.On("fINE", func(c *hub.Context) error { return nil }) }, "duplicate names ignore case")

	f := serve(t, h, nil)
	f.negotiate(t, "") // the hub starts serving
	require.Panics(t, func() { h.On("Late", func(c *hub.Context) error { return nil }) }, "after start")
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]hub.Options{
		"negative size":       {MaxMessageSize: -1},
		"negative timeout":    {ClientTimeout: -time.Second},
		"unknown transport":   {Transports: []hub.Transport{"Carrier pigeon"}},
		"auth without a func": {RequireAuth: true},
	} {
		_, err := hub.New("test", o)
		require.Error(t, err, name)
	}
	for _, name := range []string{"", "a:b", "a b"} {
		_, err := hub.New(name, hub.Options{})
		require.Error(t, err, "hub name %q", name)
	}
}

func TestMethodErrors(t *testing.T) {
	t.Parallel()
	register := func(h *hub.Hub) {
		h.On("Fail", func(_ *hub.Context, kind string) (int, error) {
			switch kind {
			case "hub":
				return 0, hub.Errorf("you may not do %s", kind)
			case "wrapped":
				return 0, fmt.Errorf("while doing it: %w", &hub.Error{Message: "visible"})
			case "plain":
				return 0, errors.New("secret detail")
			case "panic":
				panic("secret panic")
			case "nil map":
				var m map[string]int
				m["x"] = 1 //nolint:staticcheck // the runtime panic is the point
			}
			return 1, nil
		})
	}
	plain := setup(t, hub.Options{}, register)
	detailed := setup(t, hub.Options{EnableDetailedErrors: true}, register)
	for _, tc := range []struct {
		kind          string
		want, wantDet string
	}{
		// .NET's ErrorMessageHelper: a HubException always shows; other errors only with detailed
		// errors, named by their type (Exception when it is not an exported Go type).
		{"hub", "An unexpected error occurred invoking 'Fail' on the server. HubException: you may not do hub",
			"An unexpected error occurred invoking 'Fail' on the server. HubException: you may not do hub"},
		{"wrapped", "An unexpected error occurred invoking 'Fail' on the server. HubException: visible",
			"An unexpected error occurred invoking 'Fail' on the server. HubException: visible"},
		{"plain", "An unexpected error occurred invoking 'Fail' on the server.",
			"An unexpected error occurred invoking 'Fail' on the server. Exception: secret detail"},
		{"panic", "An unexpected error occurred invoking 'Fail' on the server.",
			"An unexpected error occurred invoking 'Fail' on the server. Exception: hub: method \"Fail\" panicked: secret panic"},
		{"nil map", "An unexpected error occurred invoking 'Fail' on the server.", ""},
	} {
		for _, protoName := range []string{"json", "messagepack"} {
			c := plain.connect(t, protoName, "")
			comp := c.invoke(t, "Fail", tc.kind)
			require.Equal(t, tc.want, comp.Error, tc.kind)
			require.False(t, comp.HasResult)
			c.echo(t) // the connection, and the server, survive

			d := detailed.connect(t, protoName, "")
			comp = d.invoke(t, "Fail", tc.kind)
			if tc.wantDet != "" {
				require.Equal(t, tc.wantDet, comp.Error, tc.kind)
			} else {
				require.True(t, strings.HasPrefix(comp.Error, "An unexpected error occurred invoking 'Fail' on the server. Exception: "), comp.Error)
			}
			d.echo(t)

			// Fire-and-forget failures get no answer.
			c.send(t, &protocol.Invocation{Target: "Fail", Arguments: []any{tc.kind}})
			c.echo(t)
		}
	}
	// 5 failing kinds x 2 protocols x (invoked + fire-and-forget), panics included. A
	// fire-and-forget failure is counted after its slot is freed: wait for the last ones.
	eventually(t, func() bool { return counter(t, plain.reg, "herald_hub_invocation_errors_total") == 5*2*2 })
}

func TestClientResults(t *testing.T) {
	t.Parallel()
	register := func(h *hub.Hub) {
		h.On("Ask", func(c *hub.Context, question string) (string, error) {
			res, err := c.Clients().Caller().Invoke(c, "Answer", question)
			var ce *hub.ClientError
			switch {
			case errors.As(err, &ce):
				return "", hub.Errorf("client error: %s", ce.Message)
			case errors.Is(err, context.DeadlineExceeded):
				return "", hub.Errorf("timed out")
			case err != nil:
				return "", err
			}
			var answer string
			if err := res.Decode(&answer); err != nil {
				return "", hub.Errorf("undecodable: %v", err)
			}
			return answer, nil
		})
	}
	f := setup(t, hub.Options{}, register)
	// Only the timeout case runs here: the others must not depend on how fast the test answers.
	short := setup(t, hub.Options{ClientResultTimeout: 200 * time.Millisecond}, register)

	for _, protoName := range []string{"json", "messagepack"} {
		t.Run(protoName, func(t *testing.T) {
			t.Parallel()
			var c *wsClient
			answer := func(t *testing.T, reply func(id string) *protocol.Completion) *protocol.Completion {
				t.Helper()
				id := c.call(t, "Ask", "why?")
				inv := c.invocation(t, "Answer")
				require.NotEmpty(t, inv.InvocationID, "a client result needs an invocation id")
				require.True(t, strings.HasPrefix(inv.InvocationID, "s"), "server ids must not clash with client ids")
				require.Equal(t, "why?", decode[string](t, c.proto, inv.Arguments[0]))
				if r := reply(inv.InvocationID); r != nil {
					c.send(t, r)
				}
				return c.completion(t, id)
			}

			c = f.connect(t, protoName, "")
			comp := answer(t, func(id string) *protocol.Completion {
				return &protocol.Completion{InvocationID: id, HasResult: true, Result: "because"}
			})
			require.Equal(t, "because", result[string](t, c, comp))

			comp = answer(t, func(id string) *protocol.Completion {
				return &protocol.Completion{InvocationID: id, Error: "Client didn't provide a result."}
			})
			require.Equal(t, "An unexpected error occurred invoking 'Ask' on the server. HubException: client error: Client didn't provide a result.", comp.Error)

			comp = answer(t, func(id string) *protocol.Completion {
				return &protocol.Completion{InvocationID: id}
			})
			require.Equal(t, "An unexpected error occurred invoking 'Ask' on the server. HubException: undecodable: hub: the client returned no result", comp.Error)

			c = short.connect(t, protoName, "")
			var late string
			comp = answer(t, func(id string) *protocol.Completion { late = id; return nil })
			require.Equal(t, "An unexpected error occurred invoking 'Ask' on the server. HubException: timed out", comp.Error)
			// A late answer is ignored.
			c.send(t, &protocol.Completion{InvocationID: late, HasResult: true, Result: "too late"})
			c.echo(t)
		})
	}

	t.Run("from outside", func(t *testing.T) {
		t.Parallel()
		c := f.connect(t, "messagepack", "")
		type out struct {
			res hub.Result
			err error
		}
		done := make(chan out, 1)
		go func() {
			res, err := f.hub.Clients().Client(c.id).Invoke(context.Background(), "Add", 1, 2)
			done <- out{res, err}
		}()
		inv := c.invocation(t, "Add")
		c.send(t, &protocol.Completion{InvocationID: inv.InvocationID, HasResult: true, Result: 3})
		r := recv(t, done)
		require.NoError(t, r.err)
		var n int
		require.NoError(t, r.res.Decode(&n))
		require.Equal(t, 3, n)
		require.NotEmpty(t, r.res.Raw())

		// The caller's deadline wins over ClientResultTimeout.
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := f.hub.Clients().Client(c.id).Invoke(ctx, "Add", 1, 2)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		c.invocation(t, "Add")

		// A connection that ends fails the wait.
		go func() {
			res, err := f.hub.Clients().Client(c.id).Invoke(context.Background(), "Add", 1, 2)
			done <- out{res, err}
		}()
		c.invocation(t, "Add")
		require.NoError(t, c.ws.CloseNow())
		r = recv(t, done)
		require.ErrorIs(t, r.err, hub.ErrConnectionClosed)
	})
}

// streamGate lets a test see a stream producer start and stop.
type streamGate struct {
	started chan struct{}
	stopped chan struct{}
}

// registerStreams adds Count, Forever, Refuse and Empty; Forever announces each run on gates.
func registerStreams(gates chan streamGate) func(h *hub.Hub) {
	return func(h *hub.Hub) {
		// Count sends n items, then the stream ends.
		h.On("Count", func(c *hub.Context, n int) (<-chan int, error) {
			ch := make(chan int)
			go func() {
				defer close(ch)
				for i := range n {
					select {
					case ch <- i:
					case <-c.Done():
						return
					}
				}
			}()
			return ch, nil
		})
		// Forever sends 3 items, then waits for its context to end.
		h.On("Forever", func(c *hub.Context) (<-chan int, error) {
			g := streamGate{started: make(chan struct{}), stopped: make(chan struct{})}
			gates <- g
			ch := make(chan int, 3)
			for i := range 3 {
				ch <- i
			}
			go func() {
				defer close(g.stopped)
				close(g.started)
				<-c.Done()
			}()
			return ch, nil
		})
		h.On("Refuse", func(c *hub.Context) (<-chan int, error) { return nil, hub.Errorf("no stream for you") })
		h.On("Empty", func(c *hub.Context) (<-chan int, error) { return nil, nil })
	}
}

func TestServerToClientStream(t *testing.T) {
	t.Parallel()
	for _, protoName := range []string{"json", "messagepack"} {
		t.Run(protoName, func(t *testing.T) {
			t.Parallel()
			gates := make(chan streamGate, 4)
			f := setup(t, hub.Options{}, registerStreams(gates))
			c := f.connect(t, protoName, "")

			c.send(t, &protocol.StreamInvocation{InvocationID: "n", Target: "Count", Arguments: []any{5}})
			for i := range 5 {
				m := c.next(t)
				item, ok := m.(*protocol.StreamItem)
				require.True(t, ok, "want a StreamItem, got %T %+v", m, m)
				require.Equal(t, "n", item.InvocationID)
				require.Equal(t, i, decode[int](t, c.proto, item.Item))
			}
			comp := c.completion(t, "n")
			require.Empty(t, comp.Error)
			require.False(t, comp.HasResult)

			// Cancelling stops the producer promptly, and a Completion follows.
			c.send(t, &protocol.StreamInvocation{InvocationID: "f", Target: "Forever", Arguments: []any{}})
			g := recv(t, gates)
			for range 3 {
				require.IsType(t, &protocol.StreamItem{}, c.next(t))
			}
			c.send(t, &protocol.CancelInvocation{InvocationID: "f"})
			select {
			case <-g.stopped:
			case <-time.After(waitTimeout):
				t.Fatal("the producer's context did not end")
			}
			comp = c.completion(t, "f")
			require.Empty(t, comp.Error)

			comp = c.invoke(t, "Void") // not streamed
			require.Empty(t, comp.Error)
			c.send(t, &protocol.StreamInvocation{InvocationID: "r", Target: "Refuse", Arguments: []any{}})
			require.Equal(t, "An unexpected error occurred invoking 'Refuse' on the server. HubException: no stream for you", c.completion(t, "r").Error)
			c.send(t, &protocol.StreamInvocation{InvocationID: "e", Target: "Empty", Arguments: []any{}})
			require.Empty(t, c.completion(t, "e").Error)
			c.send(t, &protocol.Invocation{InvocationID: "i", Target: "Count", Arguments: []any{1}})
			require.Equal(t, "The client attempted to invoke the streaming 'Count' method with a non-streaming invocation.", c.completion(t, "i").Error)

			// A stream ends with its connection.
			c.send(t, &protocol.StreamInvocation{InvocationID: "f2", Target: "Forever", Arguments: []any{}})
			g = recv(t, gates)
			recv(t, g.started)
			require.NoError(t, c.ws.CloseNow())
			select {
			case <-g.stopped:
			case <-time.After(waitTimeout):
				t.Fatal("the producer's context did not end with the connection")
			}
		})
	}
}

func TestClientToServerStream(t *testing.T) {
	t.Parallel()
	f := setup(t, hub.Options{StreamBufferCapacity: 2}, func(h *hub.Hub) {
		h.On("Sum", func(c *hub.Context, items <-chan int) (int, error) {
			sum := 0
			for v := range items {
				sum += v
			}
			return sum, nil
		})
		// First returns with the first item and leaves the rest of its stream unread.
		h.On("First", func(c *hub.Context, items <-chan int) (int, error) {
			return <-items, nil
		})
		h.On("Join", func(c *hub.Context, sep string, a <-chan string, b <-chan string) (string, error) {
			var parts []string
			for v := range a {
				parts = append(parts, v)
			}
			for v := range b {
				parts = append(parts, v)
			}
			return strings.Join(parts, sep), nil
		})
	})
	for _, protoName := range []string{"json", "messagepack"} {
		t.Run(protoName, func(t *testing.T) {
			t.Parallel()
			c := f.connect(t, protoName, "")
			c.send(t, &protocol.Invocation{InvocationID: "1", Target: "Sum", Arguments: []any{}, StreamIDs: []string{"s"}})
			for i := 1; i <= 20; i++ { // more than the stream buffer holds
				c.send(t, &protocol.StreamItem{InvocationID: "s", Item: i})
			}
			c.send(t, &protocol.Completion{InvocationID: "s"})
			require.Equal(t, 210, result[int](t, c, c.completion(t, "1")))

			// Two streams and an argument; items interleave.
			c.send(t, &protocol.Invocation{InvocationID: "2", Target: "join", Arguments: []any{"-"}, StreamIDs: []string{"a", "b"}})
			c.send(t, &protocol.StreamItem{InvocationID: "b", Item: "y"})
			c.send(t, &protocol.StreamItem{InvocationID: "a", Item: "x"})
			c.send(t, &protocol.Completion{InvocationID: "b"})
			c.send(t, &protocol.StreamItem{InvocationID: "a", Item: "z"})
			c.send(t, &protocol.Completion{InvocationID: "a"})
			require.Equal(t, "x-z-y", result[string](t, c, c.completion(t, "2")))

			// An item of the wrong type fails the stream, and so the invocation, as in .NET.
			c.send(t, &protocol.Invocation{InvocationID: "3", Target: "Sum", Arguments: []any{}, StreamIDs: []string{"s"}})
			c.send(t, &protocol.StreamItem{InvocationID: "s", Item: 7})
			c.send(t, &protocol.StreamItem{InvocationID: "s", Item: "eight"})
			require.Equal(t, "An unexpected error occurred invoking 'Sum' on the server.", c.completion(t, "3").Error)
			c.send(t, &protocol.Completion{InvocationID: "s"}) // the stream is gone: ignored
			c.echo(t)

			// A stream the client ends with an error fails the invocation; no partial result.
			c.send(t, &protocol.Invocation{InvocationID: "6", Target: "Sum", Arguments: []any{}, StreamIDs: []string{"e"}})
			c.send(t, &protocol.StreamItem{InvocationID: "e", Item: 1})
			c.send(t, &protocol.Completion{InvocationID: "e", Error: "Stream canceled by the client."})
			comp := c.completion(t, "6")
			require.False(t, comp.HasResult)
			require.Equal(t, "An unexpected error occurred invoking 'Sum' on the server.", comp.Error,
				"without detailed errors the client's text is not echoed (TestDetailedErrorTexts)")
			c.echo(t)

			// A method that returns without reading its whole stream does not leave the reader
			// stuck on the full stream buffer; later items are dropped.
			c.send(t, &protocol.Invocation{InvocationID: "5", Target: "First", Arguments: []any{}, StreamIDs: []string{"f"}})
			var batch []byte
			for i := 1; i <= 20; i++ {
				batch = append(batch, c.encode(t, &protocol.StreamItem{InvocationID: "f", Item: i})...)
			}
			batch = append(batch, c.encode(t, &protocol.Completion{InvocationID: "f"})...)
			c.sendRaw(t, c.frameType(), batch)
			require.Equal(t, 1, result[int](t, c, c.completion(t, "5")))
			c.echo(t)

			// A client-to-server stream with a StreamInvocation of a non-streaming method fails.
			c.send(t, &protocol.StreamInvocation{InvocationID: "4", Target: "Sum", Arguments: []any{}, StreamIDs: []string{"s"}})
			require.Contains(t, c.completion(t, "4").Error, "non-streaming 'Sum'")
			c.echo(t)
		})
	}
}

func TestMaxParallelInvocations(t *testing.T) {
	t.Parallel()
	type call struct {
		name    string
		release chan struct{}
	}
	register := func(started chan call, running *atomic.Int32, peak *atomic.Int32) func(h *hub.Hub) {
		return func(h *hub.Hub) {
			h.On("Block", func(c *hub.Context, name string) (string, error) {
				n := running.Add(1)
				defer running.Add(-1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				cl := call{name, make(chan struct{})}
				started <- cl
				select {
				case <-cl.release:
				case <-c.Done():
				}
				return name, nil
			})
			h.On("Stream", func(c *hub.Context) (<-chan int, error) {
				ch := make(chan int)
				go func() {
					defer close(ch)
					<-c.Done()
				}()
				return ch, nil
			})
		}
	}

	t.Run("one at a time", func(t *testing.T) {
		t.Parallel()
		started := make(chan call, 4)
		var running, peak atomic.Int32
		f := setup(t, hub.Options{}, register(started, &running, &peak))
		c := f.connect(t, "json", "")
		idA := c.call(t, "Block", "a")
		idB := c.call(t, "Block", "b")
		a := recv(t, started)
		require.Equal(t, "a", a.name)
		select {
		case b := <-started:
			t.Fatalf("%s started while a was running", b.name)
		case <-time.After(100 * time.Millisecond):
		}
		close(a.release)
		b := recv(t, started)
		require.Equal(t, "b", b.name)
		close(b.release)
		var ids []string
		for range 2 {
			comp := c.next(t).(*protocol.Completion)
			require.Empty(t, comp.Error)
			ids = append(ids, comp.InvocationID)
		}
		require.ElementsMatch(t, []string{idA, idB}, ids)
		require.EqualValues(t, 1, peak.Load())

		// A running stream does not hold the slot.
		c.send(t, &protocol.StreamInvocation{InvocationID: "s", Target: "Stream", Arguments: []any{}})
		c.echo(t)
		id := c.call(t, "Block", "c")
		cl := recv(t, started)
		close(cl.release)
		require.Equal(t, "c", result[string](t, c, c.completion(t, id)))
		c.send(t, &protocol.CancelInvocation{InvocationID: "s"})
		require.Empty(t, c.completion(t, "s").Error)
	})

	t.Run("two at a time", func(t *testing.T) {
		t.Parallel()
		started := make(chan call, 4)
		var running, peak atomic.Int32
		f := setup(t, hub.Options{MaxParallelInvocations: 2}, register(started, &running, &peak))
		c := f.connect(t, "messagepack", "")
		c.call(t, "Block", "a")
		c.call(t, "Block", "b")
		c.call(t, "Block", "c")
		first, second := recv(t, started), recv(t, started)
		require.ElementsMatch(t, []string{"a", "b"}, []string{first.name, second.name})
		require.EqualValues(t, 2, peak.Load())
		close(first.release)
		third := recv(t, started)
		require.Equal(t, "c", third.name)
		close(second.release)
		close(third.release)
		for range 3 {
			require.IsType(t, &protocol.Completion{}, c.next(t))
		}
		require.EqualValues(t, 2, peak.Load())
	})

	// The connection's reader waits for a slot, so it does not see the socket close: the failing
	// keep-alive ping does, and ends the running invocation.
	t.Run("connection ends while invocations wait", func(t *testing.T) {
		t.Parallel()
		started := make(chan call, 4)
		var running, peak atomic.Int32
		f := setup(t, hub.Options{KeepAliveInterval: 50 * time.Millisecond}, register(started, &running, &peak))
		c := f.connect(t, "json", "")
		c.call(t, "Block", "a")
		c.call(t, "Block", "b")
		recv(t, started)
		require.NoError(t, c.ws.CloseNow())
		eventually(t, func() bool { return running.Load() == 0 && f.hub.ConnectionCount() == 0 })
		require.Empty(t, started, "b never starts")
	})
}
