package clusterenv_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/heraldhq/herald/test/clusterenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// serve starts a plain HTTP server on 127.0.0.1 and returns its address.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// named answers every request with its name and what it saw of the proxy's headers.
func named(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Host", r.Host)
		w.Header().Set("X-Seen-Forwarded-For", r.Header.Get("X-Forwarded-For"))
		_, _ = io.WriteString(w, name)
	})
}

// client is a keep-alive client: every request goes over the same connection to nginx, so that the
// round-robin test also shows there is no affinity per client connection.
func client(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{MaxConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func get(t *testing.T, c *http.Client, url string) (string, http.Header) {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	return string(body), resp.Header
}

func TestNginxRoundRobinWithoutAffinity(t *testing.T) {
	t.Parallel()
	lb := clusterenv.Nginx(t, []string{serve(t, named("a")), serve(t, named("b"))})
	c := client(t)

	var seen []string
	for range 8 {
		name, h := get(t, c, "http://"+lb+"/negotiate")
		require.Equal(t, lb, h.Get("X-Seen-Host"), "Host is passed on")
		require.Equal(t, "127.0.0.1", h.Get("X-Seen-Forwarded-For"))
		seen = append(seen, name)
	}
	for i := 1; i < len(seen); i++ {
		require.NotEqual(t, seen[i-1], seen[i], "consecutive requests alternate: %v", seen)
	}
}

func TestNginxSkipsADeadNode(t *testing.T) {
	t.Parallel()
	dead := "127.0.0.1:" + strconv.Itoa(clusterenv.FreePort(t)) // nothing listens there
	lb := clusterenv.Nginx(t, []string{dead, serve(t, named("alive"))})
	c := client(t)
	for range 4 {
		name, _ := get(t, c, "http://"+lb+"/")
		require.Equal(t, "alive", name)
	}
}

func TestNginxPassesWebSocketUpgrades(t *testing.T) {
	t.Parallel()
	// The upstream hijacks the connection, answers 101 and echoes a line: what comes back proves the
	// tunnel both ways.
	ws := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") ||
			!strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
			http.Error(w, fmt.Sprintf("not an upgrade: Upgrade %q, Connection %q",
				r.Header.Get("Upgrade"), r.Header.Get("Connection")), http.StatusBadRequest)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_ = rw.Flush()
		line, err := rw.ReadString('\n')
		if err != nil {
			return
		}
		_, _ = rw.WriteString("echo " + line)
		_ = rw.Flush()
	})
	lb := clusterenv.Nginx(t, []string{serve(t, ws)})

	conn, err := net.Dial("tcp", lb)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = fmt.Fprintf(conn, "GET /hubs/notifications?id=x HTTP/1.1\r\nHost: %s\r\n"+
		"Upgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", lb)
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	require.True(t, strings.EqualFold(resp.Header.Get("Upgrade"), "websocket"), resp.Header)

	_, err = io.WriteString(conn, "hello\n")
	require.NoError(t, err)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "echo hello\n", line)
}

func TestNginxStreamsServerSentEvents(t *testing.T) {
	t.Parallel()
	// The upstream sends a first event and then waits for the test to have read it before the second
	// one; were nginx buffering, the test would only get the first event together with the second,
	// which after 2 s says so ("late").
	read := make(chan struct{})
	sse := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = io.WriteString(w, "data: one\n\n")
		_ = http.NewResponseController(w).Flush()
		select {
		case <-read:
			_, _ = io.WriteString(w, "data: two\n\n")
		case <-time.After(2 * time.Second):
			_, _ = io.WriteString(w, "data: late\n\n")
		case <-r.Context().Done():
		}
	})
	lb := clusterenv.Nginx(t, []string{serve(t, sse)})

	start := time.Now()
	resp, err := client(t).Get("http://" + lb + "/hubs/notifications?id=x")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	events := bufio.NewReader(resp.Body)
	event := func() string {
		var data string
		for {
			line, err := events.ReadString('\n')
			require.NoError(t, err)
			if line == "\n" {
				return data
			}
			data += strings.TrimPrefix(strings.TrimSuffix(line, "\n"), "data: ")
		}
	}
	require.Equal(t, "one", event())
	t.Logf("first event after %s", time.Since(start))
	close(read)
	require.Equal(t, "two", event(), "the first event must arrive before the upstream writes the second")
}

