package hub_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/hub/protocol"
)

// waitTimeout bounds every wait for something that must happen; it is generous because the race
// detector slows everything down.
const waitTimeout = 10 * time.Second

var discardLogger = slog.New(slog.DiscardHandler)

// fixture is one hub served over HTTP, mounted as package app mounts it.
type fixture struct {
	hub *hub.Hub
	srv *httptest.Server
	url string // the hub's http:// URL
	reg *prometheus.Registry
}

// testAuthenticate accepts "Authorization: Bearer <user>" or "access_token=<user>", where the user
// may carry roles after "+" ("carol+admin"). Tokens named "expired", "forged" or starting with
// "bad" are refused; no token is anonymous.
func testAuthenticate(r *http.Request) (*hub.Principal, error) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if tok == "" {
		tok = r.URL.Query().Get("access_token")
	}
	switch {
	case tok == "":
		return nil, nil
	case tok == "expired", tok == "forged", strings.HasPrefix(tok, "bad"):
		return nil, fmt.Errorf("token %q is invalid", tok)
	}
	user, roles, _ := strings.Cut(tok, "+")
	p := &hub.Principal{UserID: user}
	if roles != "" {
		p.Roles = strings.Split(roles, "+")
	}
	return p, nil
}

// setup serves a new hub named "test" with the basic methods (Echo, Add, Void) and those that
// register adds. The hub is shut down and the server closed when the test ends.
func setup(t testing.TB, opts hub.Options, register ...func(h *hub.Hub)) *fixture {
	t.Helper()
	reg := prometheus.NewRegistry()
	if opts.Logger == nil {
		opts.Logger = discardLogger
	}
	if opts.Authenticate == nil {
		opts.Authenticate = testAuthenticate
	}
	opts.Metrics = hub.NewMetrics(reg)
	h, err := hub.New("test", opts)
	require.NoError(t, err)
	registerBasics(h)
	for _, r := range register {
		r(h)
	}
	return serve(t, h, reg)
}

// serve mounts h on a test server; the hub is shut down before the server closes.
func serve(t testing.TB, h *hub.Hub, reg *prometheus.Registry) *fixture {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/hub", h)
	mux.Handle("/hub/negotiate", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { shutdown(t, h) })
	return &fixture{hub: h, srv: srv, url: srv.URL + "/hub", reg: reg}
}

func shutdown(t testing.TB, h *hub.Hub) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	require.NoError(t, h.Shutdown(ctx), "hub shutdown")
}

func registerBasics(h *hub.Hub) {
	h.On("Echo", func(_ *hub.Context, s string) (string, error) { return s, nil })
	h.On("Add", func(_ *hub.Context, a, b int) (int, error) { return a + b, nil })
	h.On("Void", func(_ *hub.Context) error { return nil })
}

// request sends one HTTP request to the hub; user, when set, is sent as a bearer token.
func (f *fixture) request(t testing.TB, method, query, user string, hdr http.Header, body []byte) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, f.url+query, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header[k] = v
	}
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+user)
	}
	resp, err := f.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

type negotiation struct {
	ConnectionID        string `json:"connectionId"`
	ConnectionToken     string `json:"connectionToken"`
	NegotiateVersion    int    `json:"negotiateVersion"`
	AvailableTransports []struct {
		Transport       string   `json:"transport"`
		TransferFormats []string `json:"transferFormats"`
	} `json:"availableTransports"`
}

// negotiate creates a connection (negotiate version 1) for user ("" for anonymous).
func (f *fixture) negotiate(t testing.TB, user string) negotiation {
	t.Helper()
	resp, body := f.request(t, http.MethodPost, "/negotiate?negotiateVersion=1", user, nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "negotiate: %s", body)
	var n negotiation
	require.NoError(t, json.Unmarshal(body, &n))
	require.NotEmpty(t, n.ConnectionID)
	require.NotEmpty(t, n.ConnectionToken)
	return n
}

