package hub_test

import (
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/hub"
)

// A reader blocked on the invocation slot (MaxParallelInvocations 1, a method holding it) still
// notices its client leaving: the connection ends at once, not when the method returns.
func TestBlockedReaderNoticesClientLeaving(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	disconnected := make(chan error, 1)
	f := setup(t, hub.Options{
		MaxParallelInvocations: 1,
		OnDisconnected:         func(_ *hub.Context, err error) { disconnected <- err },
	}, func(h *hub.Hub) {
		h.On("Hold", func(c *hub.Context) error {
			select {
			case <-release:
			case <-c.Done():
			}
			return nil
		})
	})
	c := f.connect(t, "json", "alice")
	c.call(t, "Hold")
	c.call(t, "Hold") // waits for the slot: the reader blocks
	time.Sleep(200 * time.Millisecond)
	require.NoError(t, c.ws.CloseNow())
	select {
	case <-disconnected:
	case <-time.After(3 * time.Second):
		t.Fatal("the connection did not end while its reader was blocked")
	}
}

// herald_hub_connections_closed_with_error_total counts a transport that fails abruptly (a socket
// reset, no close frame), and not a client that closes cleanly.
func TestClosedWithErrorCountsAbruptTransportFailures(t *testing.T) {
	t.Parallel()
	f := setup(t, hub.Options{})
	const name = "herald_hub_connections_closed_with_error_total"
	clean := f.connect(t, "json", "")
	require.NoError(t, clean.ws.Close(websocket.StatusNormalClosure, "bye"))
	eventually(t, func() bool { return f.hub.ConnectionCount() == 0 })
	require.Equal(t, 0.0, counter(t, f.reg, name), "a clean close is no error")

	reset := f.connect(t, "json", "")
	require.NoError(t, reset.ws.CloseNow()) // the TCP connection ends without a close frame
	eventually(t, func() bool { return counter(t, f.reg, name) == 1 })
	require.Equal(t, 0, f.hub.ConnectionCount())
}
