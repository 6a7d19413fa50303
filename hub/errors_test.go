package hub_test

import (
	"errors"
	"io/fs"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/hub/protocol"
)

// The texts ASP.NET Core SignalR sends, to the letter, with and without detailed errors.
func TestDetailedErrorTexts(t *testing.T) {
	t.Parallel()
	register := func(h *hub.Hub) {
		h.On("PathError", func(*hub.Context) error {
			return &fs.PathError{Op: "open", Path: "/nope", Err: fs.ErrNotExist}
		})
		h.On("Sum", func(_ *hub.Context, items <-chan int) (int, error) {
			sum := 0
			for v := range items {
				sum += v
			}
			return sum, nil
		})
		// Careful asks why its stream ended and answers with its own result.
		h.On("Careful", func(c *hub.Context, items <-chan int) (string, error) {
			for range items {
			}
			if err := c.ClientStreamErr(items); err != nil {
				var cse *hub.ClientStreamError
				if errors.As(err, &cse) {
					return "the client said: " + cse.Message, nil
				}
			}
			return "clean end", nil
		})
	}
	plain := setup(t, hub.Options{}, register)
	detailed := setup(t, hub.Options{EnableDetailedErrors: true}, register)
	for _, tc := range []struct {
		name      string
		send      func(c *wsClient)
		want, det string
		protocols []string
	}{
		{name: "too few arguments",
			send: func(c *wsClient) {
				c.send(t, &protocol.Invocation{InvocationID: "x", Target: "Add", Arguments: []any{1}})
			},
			want: "Failed to invoke 'Add' due to an error on the server.",
			det:  "Failed to invoke 'Add' due to an error on the server. InvalidDataException: Invocation provides 1 argument(s) but target expects 2."},
		{name: "wrong types",
			send: func(c *wsClient) {
				c.send(t, &protocol.Invocation{InvocationID: "x", Target: "add", Arguments: []any{"a", "b"}})
			},
			want: "Failed to invoke 'add' due to an error on the server.",
			det:  "Failed to invoke 'add' due to an error on the server. InvalidDataException: Error binding arguments. Make sure that the types of the provided values match the types of the hub method being invoked."},
		{name: "unknown method",
			send: func(c *wsClient) {
				c.send(t, &protocol.Invocation{InvocationID: "x", Target: "Nope", Arguments: []any{}})
			},
			want: "Failed to invoke 'Nope' due to an error on the server. HubException: Method does not exist.",
			det:  "Failed to invoke 'Nope' due to an error on the server. HubException: Method does not exist."},
		{name: "exported error type",
			send: func(c *wsClient) {
				c.send(t, &protocol.Invocation{InvocationID: "x", Target: "PathError", Arguments: []any{}})
			},
			want: "An unexpected error occurred invoking 'PathError' on the server.",
			det:  "An unexpected error occurred invoking 'PathError' on the server. PathError: open /nope: file does not exist"},
		{name: "client stream ended with an error",
			send: func(c *wsClient) {
				c.send(t, &protocol.Invocation{InvocationID: "x", Target: "Sum", Arguments: []any{}, StreamIDs: []string{"s"}})
				c.send(t, &protocol.StreamItem{InvocationID: "s", Item: 1})
				c.send(t, &protocol.Completion{InvocationID: "s", Error: "Stream canceled by the client."})
			},
			want: "An unexpected error occurred invoking 'Sum' on the server.",
			det:  "An unexpected error occurred invoking 'Sum' on the server. Exception: Stream canceled by the client."},
		{name: "stream item of the wrong type",
			send: func(c *wsClient) {
				c.send(t, &protocol.Invocation{InvocationID: "x", Target: "Sum", Arguments: []any{}, StreamIDs: []string{"s"}})
				c.send(t, &protocol.StreamItem{InvocationID: "s", Item: "one"})
			},
			want: "An unexpected error occurred invoking 'Sum' on the server.",
			det:  "An unexpected error occurred invoking 'Sum' on the server. Exception: Failed to bind Stream message. InvalidDataException: Error binding arguments. Make sure that the types of the provided values match the types of the hub method being invoked.",
			// A JSON number fits a string where MessagePack's typed integer does not: JSON alone.
			protocols: []string{"json"}},
	} {
		protocols := tc.protocols
		if protocols == nil {
			protocols = []string{"json", "messagepack"}
		}
		for _, p := range protocols {
			c := plain.connect(t, p, "")
			tc.send(c)
			require.Equal(t, tc.want, c.completion(t, "x").Error, "%s/%s", tc.name, p)
			d := detailed.connect(t, p, "")
			tc.send(d)
			require.Equal(t, tc.det, d.completion(t, "x").Error, "%s/%s detailed", tc.name, p)
		}
	}

	// A method that asks why its stream ended handles it: its own result goes back.
	c := plain.connect(t, "json", "")
	c.send(t, &protocol.Invocation{InvocationID: "c", Target: "Careful", Arguments: []any{}, StreamIDs: []string{"s"}})
	c.send(t, &protocol.StreamItem{InvocationID: "s", Item: 1})
	c.send(t, &protocol.Completion{InvocationID: "s", Error: "gave up"})
	require.Equal(t, "the client said: gave up", result[string](t, c, c.completion(t, "c")))
	c.send(t, &protocol.Invocation{InvocationID: "d", Target: "Careful", Arguments: []any{}, StreamIDs: []string{"s2"}})
	c.send(t, &protocol.Completion{InvocationID: "s2"})
	require.Equal(t, "clean end", result[string](t, c, c.completion(t, "d")))
}