// wsURL is the WebSocket URL of the hub for a connection token.
func (f *fixture) wsURL(token string) string {
	u := "ws" + strings.TrimPrefix(f.url, "http")
	if token != "" {
		u += "?id=" + token
	}
	return u
}

// dialWebSocket opens a WebSocket for token; the caller owns the returned socket.
func (f *fixture) dialWebSocket(ctx context.Context, token, user string) (*websocket.Conn, *http.Response, error) {
	hdr := http.Header{}
	if user != "" {
		hdr.Set("Authorization", "Bearer "+user)
	}
	return websocket.Dial(ctx, f.wsURL(token), &websocket.DialOptions{HTTPClient: f.srv.Client(), HTTPHeader: hdr})
}

// wsClient is a raw SignalR client over a WebSocket: tests decide every byte it sends, and it
// parses what it receives with package protocol.
type wsClient struct {
	id, token string
	ws        *websocket.Conn
	proto     protocol.HubProtocol

	hs   chan string           // the server's handshake response: its error text, "" on success
	msgs chan protocol.Message // hub messages after the handshake
	quit chan struct{}         // closed at cleanup: the reader stops
	done chan struct{}         // closed when the reader ends
	err  error                 // why the reader ended; read after done

	stall   bool          // stop reading after the handshake until unstall is closed
	unstall chan struct{} // closed at cleanup

	seq atomic.Int64
	mu  sync.Mutex // serialises echo, so that parallel subtests can share a client
}

type wsOption func(*wsClient)

// stalled makes a client that stops reading after the handshake: a slow consumer.
func stalled() wsOption { return func(c *wsClient) { c.stall = true } }

// dialWS negotiates for user and opens the WebSocket; it sends no handshake.
func (f *fixture) dialWS(t testing.TB, protoName, user string, opts ...wsOption) *wsClient {
	t.Helper()
	return f.openWS(t, f.negotiate(t, user), protoName, user, opts...)
}

// openWS opens the WebSocket of a connection negotiated on any node; it sends no handshake.
func (f *fixture) openWS(t testing.TB, n negotiation, protoName, user string, opts ...wsOption) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ws, resp, err := f.dialWebSocket(ctx, n.ConnectionToken, user)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	ws.SetReadLimit(-1)
	c := &wsClient{
		id: n.ConnectionID, token: n.ConnectionToken, ws: ws,
		hs:      make(chan string, 1),
		msgs:    make(chan protocol.Message, 1<<14),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		unstall: make(chan struct{}),
	}
	c.proto = protocol.ByName(protoName)
	if c.proto == nil {
		c.proto = protocol.JSON() // a handshake test with an unknown protocol
	}
	for _, o := range opts {
		o(c)
	}
	go c.read()
	t.Cleanup(func() {
		close(c.quit)
		close(c.unstall)
		_ = c.ws.CloseNow() // the socket may be closed already
		<-c.done
	})
	return c
}

// connect opens a WebSocket connection and completes the handshake for protoName.
func (f *fixture) connect(t testing.TB, protoName, user string, opts ...wsOption) *wsClient {
	t.Helper()
	c := f.dialWS(t, protoName, user, opts...)
	c.sendRaw(t, websocket.MessageText, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: protoName, Version: 1}))
	require.Empty(t, c.handshakeResponse(t), "handshake refused")
	return c
}

// connectPatiently connects to a hub with a short HandshakeTimeout: when the test machine is so
// busy that this client's own handshake missed the timeout, it tries again.
func connectPatiently(t testing.TB, f *fixture, protoName string) *wsClient {
	t.Helper()
	for range 20 {
		c := f.dialWS(t, protoName, "")
		c.sendRaw(t, websocket.MessageText, protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: protoName, Version: 1}))
		text := c.handshakeResponse(t)
		if text == "" {
			return c
		}
		require.Equal(t, "Handshake was canceled.", text)
	}
	t.Fatal("could not complete a handshake in time")
	return nil
}

