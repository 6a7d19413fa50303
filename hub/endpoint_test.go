package hub_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/hub/protocol"
)

// serveRouted serves h through a Router with routes mapped by mapRoutes; the returned fixtures
// point at path.
func serveRouted(t *testing.T, h *hub.Hub, mapRoutes func(r *hub.Router)) *fixture {
	t.Helper()
	router := hub.NewRouter(nil)
	mapRoutes(router)
	srv := httptest.NewServer(router)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { shutdown(t, h) })
	return &fixture{hub: h, srv: srv, url: srv.URL + "/hub"}
}

// at is f pointed at another path of the same server.
func (f *fixture) at(path string) *fixture {
	g := *f
	g.url = f.srv.URL + path
	return &g
}

func newTestHub(t *testing.T, opts hub.Options, register ...func(h *hub.Hub)) *hub.Hub {
	t.Helper()
	opts.Logger = discardLogger
	if opts.Authenticate == nil {
		opts.Authenticate = testAuthenticate
	}
	opts.Metrics = hub.NewMetrics(prometheus.NewRegistry())
	h, err := hub.New("test", opts)
	require.NoError(t, err)
	registerBasics(h)
	for _, r := range register {
		r(h)
	}
	return h
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, hub.Options{}, func(h *hub.Hub) {
		h.On("AskOther", func(c *hub.Context, id string) (string, error) {
			res, err := c.Clients().Client(id).Invoke(c, "Answer")
			if err != nil {
				return "", err
			}
			var s string
			return s, res.Decode(&s)
		})
	})
	f := serveRouted(t, h, func(r *hub.Router) {
		r.Map("/hub", h)
		r.Map("/Other", h.Endpoint(hub.EndpointOptions{}))
		r.Map("/lp", h.Endpoint(hub.EndpointOptions{Transports: []hub.Transport{hub.LongPolling}}))
		r.Map("/admins", h.Endpoint(hub.EndpointOptions{Roles: []string{"admin", "owner"}}))
	})

	t.Run("transports per path", func(t *testing.T) {
		t.Parallel()
		lp := f.at("/lp")
		n := lp.negotiate(t, "")
		require.Len(t, n.AvailableTransports, 1)
		require.Equal(t, "LongPolling", n.AvailableTransports[0].Transport)
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		_, resp, err := lp.dialWebSocket(ctx, n.ConnectionToken, "")
		require.Error(t, err)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, "no WebSockets on this path")
		_, resp, err = lp.dialWebSocket(ctx, "", "")
		require.Error(t, err, "nor without negotiation")
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
		// The long-polling connection works there, and its token means nothing on another path.
		c := lp.longPoll(t, "")
		status, _ := c.poll(t)
		require.Equal(t, http.StatusOK, status)
		resp, _ = f.request(t, http.MethodGet, c.query(), "", nil, nil)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, "a connection is served by its own path only")
	})

	t.Run("roles per path", func(t *testing.T) {
		t.Parallel()
		admins := f.at("/admins")
		resp, body := admins.request(t, http.MethodPost, "/negotiate?negotiateVersion=1", "", nil, nil)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.Equal(t, "Bearer", resp.Header.Get("WWW-Authenticate"))
		require.Empty(t, body)
		resp, body = admins.request(t, http.MethodPost, "/negotiate?negotiateVersion=1", "bob", nil, nil)
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		require.Empty(t, body)
		admins.connect(t, "json", "carol+owner").echo(t)
		f.connect(t, "json", "bob").echo(t) // the hub's own path takes everyone
	})

	t.Run("paths in any letter case", func(t *testing.T) {
		t.Parallel()
		for _, path := range []string{"/HUB", "/hUb", "/other", "/OTHER", "/LP"} {
			g := f.at(path)
			resp, body := g.request(t, http.MethodPost, "/NEGOTIATE?negotiateVersion=1", "", nil, nil)
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, body)
		}
		resp, _ := f.at("/nowhere").request(t, http.MethodPost, "/negotiate", "", nil, nil)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, "unmapped paths go to the router's next handler")
	})

	t.Run("one hub whatever the path", func(t *testing.T) {
		t.Parallel()
		a := f.connect(t, "json", "")
		b := f.at("/other").connect(t, "messagepack", "")
		b.send(t, &protocol.Invocation{Target: "Void", Arguments: []any{}}) // warm up: b reads
		id := a.call(t, "AskOther", b.id)
		inv := b.invocation(t, "Answer")
		b.send(t, &protocol.Completion{InvocationID: inv.InvocationID, HasResult: true, Result: "from the other path"})
		require.Equal(t, "from the other path", result[string](t, a, a.completion(t, id)))
	})
}

func TestRouterRefusesBadPaths(t *testing.T) {
	t.Parallel()
	r := hub.NewRouter(nil)
	r.Map("/hubs/chat", http.NotFoundHandler())
	for _, path := range []string{"/Hubs/Chat", "hubs/x", "/", "/hubs/x/negotiate"} {
		require.Panics(t, func() { r.Map(path, http.NotFoundHandler()) }, path)
	}
}

