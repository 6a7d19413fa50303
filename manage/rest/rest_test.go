package rest_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/app"
	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/manage"
	"github.com/heraldhq/herald/test/heraldtest"
)

const (
	key      = "test-access-key-0123456789abcdef0123456789"
	otherKey = "another-access-key-0123456789abcdef01234567"
	scoped   = "scoped-access-key-0123456789abcdef012345678@orders"
)

// herald serves a Herald on a loopback port with the given config (the orders hub and the test
// keys by default) and returns its base URL.
func herald(t *testing.T, cfg app.Config) string {
	t.Helper()
	if cfg.Manage.AccessKeys == nil {
		cfg.Manage.AccessKeys = []string{key, scoped}
	}
	if cfg.Manage.Hubs == nil {
		cfg.Manage.Hubs = []string{"orders"}
	}
	cfg.NoWorkers = true
	_, base := heraldtest.Serve(t, cfg)
	return base
}

func connString(base, k string) string {
	return "Endpoint=" + base + ";AccessKey=" + k + ";Version=1.0;"
}

func sdk(t *testing.T, base string) *manage.Client {
	t.Helper()
	c, err := manage.New(connString(base, key), manage.Options{Retries: -1})
	require.NoError(t, err)
	return c
}

// listener is a serverless client of a hub that records what it receives.
type listener struct {
	c      *client.Client
	mu     sync.Mutex
	got    []string
	closed chan error
}

// listen connects a serverless client of hub for user through the SDK's negotiate body, as a
// backend's negotiate endpoint hands it out.
func listen(t *testing.T, c *manage.Client, hubName, user string, targets ...string) *listener {
	t.Helper()
	neg, err := c.Hub(hubName).Negotiate(user)
	require.NoError(t, err)
	l := &listener{closed: make(chan error, 1)}
	l.c, err = client.New(neg.URL, client.Options{
		AccessToken: func(context.Context) (string, error) { return neg.AccessToken, nil },
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	for _, target := range targets {
		l.c.On(target, func(_ context.Context, args client.Args) (any, error) {
			var s string
			_ = args.Decode(0, &s)
			l.mu.Lock()
			l.got = append(l.got, target+":"+s)
			l.mu.Unlock()
			return nil, nil
		})
	}
	l.c.OnClose(func(err error) { l.closed <- err })
	require.NoError(t, l.c.Start(context.Background()))
	t.Cleanup(func() { _ = l.c.Stop(context.Background()) })
	return l
}

func (l *listener) received() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.got...)
}

func (l *listener) waitFor(t *testing.T, want ...string) {
	t.Helper()
	require.Eventually(t, func() bool {
		got := l.received()
		for _, w := range want {
			found := false
			for _, g := range got {
				found = found || g == w
			}
			if !found {
				return false
			}
		}
		return true
	}, 5*time.Second, 10*time.Millisecond, "want %v", want)
}

// quiet checks that l got nothing besides what it had: a marker sent to it after arrives first.
func (l *listener) quiet(t *testing.T, h *manage.Hub, marker string) {
	t.Helper()
	n := len(l.received())
	require.NoError(t, h.SendToConnection(context.Background(), l.c.ConnectionID(), manage.Message{Target: "m", Arguments: []any{marker}}))
	l.waitFor(t, "m:"+marker)
	require.Equal(t, n+1, len(l.received()), "got more than the marker: %v", l.received())
}

func msg(s string) manage.Message { return manage.Message{Target: "m", Arguments: []any{s}} }