func (c *wsClient) read() {
	defer close(c.done)
	var buf []byte
	handshaken := false
	for {
		if handshaken && c.stall {
			<-c.unstall
			c.stall = false
		}
		_, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.err = err
			return
		}
		buf = append(buf, data...)
		if !handshaken {
			text, n, err := protocol.ParseHandshakeResponse(buf)
			if errors.Is(err, protocol.ErrIncomplete) {
				continue
			}
			if err != nil {
				c.err = fmt.Errorf("bad handshake response %q: %w", buf, err)
				return
			}
			handshaken = true
			c.hs <- text
			buf = buf[n:]
		}
		msgs, n, err := c.proto.ParseMessages(buf, 0, nil)
		if err != nil {
			c.err = fmt.Errorf("bad message from the server: %w", err)
			return
		}
		buf = append([]byte(nil), buf[n:]...)
		for _, m := range msgs {
			select {
			case c.msgs <- m:
			case <-c.quit:
				return
			}
		}
	}
}

func (c *wsClient) handshakeResponse(t testing.TB) string {
	t.Helper()
	select {
	case text := <-c.hs:
		return text
	case <-c.done:
		select {
		case text := <-c.hs:
			return text
		default:
		}
		t.Fatalf("connection ended before the handshake response: %v", c.err)
	case <-time.After(waitTimeout):
		t.Fatal("no handshake response")
	}
	return ""
}

func (c *wsClient) frameType() websocket.MessageType {
	if c.proto.Binary() {
		return websocket.MessageBinary
	}
	return websocket.MessageText
}

func (c *wsClient) sendRaw(t testing.TB, typ websocket.MessageType, b []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	require.NoError(t, c.ws.Write(ctx, typ, b))
}

// encode frames m in the client's protocol.
func (c *wsClient) encode(t testing.TB, m protocol.Message) []byte {
	t.Helper()
	b, err := c.proto.AppendMessage(nil, m)
	require.NoError(t, err)
	return b
}

func (c *wsClient) send(t testing.TB, m protocol.Message) {
	t.Helper()
	c.sendRaw(t, c.frameType(), c.encode(t, m))
}

// newID returns a fresh invocation id.
func (c *wsClient) newID() string { return "c" + strconv.FormatInt(c.seq.Add(1), 10) }

// call sends an invocation and returns its id, without waiting.
func (c *wsClient) call(t testing.TB, target string, args ...any) string {
	t.Helper()
	id := c.newID()
	if args == nil {
		args = []any{}
	}
	c.send(t, &protocol.Invocation{InvocationID: id, Target: target, Arguments: args})
	return id
}

// invoke calls target and returns its Completion, which must be the next message.
func (c *wsClient) invoke(t testing.TB, target string, args ...any) *protocol.Completion {
	t.Helper()
	return c.completion(t, c.call(t, target, args...))
}

// completion requires the next message to be the Completion of id.
func (c *wsClient) completion(t testing.TB, id string) *protocol.Completion {
	t.Helper()
	m := c.next(t)
	comp, ok := m.(*protocol.Completion)
	require.True(t, ok, "want the Completion of %s, got %T %+v", id, m, m)
	require.Equal(t, id, comp.InvocationID)
	return comp
}

// result requires a Completion with a result and decodes it.
func result[T any](t testing.TB, c *wsClient, comp *protocol.Completion) T {
	t.Helper()
	require.Empty(t, comp.Error)
	require.True(t, comp.HasResult, "completion has no result")
	return decode[T](t, c.proto, comp.Result)
}

func decode[T any](t testing.TB, p protocol.HubProtocol, v any) T {
	t.Helper()
	raw, ok := v.(protocol.RawValue)
	require.True(t, ok, "value %v is not a RawValue", v)
	var out T
	require.NoError(t, p.Unmarshal(raw, &out))
	return out
}

// echo checks that the connection still works: Echo's Completion must be the next message.
func (c *wsClient) echo(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	s := "ping " + c.newID()
	require.Equal(t, s, result[string](t, c, c.invoke(t, "Echo", s)))
}