// A method sees the request that opened its connection, its transport and its protocol; the
// access token in the query is not kept.
func TestRequestInfo(t *testing.T) {
	t.Parallel()
	type info struct {
		Header, Cookie, Query, Token, Transport, Protocol, Remote string
	}
	f := setup(t, hub.Options{}, func(h *hub.Hub) {
		h.On("Info", func(c *hub.Context) (info, error) {
			r := c.Request()
			cookie, err := r.Cookie("theme")
			if err != nil {
				return info{}, err
			}
			return info{
				Header: r.Header.Get("X-Porting"), Cookie: cookie.Value, Query: r.Query().Get("tenant"),
				Token: r.Query().Get("access_token"), Transport: string(c.Transport()), Protocol: c.Protocol(),
				Remote: r.RemoteAddr,
			}, nil
		})
	})
	n := f.negotiate(t, "bob")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	hdr := http.Header{"X-Porting": {"yes"}, "Cookie": {"session=1; theme=dark"}}
	ws, _, err := websocket.Dial(ctx, f.wsURL(n.ConnectionToken)+"&tenant=acme&access_token=bob", &websocket.DialOptions{HTTPClient: f.srv.Client(), HTTPHeader: hdr})
	require.NoError(t, err)
	defer ws.CloseNow()
	require.NoError(t, ws.Write(ctx, websocket.MessageText, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: "json", Version: 1})))
	_, _, err = ws.Read(ctx) // the handshake response
	require.NoError(t, err)
	frame, err := protocol.JSON().AppendMessage(nil, &protocol.Invocation{InvocationID: "1", Target: "Info", Arguments: []any{}})
	require.NoError(t, err)
	require.NoError(t, ws.Write(ctx, websocket.MessageText, frame))
	_, data, err := ws.Read(ctx)
	require.NoError(t, err)
	msgs, _, err := protocol.JSON().ParseMessages(data, 1<<20, nil)
	require.NoError(t, err)
	comp := msgs[0].(*protocol.Completion)
	require.Empty(t, comp.Error)
	var got info
	require.NoError(t, json.Unmarshal(comp.Result.(protocol.RawValue), &got))
	require.Equal(t, "yes", got.Header)
	require.Equal(t, "dark", got.Cookie)
	require.Equal(t, "acme", got.Query)
	require.Empty(t, got.Token, "the access token is not kept")
	require.Equal(t, "WebSockets", got.Transport)
	require.Equal(t, "json", got.Protocol)
	require.NotEmpty(t, got.Remote)
}

func TestFilters(t *testing.T) {
	t.Parallel()
	var (
		mu  sync.Mutex
		log []string
	)
	record := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		log = append(log, s)
	}
	recorded := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(log)
	}
	outer := &recordingFilter{name: "outer", record: record}
	inner := &recordingFilter{name: "inner", record: record}
	f := setup(t, hub.Options{
		Filters: []hub.Filter{outer, inner, refusingFilter{}},
		OnConnected: func(c *hub.Context) error {
			record("OnConnected")
			if c.UserID() == "mallory" {
				return hub.Errorf("not you, %s", c.UserID())
			}
			return nil
		},
		OnDisconnected: func(*hub.Context, error) { record("OnDisconnected") },
	}, func(h *hub.Hub) {
		h.On("Shout", func(_ *hub.Context, s string) (string, error) { record("Shout"); return s + "!", nil })
		h.On("Secret", func(*hub.Context) (string, error) { return "never", nil })
	})

	c := f.connect(t, "json", "alice")
	require.Equal(t, "HEY!", result[string](t, c, c.invoke(t, "Shout", "hey")), "the inner filter changed the argument")
	require.Equal(t, "An unexpected error occurred invoking 'Secret' on the server. HubException: Secret is refused.", c.invoke(t, "Secret").Error)
	require.NoError(t, c.ws.Close(websocket.StatusNormalClosure, ""))
	eventually(t, func() bool { return slices.Contains(recorded(), "OnDisconnected") })
	require.Equal(t, []string{
		"outer OnConnected", "inner OnConnected", "OnConnected",
		"outer Shout", "inner Shout", "Shout", "inner Shout done", "outer Shout done",
		"outer Secret", "inner Secret", "inner Secret done", "outer Secret done",
		"outer OnDisconnected", "inner OnDisconnected", "OnDisconnected",
	}, recorded(), "the first filter is outermost")

	// An error from OnConnected (or a filter's) closes the connection as .NET does.
	m := f.connect(t, "json", "mallory")
	cl := m.expectClose(t)
	require.Equal(t, "Connection closed with an error. HubException: not you, mallory", cl.Error)
	require.False(t, cl.AllowReconnect)
}

// recordingFilter notes what passes through it; the inner one upper-cases Shout's argument.
type recordingFilter struct {
	hub.FilterBase
	name   string
	record func(string)
}

func (f *recordingFilter) InvokeMethod(ic *hub.InvocationContext, next hub.InvokeFunc) (any, error) {
	f.record(f.name + " " + ic.Method)
	if f.name == "inner" && ic.Method == "Shout" {
		ic.Args[0] = "HEY"
	}
	res, err := next(ic)
	f.record(f.name + " " + ic.Method + " done")
	return res, err
}

func (f *recordingFilter) OnConnected(c *hub.Context, next func(*hub.Context) error) error {
	f.record(f.name + " OnConnected")
	return next(c)
}

func (f *recordingFilter) OnDisconnected(c *hub.Context, err error, next func(*hub.Context, error)) {
	f.record(f.name + " OnDisconnected")
	next(c, err)
}

// refusingFilter refuses Secret, as an authorization filter.
type refusingFilter struct{ hub.FilterBase }

func (refusingFilter) InvokeMethod(ic *hub.InvocationContext, next hub.InvokeFunc) (any, error) {
	if ic.Method == "Secret" {
		return nil, hub.Errorf("%s is refused.", ic.Method)
	}
	return next(ic)
}