func TestSendsReachTheirTargetsOnly(t *testing.T) {
	t.Parallel()
	base := herald(t, app.Config{})
	c := sdk(t, base)
	h := c.Hub("orders")
	ctx := context.Background()
	alice1 := listen(t, c, "orders", "alice", "m")
	alice2 := listen(t, c, "orders", "alice", "m")
	bob := listen(t, c, "orders", "bob", "m")
	other := listen(t, c, "notifications", "alice", "m")

	require.NoError(t, h.SendToUser(ctx, "alice", msg("to-alice")))
	alice1.waitFor(t, "m:to-alice")
	alice2.waitFor(t, "m:to-alice")
	bob.quiet(t, h, "bob-1")
	other.quiet(t, c.Hub("notifications"), "other-1")

	require.NoError(t, h.AddToGroup(ctx, "vip", bob.c.ConnectionID()))
	require.NoError(t, h.AddToGroup(ctx, "vip", alice1.c.ConnectionID()))
	require.NoError(t, h.SendToGroup(ctx, "vip", msg("to-vip"), manage.SendOptions{Excluded: []string{alice1.c.ConnectionID()}}))
	bob.waitFor(t, "m:to-vip")
	alice1.quiet(t, h, "a1-1")

	require.NoError(t, h.SendToAll(ctx, msg("to-all"), manage.SendOptions{Excluded: []string{bob.c.ConnectionID()}}))
	alice1.waitFor(t, "m:to-all")
	alice2.waitFor(t, "m:to-all")
	bob.quiet(t, h, "bob-2")
	other.quiet(t, c.Hub("notifications"), "other-2")

	require.NoError(t, h.RemoveFromGroup(ctx, "vip", bob.c.ConnectionID()))
	require.NoError(t, h.SendToGroup(ctx, "vip", msg("vip-2")))
	alice1.waitFor(t, "m:vip-2")
	bob.quiet(t, h, "bob-3")
	require.NoError(t, h.RemoveFromAllGroups(ctx, alice1.c.ConnectionID()))
	ok, err := h.GroupExists(ctx, "vip")
	require.NoError(t, err)
	require.False(t, ok, "nobody is left in vip")

	err = h.AddToGroup(ctx, "vip", "no-such-connection")
	require.ErrorIs(t, err, manage.ErrNotFound)
}

func TestUserGroupMembershipOutlivesConnections(t *testing.T) {
	t.Parallel()
	base := herald(t, app.Config{})
	c := sdk(t, base)
	h := c.Hub("orders")
	ctx := context.Background()
	before := listen(t, c, "orders", "carol", "m")
	require.NoError(t, h.AddUserToGroup(ctx, "team", "carol", manage.Forever))
	require.NoError(t, h.AddUserToGroup(ctx, "brief", "carol", time.Second))
	require.NoError(t, h.AddUserToGroup(ctx, "now-only", "carol", 0))
	for _, g := range []string{"team", "brief", "now-only"} {
		in, err := h.UserInGroup(ctx, g, "carol")
		require.NoError(t, err)
		require.True(t, in, g)
	}
	later := listen(t, c, "orders", "carol", "m")
	require.NoError(t, h.SendToGroup(ctx, "team", msg("team-1")))
	require.NoError(t, h.SendToGroup(ctx, "brief", msg("brief-1")))
	require.NoError(t, h.SendToGroup(ctx, "now-only", msg("now-1")))
	before.waitFor(t, "m:team-1", "m:brief-1", "m:now-1")
	later.waitFor(t, "m:team-1", "m:brief-1")
	require.NotContains(t, later.received(), "m:now-1", "ttl 0 adds only the connections there were")

	time.Sleep(1100 * time.Millisecond)
	late := listen(t, c, "orders", "carol", "m")
	require.NoError(t, h.SendToGroup(ctx, "brief", msg("brief-2")))
	later.waitFor(t, "m:brief-2") // an expiry does not take connections out
	late.quiet(t, h, "late-1")

	require.NoError(t, h.RemoveUserFromGroup(ctx, "team", "carol"))
	require.NoError(t, h.SendToGroup(ctx, "team", msg("team-2")))
	before.quiet(t, h, "before-1")
	require.NotContains(t, before.received(), "m:team-2")
	in, err := h.UserInGroup(ctx, "team", "carol")
	require.NoError(t, err)
	require.False(t, in)

	require.NoError(t, h.AddUserToGroup(ctx, "a", "carol", manage.Forever))
	require.NoError(t, h.RemoveUserFromAllGroups(ctx, "carol"))
	for _, g := range []string{"a", "brief", "now-only"} {
		in, err := h.UserInGroup(ctx, g, "carol")
		require.NoError(t, err)
		require.False(t, in, g)
	}
}