// nextAny returns the next message, pings included.
func (c *wsClient) nextAny(t testing.TB) protocol.Message {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	select {
	case m := <-c.msgs:
		return m
	case <-c.done:
		select {
		case m := <-c.msgs:
			return m
		default:
		}
		t.Fatalf("connection %s ended: %v", c.id, c.err)
	case <-timer.C:
		t.Fatalf("no message from the server on connection %s", c.id)
	}
	return nil
}

// next returns the next message that is not a Ping.
func (c *wsClient) next(t testing.TB) protocol.Message {
	t.Helper()
	for {
		if m := c.nextAny(t); m.Type() != protocol.TypePing {
			return m
		}
	}
}

// invocation requires the next message to be an Invocation of target and returns it.
func (c *wsClient) invocation(t testing.TB, target string) *protocol.Invocation {
	t.Helper()
	m := c.next(t)
	inv, ok := m.(*protocol.Invocation)
	require.True(t, ok, "want an Invocation of %s, got %T %+v", target, m, m)
	require.Equal(t, target, inv.Target)
	return inv
}

// expectClose requires the next message to be a Close, then the socket to close.
func (c *wsClient) expectClose(t testing.TB) *protocol.Close {
	t.Helper()
	m := c.next(t)
	cl, ok := m.(*protocol.Close)
	require.True(t, ok, "want a Close, got %T %+v", m, m)
	c.waitClosed(t)
	return cl
}

// closeStatus waits for the server to close the socket and returns the close frame's status
// code (-1 when the socket ended without one).
func (c *wsClient) closeStatus(t testing.TB) websocket.StatusCode {
	t.Helper()
	return websocket.CloseStatus(c.waitClosed(t))
}

// waitClosed waits for the server to close the socket and returns the read error that saw it.
func (c *wsClient) waitClosed(t testing.TB) error {
	t.Helper()
	select {
	case <-c.done:
		return c.err
	case <-time.After(waitTimeout):
		t.Fatal("the server did not close the connection")
	}
	return nil
}

// lpClient is a raw long-polling client.
type lpClient struct {
	f           *fixture
	id, token   string
	user        string
	cachebuster atomic.Int64
}

// longPoll negotiates a connection for user; it is DELETEd when the test ends.
func (f *fixture) longPoll(t testing.TB, user string) *lpClient {
	t.Helper()
	n := f.negotiate(t, user)
	c := &lpClient{f: f, id: n.ConnectionID, token: n.ConnectionToken, user: user}
	t.Cleanup(func() { c.del(t) })
	return c
}

func (c *lpClient) query() string { return "?id=" + c.token }

// poll sends one long poll and returns its status and body.
func (c *lpClient) poll(t testing.TB) (int, []byte) {
	t.Helper()
	q := c.query() + "&_=" + strconv.FormatInt(c.cachebuster.Add(1), 10)
	resp, body := c.f.request(t, http.MethodGet, q, c.user, nil, nil)
	return resp.StatusCode, body
}

