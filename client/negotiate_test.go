package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/hub/conformance"
)

// bearerAuth accepts "Bearer user:<name>" (header, or access_token in the query when query is
// set) as user <name>.
func bearerAuth(query bool) hub.AuthenticateFunc {
	return func(r *http.Request) (*hub.Principal, error) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok && query {
			tok, ok = r.URL.Query().Get("access_token"), r.URL.Query().Has("access_token")
		}
		if !ok {
			return nil, nil
		}
		user, ok := strings.CutPrefix(tok, "user:")
		if !ok {
			return nil, errors.New("invalid token")
		}
		return &hub.Principal{UserID: user}, nil
	}
}

// requestLog records the requests that reach the hub.
type requestLog struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (l *requestLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.reqs = append(l.reqs, r.Clone(context.Background()))
		l.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// find returns the recorded requests that negotiate (negotiate true) or upgrade to a WebSocket.
func (l *requestLog) find(negotiate bool) []*http.Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*http.Request
	for _, r := range l.reqs {
		if strings.HasSuffix(r.URL.Path, "/negotiate") == negotiate {
			out = append(out, r)
		}
	}
	return out
}

func TestAccessToken(t *testing.T) {
	t.Parallel()
	log := &requestLog{}
	l := &connTracker{Listener: listen(t)}
	srv := newServer(t, serverConfig{
		opts:     hub.Options{Authenticate: bearerAuth(false), RequireAuth: true},
		wrap:     log.wrap,
		listener: l,
	})
	var calls atomic.Int32
	c := startClient(t, srv.URL, client.Options{
		Reconnect: fastRetries(),
		AccessToken: func(ctx context.Context) (string, error) {
			calls.Add(1)
			return "user:alice", nil
		},
	})
	ev := watch(c)
	var me conformance.WhoAmI
	require.NoError(t, c.Invoke(ctxT(t), "WhoAmI", &me))
	require.NotNil(t, me.UserID)
	require.Equal(t, "alice", *me.UserID)
	require.Equal(t, int32(1), calls.Load())
	for _, negotiate := range []bool{true, false} {
		reqs := log.find(negotiate)
		require.Len(t, reqs, 1)
		require.Equal(t, "Bearer user:alice", reqs[0].Header.Get("Authorization"))
		require.False(t, reqs[0].URL.Query().Has("access_token"), "the token is in the query only when asked")
	}

	// Every reconnect negotiates again, with a fresh token.
	l.cut()
	recv(t, ev.reconnected, "OnReconnected")
	require.GreaterOrEqual(t, calls.Load(), int32(2))
	require.Len(t, log.find(true), int(calls.Load()), "one token per negotiate")
}

func TestAccessTokenInQuery(t *testing.T) {
	t.Parallel()
	log := &requestLog{}
	srv := newServer(t, serverConfig{opts: hub.Options{Authenticate: bearerAuth(true), RequireAuth: true}, wrap: log.wrap})
	c := startClient(t, srv.URL, client.Options{AccessToken: client.StaticToken("user:bob"), AccessTokenInQuery: true})
	var me conformance.WhoAmI
	require.NoError(t, c.Invoke(ctxT(t), "WhoAmI", &me))
	require.Equal(t, "bob", *me.UserID)
	upgrade := log.find(false)
	require.Len(t, upgrade, 1)
	require.Equal(t, "user:bob", upgrade[0].URL.Query().Get("access_token"))
	require.Equal(t, "Bearer user:bob", upgrade[0].Header.Get("Authorization"))
	require.False(t, log.find(true)[0].URL.Query().Has("access_token"), "negotiate carries the header only")
}

func TestNegotiateUnauthorized(t *testing.T) {
	t.Parallel()
	srv := newServer(t, serverConfig{opts: hub.Options{Authenticate: bearerAuth(false), RequireAuth: true}})

	c := newClient(t, srv.URL, client.Options{})
	err := c.Start(ctxT(t))
	var he *client.HTTPError
	require.ErrorAs(t, err, &he)
	require.Equal(t, http.StatusUnauthorized, he.StatusCode)
	require.Equal(t, "negotiate", he.Op)
	require.ErrorContains(t, err, "401")
	require.Equal(t, client.Disconnected, c.State())

	// A refused token is asked for once more, as the official clients do, then the 401 stands.
	var calls atomic.Int32
	c = newClient(t, srv.URL, client.Options{AccessToken: func(context.Context) (string, error) {
		calls.Add(1)
		return "expired", nil
	}})
	require.ErrorContains(t, c.Start(ctxT(t)), "unexpected HTTP status 401")
	require.Equal(t, int32(2), calls.Load())

	// The token function's own error.
	c = newClient(t, srv.URL, client.Options{AccessToken: func(context.Context) (string, error) {
		return "", errors.New("no credentials")
	}})
	require.ErrorContains(t, c.Start(ctxT(t)), "client: access token: no credentials")
}