func TestCloseAndExistence(t *testing.T) {
	t.Parallel()
	base := herald(t, app.Config{})
	c := sdk(t, base)
	h := c.Hub("orders")
	ctx := context.Background()
	dave := listen(t, c, "orders", "dave", "m")
	erin1 := listen(t, c, "orders", "erin", "m")
	erin2 := listen(t, c, "orders", "erin", "m")

	for _, check := range []func() (bool, error){
		func() (bool, error) { return h.ConnectionExists(ctx, dave.c.ConnectionID()) },
		func() (bool, error) { return h.UserExists(ctx, "erin") },
	} {
		ok, err := check()
		require.NoError(t, err)
		require.True(t, ok)
	}
	for _, check := range []func() (bool, error){
		func() (bool, error) { return h.ConnectionExists(ctx, "nope") },
		func() (bool, error) { return h.UserExists(ctx, "nobody") },
		func() (bool, error) { return h.GroupExists(ctx, "empty") },
	} {
		ok, err := check()
		require.NoError(t, err)
		require.False(t, ok)
	}

	require.NoError(t, h.CloseUserConnections(ctx, "erin", "bye erin", erin2.c.ConnectionID()))
	select {
	case err := <-erin1.closed:
		require.ErrorContains(t, err, "bye erin")
	case <-time.After(5 * time.Second):
		t.Fatal("erin1 was not closed")
	}
	erin2.quiet(t, h, "erin2-alive")
	require.NoError(t, h.CloseConnection(ctx, dave.c.ConnectionID(), "bye dave"))
	select {
	case err := <-dave.closed:
		require.ErrorContains(t, err, "bye dave")
	case <-time.After(5 * time.Second):
		t.Fatal("dave was not closed")
	}
	require.ErrorIs(t, h.CloseConnection(ctx, dave.c.ConnectionID(), ""), manage.ErrNotFound)
	require.NoError(t, h.CloseAllConnections(ctx, "maintenance"))
	select {
	case <-erin2.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("erin2 was not closed")
	}
	require.Eventually(t, func() bool {
		ok, err := h.UserExists(ctx, "erin")
		return err == nil && !ok
	}, 5*time.Second, 20*time.Millisecond)
}

func TestServerlessClientsOnlyListen(t *testing.T) {
	t.Parallel()
	base := herald(t, app.Config{})
	c := sdk(t, base)
	l := listen(t, c, "orders", "frank", "m")
	err := l.c.Send(context.Background(), "anything", 1)
	require.NoError(t, err) // a send is not answered; the server closes the connection
	select {
	case err := <-l.closed:
		require.ErrorContains(t, err, "can only receive")
	case <-time.After(5 * time.Second):
		t.Fatal("the listen-only client was not closed")
	}
}

// call makes a raw request with a token signed by k for the request URL (without query).
func call(t *testing.T, method, u, k, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	require.NoError(t, err)
	if k != "" {
		aud, _, _ := strings.Cut(u, "?")
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"aud": aud, "exp": time.Now().Add(time.Minute).Unix()}).SignedString([]byte(strings.Split(k, "@")[0]))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

