package hub_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/hub"
)

// echoHandler echoes what it receives; "binary" switches to binary frames, "refuse" as a user
// id refuses the connection, "boom" fails the handler, "panic" panics. It records the lifecycle.
type echoHandler struct {
	mu     sync.Mutex
	events []string
}

func (e *echoHandler) note(s string) {
	e.mu.Lock()
	e.events = append(e.events, s)
	e.mu.Unlock()
}

func (e *echoHandler) seen() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.events...)
}

func (e *echoHandler) OnConnected(c *hub.Connection) error {
	e.note("connected " + string(c.Transport()))
	if u := c.User(); u != nil && u.UserID == "refuse" {
		return errors.New("refused")
	}
	return c.Send(c.Context(), []byte("welcome "+c.Request().Header.Get("X-Name")))
}

func (e *echoHandler) OnReceive(c *hub.Connection, data []byte) error {
	switch string(data) {
	case "binary":
		c.SetBinary(true)
	case "boom":
		return errors.New("boom")
	case "panic":
		panic("handler panic")
	}
	return c.Send(c.Context(), data)
}

func (e *echoHandler) OnDisconnected(_ *hub.Connection, err error) {
	if err != nil {
		e.note("disconnected: " + err.Error())
		return
	}
	e.note("disconnected")
}

func serveConnections(t *testing.T, handler hub.ConnectionHandler) *fixture {
	t.Helper()
	s, err := hub.NewConnections("echo", handler, hub.Options{
		Logger: discardLogger, Authenticate: testAuthenticate, Metrics: hub.NewMetrics(prometheus.NewRegistry()),
	})
	require.NoError(t, err)
	router := hub.NewRouter(nil)
	router.Map("/echo", s)
	srv := httptest.NewServer(router)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		require.NoError(t, s.Shutdown(ctx))
	})
	return &fixture{srv: srv, url: srv.URL + "/echo"}
}

func TestConnectionHandlerWebSockets(t *testing.T) {
	t.Parallel()
	e := &echoHandler{}
	f := serveConnections(t, e)
	n := f.negotiate(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, f.wsURL(n.ConnectionToken), &websocket.DialOptions{
		HTTPClient: f.srv.Client(), HTTPHeader: http.Header{"X-Name": {"ada"}},
	})
	require.NoError(t, err)
	defer ws.CloseNow()
	read := func() (websocket.MessageType, string) {
		typ, data, err := ws.Read(ctx)
		require.NoError(t, err)
		return typ, string(data)
	}
	typ, got := read()
	require.Equal(t, websocket.MessageText, typ)
	require.Equal(t, "welcome ada", got, "no handshake: the handler's bytes as they are")
	require.NoError(t, ws.Write(ctx, websocket.MessageText, []byte("hello \x1e raw {")))
	_, got = read()
	require.Equal(t, "hello \x1e raw {", got, "no hub protocol: nothing parses the bytes")
	require.NoError(t, ws.Write(ctx, websocket.MessageText, []byte("binary")))
	typ, got = read()
	require.Equal(t, websocket.MessageBinary, typ, "SetBinary chose binary frames")
	require.Equal(t, "binary", got)
	require.NoError(t, ws.Close(websocket.StatusNormalClosure, ""))
	eventually(t, func() bool { return len(e.seen()) == 2 })
	require.Equal(t, []string{"connected WebSockets", "disconnected"}, e.seen())
}

func TestConnectionHandlerLongPolling(t *testing.T) {
	t.Parallel()
	e := &echoHandler{}
	f := serveConnections(t, e)
	c := f.longPoll(t, "")
	status, _ := c.poll(t) // attaches the transport: OnConnected runs
	require.Equal(t, http.StatusOK, status)
	_, body := c.poll(t)
	require.Equal(t, "welcome ", string(body))
	require.Equal(t, http.StatusOK, c.post(t, []byte("one")))
	_, body = c.poll(t)
	require.Equal(t, "one", string(body))
	require.Equal(t, http.StatusOK, c.post(t, []byte("boom")), "the POST worked; the handler's error ends the connection")
	status, _ = c.poll(t)
	require.Equal(t, http.StatusNoContent, status)
	eventually(t, func() bool { return len(e.seen()) == 2 })
	require.Equal(t, []string{"connected LongPolling", "disconnected: boom"}, e.seen())
}

func TestConnectionHandlerRefusesAndSurvivesPanics(t *testing.T) {
	t.Parallel()
	e := &echoHandler{}
	f := serveConnections(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	// OnConnected's error ends the connection.
	n := f.negotiate(t, "refuse")
	ws, _, err := f.dialWebSocket(ctx, n.ConnectionToken, "refuse")
	require.NoError(t, err)
	_, _, err = ws.Read(ctx)
	require.Error(t, err)
	require.Equal(t, websocket.StatusInternalError, websocket.CloseStatus(err))

	// A panic in OnReceive ends its connection, not the server.
	n = f.negotiate(t, "")
	ws, _, err = f.dialWebSocket(ctx, n.ConnectionToken, "")
	require.NoError(t, err)
	_, _, err = ws.Read(ctx) // welcome
	require.NoError(t, err)
	require.NoError(t, ws.Write(ctx, websocket.MessageText, []byte("panic")))
	_, _, err = ws.Read(ctx)
	require.Error(t, err)
	eventually(t, func() bool {
		for _, s := range e.seen() {
			if strings.Contains(s, "panicked: handler panic") {
				return true
			}
		}
		return false
	}, "OnDisconnected says why")

	// And the server goes on.
	n = f.negotiate(t, "")
	ws, _, err = f.dialWebSocket(ctx, n.ConnectionToken, "")
	require.NoError(t, err)
	defer ws.CloseNow()
	_, data, err := ws.Read(ctx)
	require.NoError(t, err)
	require.Equal(t, "welcome ", string(data))
}