func TestQueryStringKept(t *testing.T) {
	t.Parallel()
	log := &requestLog{}
	srv := newServer(t, serverConfig{wrap: log.wrap})
	startClient(t, srv.URL+"?tenant=a%20b&x=1", client.Options{})
	neg := log.find(true)
	require.Len(t, neg, 1)
	require.Equal(t, http.MethodPost, neg[0].Method)
	q := neg[0].URL.Query()
	require.Equal(t, "a b", q.Get("tenant"))
	require.Equal(t, "1", q.Get("negotiateVersion"))
	up := log.find(false)
	require.Len(t, up, 1)
	q = up[0].URL.Query()
	require.Equal(t, "a b", q.Get("tenant"))
	require.Equal(t, "1", q.Get("x"))
	require.NotEmpty(t, q.Get("id"))
}

func TestSkipNegotiation(t *testing.T) {
	t.Parallel()
	eachProtocol(t, func(t *testing.T, p client.Protocol) {
		log := &requestLog{}
		srv := newServer(t, serverConfig{wrap: log.wrap})
		c := startClient(t, srv.URL, client.Options{Protocol: p, SkipNegotiation: true})
		var s string
		require.NoError(t, c.Invoke(ctxT(t), "Echo", &s, "direct"))
		require.Equal(t, "direct", s)
		require.Empty(t, c.ConnectionID(), "no negotiate, no connection id")
		require.Empty(t, log.find(true))
		require.False(t, log.find(false)[0].URL.Query().Has("id"))
	})
}