func TestAuthAndBadInput(t *testing.T) {
	t.Parallel()
	base := herald(t, app.Config{})
	c := sdk(t, base)
	l := listen(t, c, "orders", "gina", "m")
	send := base + "/api/hubs/orders/users/gina/:send?api-version=2022-06-01"
	good := `{"target":"m","arguments":["ok"]}`

	resp, body := call(t, "POST", send, "", good)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, body)
	resp, body = call(t, "POST", send, otherKey, good)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, body)
	require.Contains(t, body, `"code":"token_invalid"`)

	// A token for another URL is refused.
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"aud": base + "/api/hubs/orders/users/other/:send", "exp": time.Now().Add(time.Minute).Unix()}).SignedString([]byte(key))
	require.NoError(t, err)
	req, _ := http.NewRequest("POST", send, strings.NewReader(good))
	req.Header.Set("Authorization", "Bearer "+tok)
	r2, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	r2.Body.Close()
	require.Equal(t, http.StatusUnauthorized, r2.StatusCode)
	// Nor is one in the query string.
	resp, _ = call(t, "POST", send+"&access_token="+tok, "", good)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	resp, body = call(t, "POST", base+"/api/hubs/notifications/users/gina/:send?api-version=2022-06-01", scoped, good)
	require.Equal(t, http.StatusForbidden, resp.StatusCode, body)
	resp, body = call(t, "POST", send, scoped, good)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, body)
	require.Equal(t, "1", resp.Header.Get("Herald-Receiving-Nodes"), "gina's node got it")
	l.waitFor(t, "m:ok")
	resp, body = call(t, "POST", base+"/api/hubs/orders/users/nobody/:send?api-version=2022-06-01", key, good)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, body)
	require.Equal(t, "0", resp.Header.Get("Herald-Receiving-Nodes"), "nobody is there to receive it")

	resp, body = call(t, "POST", base+"/api/hubs/nosuch/:send?api-version=2022-06-01", key, good)
	require.Equal(t, http.StatusNotFound, resp.StatusCode, body)
	require.Contains(t, body, "hub_not_found")

	for name, b := range map[string]string{
		"not json":      `{"target":`,
		"no target":     `{"arguments":["x"]}`,
		"args not list": `{"target":"m","arguments":{"a":1}}`,
		"empty":         ``,
	} {
		resp, body = call(t, "POST", send, key, b)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, name)
		var env struct {
			Error struct{ Code, Message string }
		}
		require.NoError(t, json.Unmarshal([]byte(body), &env), name)
		require.Equal(t, "bad_request", env.Error.Code, name)
		require.NotEmpty(t, env.Error.Message, name)
	}
	long := strings.Repeat("g", 1025)
	resp, body = call(t, "PUT", base+"/api/hubs/orders/groups/"+long+"/connections/"+l.c.ConnectionID()+"?api-version=2022-06-01", key, "")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, body)
	resp, body = call(t, "PUT", base+"/api/hubs/orders/users/gina/groups/g?api-version=2022-06-01&ttl=-5", key, "")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, body)
	in, err := c.Hub("orders").UserInGroup(context.Background(), "g", "gina")
	require.NoError(t, err)
	require.False(t, in, "a refused call changed nothing")
	resp, _ = call(t, "POST", send, key, `{"target":"m","arguments":["`+strings.Repeat("x", 1<<20)+`"]}`)
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	l.quiet(t, c.Hub("orders"), "after-bad-input") // none of the refused sends arrived
}

func TestIdempotencyKeyAndV1Paths(t *testing.T) {
	t.Parallel()
	base := herald(t, app.Config{})
	c := sdk(t, base)
	h := c.Hub("orders")
	l := listen(t, c, "orders", "hank", "m")
	for range 3 {
		require.NoError(t, h.SendToUser(context.Background(), "hank", msg("once"), manage.SendOptions{IdempotencyKey: "order-42"}))
	}
	require.NoError(t, h.SendToConnection(context.Background(), l.c.ConnectionID(), msg("after-once")))
	l.waitFor(t, "m:after-once") // sent after the three: it comes after what they delivered
	n := 0
	for _, g := range l.received() {
		if g == "m:once" {
			n++
		}
	}
	require.Equal(t, 1, n, "three sends with one key deliver once")

	v1 := base + "/api/v1/hubs/orders"
	resp, body := call(t, "POST", v1+"/users/hank", key, `{"target":"m","arguments":["v1"]}`)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, body)
	l.waitFor(t, "m:v1")
	resp, _ = call(t, "GET", v1+"/users/hank", key, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = call(t, "HEAD", v1+"/users/nobody", key, "")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, "Warning.User.NotExisted", resp.Header.Get("x-ms-error-code"))
	resp, _ = call(t, "PUT", v1+"/groups/v1g/users/hank", key, "")
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	resp, _ = call(t, "POST", v1+"/groups/v1g", key, `{"target":"m","arguments":["v1g"]}`)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	l.waitFor(t, "m:v1g")
	resp, _ = call(t, "HEAD", base+"/api/health?api-version=2022-06-01", "", "")
	require.Equal(t, http.StatusOK, resp.StatusCode, "health needs no token")
	require.NoError(t, c.Health(context.Background()))
}
