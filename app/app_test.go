package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/heraldhq/herald/app"
	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/test/heraldtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// setup serves a Herald with cfg on a loopback port and returns its base URL.
func setup(t *testing.T, cfg app.Config) string {
	t.Helper()
	_, base := heraldtest.Serve(t, cfg)
	return base
}

func TestHealthAndMetrics(t *testing.T) {
	t.Parallel()
	base := setup(t, app.Config{})
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
	}
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	for _, name := range []string{"herald_hub_messages_received_total", "herald_hub_slow_consumer_disconnects_total", "go_goroutines"} {
		require.Contains(t, string(body), name)
	}
}

func TestUnknownPathIsJSONError(t *testing.T) {
	t.Parallel()
	base := setup(t, app.Config{})
	resp, err := http.Get(base + "/nope")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	var body struct {
		Error struct{ Code, Message string }
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Equal(t, "not_found", body.Error.Code)
}

func TestDevLoginTokenOpensNotificationsHub(t *testing.T) {
	t.Parallel()
	base := setup(t, app.Config{})
	negotiate := func(token string) int {
		req, err := http.NewRequest(http.MethodPost, base+"/hubs/notifications/negotiate?negotiateVersion=1", nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusUnauthorized, negotiate(""))
	require.Equal(t, http.StatusUnauthorized, negotiate("not-a-jwt"))

	resp, err := http.Post(base+"/api/auth/dev-login", "application/json", strings.NewReader(`{"user":"alice"}`))
	require.NoError(t, err)
	var login struct{ Token string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&login))
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, http.StatusOK, negotiate(login.Token))
}

func TestDevLoginOffWithJWTSecret(t *testing.T) {
	t.Parallel()
	cfg := app.Config{}
	cfg.Auth.Secret = strings.Repeat("s", 32)
	base := setup(t, cfg)
	resp, err := http.Post(base+"/api/auth/dev-login", "application/json", strings.NewReader(`{"user":"alice"}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestConformanceHubOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	post := func(base string) int {
		resp, err := http.Post(base+"/hubs/conformance/negotiate?negotiateVersion=1", "", nil)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusNotFound, post(setup(t, app.Config{})))
	require.Equal(t, http.StatusOK, post(setup(t, app.Config{ConformanceHub: true})))
}

func TestCORSPreflight(t *testing.T) {
	t.Parallel()
	base := setup(t, app.Config{CORSOrigins: []string{"http://example.test"}})
	req, err := http.NewRequest(http.MethodOptions, base+"/hubs/notifications/negotiate", nil)
	require.NoError(t, err)
	req.Header.Set("Origin", "http://example.test")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,x-signalr-user-agent")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Equal(t, "http://example.test", resp.Header.Get("Access-Control-Allow-Origin"))
	require.Equal(t, "true", resp.Header.Get("Access-Control-Allow-Credentials"))
	allowed := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
	for _, h := range []string{"authorization", "x-requested-with", "x-signalr-user-agent"} {
		require.Contains(t, allowed, h)
	}

	require.Contains(t, allowed, "idempotency-key")

	// An origin not allowed, or any origin without --cors-origins: the preflight is refused with
	// a reason, not answered 405 by the routes.
	req.Header.Set("Origin", "http://evil.test")
	for _, b := range []string{base, setup(t, app.Config{})} {
		r2, err := http.NewRequest(http.MethodOptions, b+"/api/tasks", nil)
		require.NoError(t, err)
		r2.Header = req.Header.Clone()
		resp, err = http.DefaultClient.Do(r2)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusForbidden, resp.StatusCode, string(body))
		require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
		require.Contains(t, string(body), "--cors-origins http://evil.test")
	}
	// A simple request from it goes through, without CORS headers (the browser hides the reply).
	get, _ := http.NewRequest(http.MethodGet, base+"/healthz", nil)
	get.Header.Set("Origin", "http://evil.test")
	resp, err = http.DefaultClient.Do(get)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
}

func TestBadConfig(t *testing.T) {
	t.Parallel()
	_, err := app.New(context.Background(), app.Config{DataDir: t.TempDir(), Hub: hub.Options{MaxMessageSize: -1}})
	require.ErrorContains(t, err, "MaxMessageSize must be positive")
	cfg := app.Config{DataDir: t.TempDir()}
	cfg.Auth.Secret = "short"
	_, err = app.New(context.Background(), cfg)
	require.Error(t, err)
}

func TestDevModeNeedsDevOffLoopback(t *testing.T) {
	t.Parallel()
	_, err := app.New(context.Background(), app.Config{Addr: "0.0.0.0:0", DataDir: t.TempDir()})
	require.ErrorContains(t, err, "needs --dev")
	_, err = app.New(context.Background(), app.Config{Addr: ":8080", DataDir: t.TempDir()})
	require.ErrorContains(t, err, "needs --dev")
	for _, cfg := range []app.Config{
		{Addr: "0.0.0.0:0", Dev: true},
		{Addr: "[::1]:0"},
		{Addr: "localhost:0"},
		{Addr: "0.0.0.0:0", Auth: auth.Config{Secret: strings.Repeat("s", 32)}},
	} {
		cfg.DataDir, cfg.NoWorkers = t.TempDir(), true
		srv, err := app.New(context.Background(), cfg)
		require.NoError(t, err, cfg.Addr)
		require.NoError(t, srv.Close())
	}
}

func TestDemoTasksAreADevelopmentAid(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("s", 32)
	tokens, err := auth.New(context.Background(), auth.Config{Secret: secret})
	require.NoError(t, err)
	defer tokens.Close()
	alice, err := tokens.Mint("alice", nil, time.Minute)
	require.NoError(t, err)
	for _, on := range []bool{false, true} {
		base := setup(t, app.Config{Auth: auth.Config{Secret: secret}, DemoTasks: on, NoWorkers: true})
		req, _ := http.NewRequest(http.MethodPost, base+"/api/demo/tasks", strings.NewReader(`{"steps":1}`))
		req.Header.Set("Authorization", "Bearer "+alice)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if on {
			require.Equal(t, http.StatusAccepted, resp.StatusCode, string(body))
		} else {
			require.Equal(t, http.StatusNotFound, resp.StatusCode, string(body))
			require.Contains(t, string(body), "not_enabled")
		}
	}
}

// TestSlowRequestsEnd: a client that sends a REST request's body slowly, or idles on a
// keep-alive connection, does not hold its connection past the timeouts.
func TestSlowRequestsEnd(t *testing.T) {
	t.Parallel()
	base := setup(t, app.Config{NoWorkers: true, HTTP: app.HTTPTimeouts{Read: 300 * time.Millisecond, Idle: 300 * time.Millisecond}})
	addr := strings.TrimPrefix(base, "http://")
	for name, first := range map[string]string{
		"slow body": "POST /api/exports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"data",
		"idle":      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err, name)
		_, err = conn.Write([]byte(first))
		require.NoError(t, err, name)
		start := time.Now()
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
		_, err = io.ReadAll(conn) // until the server closes the connection
		require.NoError(t, err, name)
		require.Less(t, time.Since(start), 5*time.Second, "%s: the server ended the connection", name)
		conn.Close()
	}
}

// TestMetricsAddr: with a metrics address of its own, /metrics leaves the public listener.
func TestMetricsAddr(t *testing.T) {
	t.Parallel()
	srv, base := heraldtest.Serve(t, app.Config{NoWorkers: true, MetricsAddr: "127.0.0.1:0"})
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "not on the public listener")
	require.NotEmpty(t, srv.MetricsAddr())
	resp, err = http.Get("http://" + srv.MetricsAddr() + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), "herald_hub_connections")
}