func TestNegotiateReplies(t *testing.T) {
	t.Parallel()
	hubSrv := newServer(t, serverConfig{opts: hub.Options{Authenticate: bearerAuth(false), RequireAuth: true}})
	var seenAuth sync.Map // path → Authorization of its negotiate
	mux := http.NewServeMux()
	reply := func(path, body string, status int) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			seenAuth.Store(path, r.Header.Get("Authorization"))
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		})
	}
	reply("/refuse/negotiate", `{"error":"The hub is closed for maintenance."}`, http.StatusOK)
	reply("/redirect/negotiate", `{"url":"`+hubSrv.URL+`","accessToken":"user:redirected"}`, http.StatusOK)
	reply("/garbage/negotiate", `<html>hello</html>`, http.StatusOK)
	reply("/old/negotiate", `{"ProtocolVersion":"1.5","ConnectionId":"x"}`, http.StatusOK)
	reply("/nows/negotiate", `{"connectionId":"a","connectionToken":"b","negotiateVersion":1,"availableTransports":[{"transport":"LongPolling","transferFormats":["Text","Binary"]}]}`, http.StatusOK)
	reply("/textonly/negotiate", `{"connectionId":"a","connectionToken":"b","negotiateVersion":1,"availableTransports":[{"transport":"WebSockets","transferFormats":["Text"]}]}`, http.StatusOK)
	reply("/missing/negotiate", `Not Found`, http.StatusNotFound)
	reply("/noupgrade/negotiate", `{"connectionId":"a","connectionToken":"b","negotiateVersion":1,"availableTransports":[{"transport":"WebSockets","transferFormats":["Text","Binary"]}]}`, http.StatusOK)
	mux.HandleFunc("/noupgrade", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no WebSockets here", http.StatusForbidden)
	})
	front := httptest.NewServer(mux)
	t.Cleanup(front.Close)
	// The loop redirects to itself.
	mux.HandleFunc("/loop2/negotiate", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"url":"` + front.URL + `/loop2"}`))
	})

	for _, tc := range []struct {
		path  string
		proto client.Protocol
		check func(t *testing.T, err error)
	}{
		{"/refuse", client.JSON, func(t *testing.T, err error) {
			var ne *client.NegotiateError
			require.ErrorAs(t, err, &ne)
			require.Equal(t, "The hub is closed for maintenance.", ne.Message)
		}},
		{"/loop2", client.JSON, func(t *testing.T, err error) {
			require.ErrorContains(t, err, "redirected more than once")
		}},
		{"/garbage", client.JSON, func(t *testing.T, err error) {
			require.ErrorContains(t, err, "invalid reply")
		}},
		{"/old", client.JSON, func(t *testing.T, err error) {
			require.ErrorContains(t, err, "ASP.NET (not Core) SignalR server")
		}},
		{"/nows", client.JSON, func(t *testing.T, err error) {
			require.ErrorContains(t, err, "does not offer the WebSockets transport")
		}},
		{"/textonly", client.MessagePack, func(t *testing.T, err error) {
			require.ErrorContains(t, err, "does not carry Binary frames")
		}},
		{"/missing", client.JSON, func(t *testing.T, err error) {
			var he *client.HTTPError
			require.ErrorAs(t, err, &he)
			require.Equal(t, http.StatusNotFound, he.StatusCode)
			require.Equal(t, "Not Found", he.Body)
		}},
		{"/noupgrade", client.JSON, func(t *testing.T, err error) {
			var he *client.HTTPError
			require.ErrorAs(t, err, &he)
			require.Equal(t, "websocket", he.Op)
			require.Equal(t, http.StatusForbidden, he.StatusCode)
			require.Equal(t, "no WebSockets here", he.Body)
		}},
	} {
		t.Run(strings.TrimPrefix(tc.path, "/"), func(t *testing.T) {
			t.Parallel()
			c := newClient(t, front.URL+tc.path, client.Options{Protocol: tc.proto})
			err := c.Start(ctxT(t))
			require.Error(t, err)
			tc.check(t, err)
			require.Equal(t, client.Disconnected, c.State())
		})
	}

	t.Run("redirect", func(t *testing.T) {
		t.Parallel()
		c := startClient(t, front.URL+"/redirect", client.Options{AccessToken: client.StaticToken("user:app")})
		auth, _ := seenAuth.Load("/redirect/negotiate")
		require.Equal(t, "Bearer user:app", auth, "the first negotiate carries the app's token")
		var me conformance.WhoAmI
		require.NoError(t, c.Invoke(ctxT(t), "WhoAmI", &me))
		require.Equal(t, "redirected", *me.UserID, "the redirect's token is used from then on")
	})
}

func TestHandshakeRefused(t *testing.T) {
	t.Parallel()
	url := fakeServer(t, func(ctx context.Context, ws *websocket.Conn) {
		if _, _, err := ws.Read(ctx); err != nil {
			return
		}
		_ = ws.Write(ctx, websocket.MessageText, []byte(`{"error":"The protocol 'json' is not supported."}`+"\x1e"))
		drain(ctx, ws)
	})
	c := newClient(t, url, client.Options{})
	err := c.Start(ctxT(t))
	var he *client.HandshakeError
	require.ErrorAs(t, err, &he)
	require.Equal(t, "The protocol 'json' is not supported.", he.Message)
	require.Equal(t, client.Disconnected, c.State())
}

func TestHandshakeTimeout(t *testing.T) {
	t.Parallel()
	url := fakeServer(t, func(ctx context.Context, ws *websocket.Conn) { drain(ctx, ws) })
	c := newClient(t, url, client.Options{HandshakeTimeout: 100 * time.Millisecond})
	start := time.Now()
	err := c.Start(ctxT(t))
	require.ErrorContains(t, err, "no response from the server within 100ms")
	require.Less(t, time.Since(start), 5*time.Second)
}

// The handshake response may come in pieces, and hub messages may follow it in the same frame.
func TestHandshakeFraming(t *testing.T) {
	t.Parallel()
	url := fakeServer(t, func(ctx context.Context, ws *websocket.Conn) {
		if _, _, err := ws.Read(ctx); err != nil {
			return
		}
		_ = ws.Write(ctx, websocket.MessageText, []byte(`{`))
		_ = ws.Write(ctx, websocket.MessageText, []byte("}\x1e"+`{"type":1,"target":"hello","arguments":["first"]}`+"\x1e"+`{"type":1,"tar`))
		_ = ws.Write(ctx, websocket.MessageText, []byte(`get":"hello","arguments":["second"]}`+"\x1e"))
		drain(ctx, ws)
	})
	c := newClient(t, url, client.Options{})
	got := make(chan string, 2)
	c.On("hello", func(_ context.Context, args client.Args) (any, error) {
		var s string
		err := args.Decode(0, &s)
		got <- s
		return nil, err
	})
	require.NoError(t, c.Start(ctxT(t)))
	require.Equal(t, "first", recv(t, got, "the first invocation"))
	require.Equal(t, "second", recv(t, got, "the second invocation"))
}

// LocalAddr picks the source address, as a load generator spreading over 127.0.0.x does.
func TestLocalAddr(t *testing.T) {
	t.Parallel()
	t.Cleanup(client.CloseIdleConnections)
	log := &requestLog{}
	srv := newServer(t, serverConfig{wrap: log.wrap})
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}
	c := newClient(t, srv.URL, client.Options{LocalAddr: local})
	if err := c.Start(ctxT(t)); err != nil {
		t.Skipf("cannot bind 127.0.0.2 here: %v", err)
	}
	require.NoError(t, c.Invoke(ctxT(t), "Echo", nil, 1))
	for _, r := range append(log.find(true), log.find(false)...) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		require.NoError(t, err)
		require.Equal(t, "127.0.0.2", host, r.URL.Path)
	}
}