func TestRedisCluster(t *testing.T) {
	t.Parallel()
	addrs := clusterenv.RedisCluster(t, 3)
	require.Len(t, addrs, 3)
	for _, addr := range addrs {
		info, err := clusterenv.ClusterInfo(addr)
		require.NoError(t, err)
		require.Equal(t, "ok", info["cluster_state"], addr)
		require.Equal(t, "3", info["cluster_known_nodes"], addr)
		require.Equal(t, "3", info["cluster_size"], addr, "three masters with slots")
	}

	// Sharded pub/sub: SPUBLISH is answered with the receiver count by the node owning the channel's
	// slot, with MOVED by the others.
	reply, err := clusterenv.Do(addrs[0], "SPUBLISH", "ch", "x")
	if err != nil {
		var moved clusterenv.RedisError
		require.ErrorAs(t, err, &moved)
		f := strings.Fields(string(moved))
		require.Len(t, f, 3, "MOVED <slot> <addr>: %q", moved)
		require.Equal(t, "MOVED", f[0])
		require.Contains(t, addrs, f[2])
		reply, err = clusterenv.Do(f[2], "SPUBLISH", "ch", "x")
		require.NoError(t, err)
	}
	require.Equal(t, "0", reply, "nobody subscribes")
}

func TestRedisClusterOfOneMaster(t *testing.T) {
	t.Parallel()
	addrs := clusterenv.RedisCluster(t, 1)
	require.Len(t, addrs, 1)
	reply, err := clusterenv.Do(addrs[0], "SPUBLISH", "ch", "x")
	require.NoError(t, err, "one node holds every slot")
	require.Equal(t, "0", reply)
}

func TestRedis(t *testing.T) {
	t.Parallel()
	addr := clusterenv.Redis(t)
	require.Equal(t, "127.0.0.1:6379", addr)
	reply, err := clusterenv.Do(addr, "PING")
	require.NoError(t, err)
	require.Equal(t, "PONG", reply)
}

func TestPrivateRedisRestartsOnItsPort(t *testing.T) {
	t.Parallel()
	addr := clusterenv.PrivateRedis(t)
	reply, err := clusterenv.Do(addr, "PING")
	require.NoError(t, err)
	require.Equal(t, "PONG", reply)

	// What a cluster test does to restart Redis: stop it, start it again on the same port.
	dir := t.TempDir()
	p, err := clusterenv.StartRedis(dir, 0)
	require.NoError(t, err)
	_, err = clusterenv.Do(p.Addr, "SET", "k", "v")
	require.NoError(t, err)
	require.NoError(t, p.Stop())
	_, err = clusterenv.Do(p.Addr, "PING")
	require.Error(t, err, "stopped")

	port, err := strconv.Atoi(p.Addr[strings.LastIndexByte(p.Addr, ':')+1:])
	require.NoError(t, err)
	again, err := clusterenv.StartRedis(dir, port)
	require.NoError(t, err)
	defer func() { require.NoError(t, again.Stop()) }()
	require.Equal(t, p.Addr, again.Addr)
	v, err := clusterenv.Do(again.Addr, "GET", "k")
	require.NoError(t, err)
	require.Empty(t, v, "no persistence: a restarted Redis is empty")
}

func TestStartNginxWithoutTB(t *testing.T) {
	t.Parallel()
	p, err := clusterenv.StartNginx(t.TempDir(), []string{serve(t, named("a"))})
	require.NoError(t, err)
	name, _ := get(t, client(t), "http://"+p.Addr+"/")
	require.Equal(t, "a", name)
	require.NoError(t, p.Stop())
	require.True(t, p.Exited())
	require.NoError(t, p.ExitErr(), "nginx exits 0 on SIGTERM")
}

func TestNginxKilledLeavesNothingListening(t *testing.T) {
	t.Parallel()
	p, err := clusterenv.StartNginx(t.TempDir(), []string{serve(t, named("a"))})
	require.NoError(t, err)
	require.NoError(t, p.Kill())
	// nginx runs as one process (no master and workers): SIGKILL leaves no worker on the port.
	_, err = net.DialTimeout("tcp", p.Addr, time.Second)
	require.Error(t, err, "nothing listens on %s after SIGKILL", p.Addr)
}