// An application writes its own texts through Options.ErrorText.
func TestErrorTextOption(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []hub.ErrorPhase
	f := setup(t, hub.Options{ErrorText: func(e *hub.InvocationError) string {
		mu.Lock()
		seen = append(seen, e.Phase)
		mu.Unlock()
		if e.Phase == hub.PhaseBinding {
			return "bad arguments for " + e.Method
		}
		return hub.DefaultErrorText(e) + " (see the server log)"
	}}, func(h *hub.Hub) {
		h.On("Fail", func(*hub.Context) error { return errors.New("boom") })
		h.On("Admin", func(*hub.Context) error { return nil }, hub.RequireRoles("admin"))
	})
	c := f.connect(t, "json", "bob")
	require.Equal(t, "bad arguments for Add", c.invoke(t, "Add", 1).Error)
	require.Equal(t, "An unexpected error occurred invoking 'Fail' on the server. (see the server log)", c.invoke(t, "Fail").Error)
	require.Equal(t, "Failed to invoke 'Admin' because user is unauthorized (see the server log)", c.invoke(t, "Admin").Error)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []hub.ErrorPhase{hub.PhaseBinding, hub.PhaseInvocation, hub.PhaseAuthorization}, seen)
}

// A method that requires roles is refused to callers without them, with .NET's text; RequireRoles
// twice means both requirements.
func TestRequireRoles(t *testing.T) {
	t.Parallel()
	f := setup(t, hub.Options{}, func(h *hub.Hub) {
		h.On("Admin", func(*hub.Context) (string, error) { return "ok", nil }, hub.RequireRoles("admin", "owner"))
		h.On("Both", func(*hub.Context) (string, error) { return "ok", nil }, hub.RequireRoles("admin"), hub.RequireRoles("billing"))
	})
	for user, want := range map[string][2]bool{
		"":                   {false, false},
		"bob":                {false, false},
		"carol+admin":        {true, false},
		"dave+owner":         {true, false},
		"erin+admin+billing": {true, true},
		"frank+billing":      {false, false},
	} {
		c := f.connect(t, "json", user)
		for i, method := range []string{"Admin", "Both"} {
			comp := c.invoke(t, method)
			if want[i] {
				require.Empty(t, comp.Error, "%s %s", user, method)
			} else {
				require.Equal(t, "Failed to invoke '"+method+"' because user is unauthorized", comp.Error, "%s %s", user, method)
			}
		}
	}
}