// pollAsync starts a poll; its status and body arrive on the channel.
func (c *lpClient) pollAsync(t testing.TB) <-chan pollResult {
	ch := make(chan pollResult, 1)
	go func() {
		q := c.query() + "&_=" + strconv.FormatInt(c.cachebuster.Add(1), 10)
		ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.f.url+q, nil)
		if err != nil {
			ch <- pollResult{err: err}
			return
		}
		if c.user != "" {
			req.Header.Set("Authorization", "Bearer "+c.user)
		}
		resp, err := c.f.srv.Client().Do(req)
		if err != nil {
			ch <- pollResult{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		ch <- pollResult{status: resp.StatusCode, body: body, err: err}
	}()
	return ch
}

type pollResult struct {
	status int
	body   []byte
	err    error
}

func awaitPoll(t testing.TB, ch <-chan pollResult) pollResult {
	t.Helper()
	select {
	case r := <-ch:
		require.NoError(t, r.err)
		return r
	case <-time.After(2 * waitTimeout):
		t.Fatal("poll did not return")
	}
	return pollResult{}
}

// post sends data the way the SSE and long-polling transports do.
func (c *lpClient) post(t testing.TB, data []byte) int {
	t.Helper()
	resp, _ := c.f.request(t, http.MethodPost, c.query(), c.user, nil, data)
	return resp.StatusCode
}

func (c *lpClient) del(t testing.TB) int {
	t.Helper()
	resp, _ := c.f.request(t, http.MethodDelete, c.query(), c.user, nil, nil)
	return resp.StatusCode
}

// sseClient reads a Server-Sent Events stream; it sends with POST like lpClient.
type sseClient struct {
	*lpClient
	resp   *http.Response
	chunks chan []byte
	buf    []byte
	done   chan struct{}
}

// sse negotiates for user and opens the event stream. The stream ends with the test.
func (f *fixture) sse(t testing.TB, user string) *sseClient {
	t.Helper()
	return f.openSSE(t, f.negotiate(t, user), user)
}

// openSSE opens the event stream of a connection negotiated on any node.
func (f *fixture) openSSE(t testing.TB, n negotiation, user string) *sseClient {
	t.Helper()
	lp := &lpClient{f: f, id: n.ConnectionID, token: n.ConnectionToken, user: user}
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url+lp.query(), nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/event-stream")
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+user)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		cancel()
		require.NoError(t, err)
	}
	c := &sseClient{lpClient: lp, resp: resp, chunks: make(chan []byte, 1024), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer close(c.chunks)
		r := bufio.NewReader(resp.Body)
		for {
			b := make([]byte, 4096)
			n, err := r.Read(b)
			if n > 0 {
				c.chunks <- b[:n]
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-c.done
	})
	return c
}

// readUntil returns the stream's bytes up to and including the first delim.
func (c *sseClient) readUntil(t testing.TB, delim string) []byte {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		if i := bytes.Index(c.buf, []byte(delim)); i >= 0 {
			out := c.buf[:i+len(delim)]
			c.buf = append([]byte(nil), c.buf[i+len(delim):]...)
			return out
		}
		select {
		case b, ok := <-c.chunks:
			if !ok {
				t.Fatalf("event stream ended; have %q", c.buf)
			}
			c.buf = append(c.buf, b...)
		case <-timer.C:
			t.Fatalf("no %q in the event stream; have %q", delim, c.buf)
		}
	}
}

// event returns the payload of the next event (its data lines joined by "\n").
func (c *sseClient) event(t testing.TB) []byte {
	t.Helper()
	ev := c.readUntil(t, "\r\n\r\n")
	var payload []byte
	for i, line := range strings.Split(strings.TrimSuffix(string(ev), "\r\n\r\n"), "\r\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		require.True(t, ok, "line %q of event %q is not a data line", line, ev)
		if i > 0 {
			payload = append(payload, '\n')
		}
		payload = append(payload, data...)
	}
	return payload
}

// recv waits for a value (or the close) of ch.
func recv[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatal("nothing arrived on the channel")
	}
	var zero T
	return zero
}

// eventually polls cond until it holds.
func eventually(t testing.TB, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	require.Eventually(t, cond, waitTimeout, 5*time.Millisecond, msgAndArgs...)
}

// parseRecords parses a body that must hold only complete records of p.
func parseRecords(t testing.TB, p protocol.HubProtocol, body []byte) []protocol.Message {
	t.Helper()
	msgs, n, err := p.ParseMessages(body, 0, nil)
	require.NoError(t, err)
	require.Equal(t, len(body), n, "trailing partial record in %q", body)
	return msgs
}

// counter reads a counter of the hub named "test" from a registry.
func counter(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	total := 0.0
	for _, fam := range families {
		if fam.GetName() != name {
			continue
		}
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "hub" && l.GetValue() == "test" {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total
}
