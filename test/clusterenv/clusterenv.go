// Package clusterenv starts the outside pieces that Herald's cluster tests run several `herald serve`
// nodes against, each as a child process of the test that is stopped by its cleanup:
//
//   - [Nginx]: a load balancer in front of the nodes that spreads requests round robin with no
//     affinity at all, so that a SignalR client's negotiate, its WebSocket, SSE or long-polling
//     requests and its sends may each land on a different node, as behind a careless production proxy.
//   - [RedisCluster]: a Redis Cluster of a few masters (no replicas), for the sharded pub/sub
//     (SSUBSCRIBE/SPUBLISH) path of the Redis backplane.
//   - [Redis]: the machine's single Redis on 127.0.0.1:6379, which .ci/run starts.
//
// When nginx or Redis is not installed (or the machine's Redis does not answer), the test is skipped
// with a loud SKIPPING line saying how to install it; under CI=true it fails instead, as Herald's
// other tests that need a service do.
//
//	func TestFailover(t *testing.T) {
//		redis := clusterenv.Redis(t)
//		a, b := startNode(t, redis), startNode(t, redis)
//		lb := clusterenv.Nginx(t, []string{a, b})
//		// connect clients to "http://" + lb ...
//	}
//
// The package is for tests only (depguard keeps it out of Herald's packages).
package clusterenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// How long a child process gets to come up, and to go after SIGTERM before it gets SIGKILL.
const (
	startTimeout = 15 * time.Second
	stopTimeout  = 5 * time.Second
	// A port another test grabbed between our check and the child's bind makes the child exit; it
	// is started again on another port this many times.
	startAttempts = 5
)

// missing skips the test loudly, or fails it under CI=true, when a tool or service is unavailable.
func missing(tb testing.TB, what, how string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s, and CI=true: %s", what, how)
	}
	tb.Skipf("!!!!! SKIPPING: %s; %s (under CI=true this test fails instead) !!!!!", what, how)
}

// binary finds a program at its usual Debian path or on PATH, or returns "".
func binary(usual, name string) string {
	if fi, err := os.Stat(usual); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
		return usual
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return ""
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice). Another
// process may take it before the caller binds it; the starters here retry on another port then.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("find a free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		tb.Fatalf("find a free port: %v", err)
	}
	return port
}

// portsFree reports whether every port can be bound on 127.0.0.1 right now.
func portsFree(ports ...int) bool {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close() // a listener only held to test the port
		}
	}()
	for _, p := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			return false
		}
		ls = append(ls, l)
	}
	return true
}

// process is a child process started by a test, and its exit.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // the exit, valid once done is closed
}

// startProcess starts bin with args, its stdout and stderr appended to outPath.
func startProcess(name, bin string, args []string, outPath string) (*process, error) {
	out, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer out.Close() //nolint:errcheck // the child has its own copy of the descriptor
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process (by its PID: os.Process signals through a pidfd on Linux, so never
// a recycled PID), gives it stopTimeout, then sends SIGKILL, and waits for it.
func (p *process) stop(tb testing.TB) {
	tb.Helper()
	if p.exited() {
		return
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		tb.Errorf("stop %s (pid %d): %v", p.name, p.cmd.Process.Pid, err)
	}
	select {
	case <-p.done:
		return
	case <-time.After(stopTimeout):
	}
	tb.Logf("%s (pid %d) ignored SIGTERM for %s; sending SIGKILL", p.name, p.cmd.Process.Pid, stopTimeout)
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		tb.Errorf("kill %s (pid %d): %v", p.name, p.cmd.Process.Pid, err)
	}
	<-p.done
}

// waitReady polls ready until it succeeds, the process exits (errExited) or startTimeout passes.
func (p *process) waitReady(ready func() error) error {
	deadline := time.Now().Add(startTimeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("%w (%v)", errExited, p.err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w", p.name, startTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var errExited = errors.New("exited during start-up")

// tail returns the end of a log file, for failure messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	const limit = 4 << 10
	if len(b) > limit {
		b = b[len(b)-limit:]
	}
	return string(b)
}

func dialable(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// ---- nginx -----------------------------------------------------------------------------------------

// Nginx starts nginx as a child process of the test, listening on 127.0.0.1 on a free port, in front of
// upstreams ("127.0.0.1:port" each), and returns its address ("127.0.0.1:port") once it accepts
// connections. The cleanup stops it.
//
// It proxies every request round robin with no affinity (no ip_hash, no sticky cookie, one worker so
// that consecutive requests alternate exactly), and is set up for SignalR's three transports:
// WebSocket upgrades pass through (HTTP/1.1 to the upstream with the client's Upgrade and
// Connection), responses and request bodies are not buffered (server-sent events and long polls
// stream), and idle proxied connections live an hour. Host and X-Forwarded-For are passed on. A node
// that refuses connections or times out connecting is skipped for the request and then left alone
// for 2 s (max_fails=1 fail_timeout=2s); a request already sent to a node that then fails is not
// sent again to another one when its method is not idempotent (POST: nginx's default).
func Nginx(tb testing.TB, upstreams []string) string {
	tb.Helper()
	if len(upstreams) == 0 {
		tb.Fatal("clusterenv.Nginx: no upstreams")
	}
	bin := binary("/usr/sbin/nginx", "nginx")
	if bin == "" {
		missing(tb, "nginx is not installed",
			"install it with `apt-get install nginx` (Debian 12; .ci/run does) or your system's nginx package")
	}
	dir := tb.TempDir()
	var lastErr error
	for range startAttempts {
		port := FreePort(tb)
		addr, err := startNginx(tb, bin, dir, port, upstreams)
		if err == nil {
			return addr
		}
		lastErr = err
		if !strings.Contains(err.Error(), "Address already in use") {
			break
		}
	}
	tb.Fatalf("clusterenv.Nginx: %v", lastErr)
	return ""
}

func startNginx(tb testing.TB, bin, dir string, port int, upstreams []string) (string, error) {
	tb.Helper()
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConf(bin, dir, port, upstreams)), 0o600); err != nil {
		return "", fmt.Errorf("write nginx config: %w", err)
	}
	errorLog := filepath.Join(dir, "error.log")
	pidFile := filepath.Join(dir, "nginx.pid")
	// A pid file left by an earlier attempt would pass the readiness check below, and its log would
	// make the next failure look like a port taken.
	for _, f := range []string{pidFile, errorLog} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
	}
	p, err := startProcess("nginx", bin, []string{
		"-p", dir + "/", "-c", conf, "-e", errorLog, "-g", "daemon off;",
	}, filepath.Join(dir, "nginx.out"))
	if err != nil {
		return "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	// nginx writes its pid file once it has bound its listening socket; the dial then proves it is
	// nginx that answers there.
	err = p.waitReady(func() error {
		if _, err := os.Stat(pidFile); err != nil {
			return err
		}
		return dialable(addr)
	})
	if err != nil {
		p.stop(tb)
		return "", fmt.Errorf("start nginx on %s: %w\nnginx error log:\n%s%s", addr, err,
			tail(errorLog), tail(filepath.Join(dir, "nginx.out")))
	}
	tb.Cleanup(func() {
		p.stop(tb)
		if tb.Failed() {
			tb.Logf("nginx %s (upstreams %v) error log:\n%s", addr, upstreams, tail(errorLog))
		}
	})
	return addr, nil
}

// nginxConf is the configuration Nginx runs, every path in dir so that it needs no root-owned
// directory.
func nginxConf(bin, dir string, port int, upstreams []string) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("# Written by clusterenv.Nginx for one test.")
	if os.Geteuid() == 0 {
		// As root, nginx would run its worker as nobody, who cannot enter the test's 0700 temp dir.
		p("user root;")
	}
	p("worker_processes 1; # one round-robin state: consecutive requests alternate exactly")
	p("pid %s;", filepath.Join(dir, "nginx.pid"))
	p("error_log %s info;", filepath.Join(dir, "error.log"))
	p("events { worker_connections 4096; }")
	p("http {")
	p("  access_log %s;", filepath.Join(dir, "access.log"))
	p("  client_body_temp_path %s;", filepath.Join(dir, "client_body_temp"))
	p("  proxy_temp_path %s;", filepath.Join(dir, "proxy_temp"))
	// nginx creates the temp directory of every module compiled in, at its default root-owned path
	// unless told otherwise; the directive of a module left out is an error.
	for _, m := range []string{"fastcgi", "uwsgi", "scgi"} {
		if nginxHasModule(bin, m) {
			p("  %s_temp_path %s;", m, filepath.Join(dir, m+"_temp"))
		}
	}
	p("  map $http_upgrade $connection_upgrade { default upgrade; '' close; }")
	p("  upstream herald {")
	for _, u := range upstreams {
		p("    server %s max_fails=1 fail_timeout=2s;", u)
	}
	p("  }")
	p("  server {")
	p("    listen 127.0.0.1:%d;", port)
	p("    client_max_body_size 0;")
	p("    location / {")
	p("      proxy_pass http://herald;")
	p("      proxy_http_version 1.1;")
	p("      proxy_set_header Upgrade $http_upgrade;")
	p("      proxy_set_header Connection $connection_upgrade;")
	p("      proxy_set_header Host $http_host;")
	p("      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;")
	p("      proxy_set_header X-Forwarded-Proto $scheme;")
	p("      proxy_buffering off;")
	p("      proxy_request_buffering off;")
	p("      proxy_connect_timeout 5s;")
	p("      proxy_read_timeout 1h;")
	p("      proxy_send_timeout 1h;")
	p("      proxy_next_upstream error timeout;")
	p("    }")
	p("  }")
	p("}")
	return b.String()
}

var nginxV struct {
	once sync.Once
	out  string
}

// nginxHasModule reports whether the nginx binary was built with the http module m (`nginx -V` lists
// the modules left out as --without-http_<m>_module).
func nginxHasModule(bin, m string) bool {
	nginxV.once.Do(func() {
		out, err := exec.Command(bin, "-V").CombinedOutput()
		if err == nil {
			nginxV.out = string(out)
		}
	})
	return !strings.Contains(nginxV.out, "--without-http_"+m+"_module")
}

// ---- Redis -----------------------------------------------------------------------------------------

// RedisAddr is the machine's Redis, which .ci/run starts.
const RedisAddr = "127.0.0.1:6379"

// Redis returns the address of the machine's Redis ("127.0.0.1:6379") once it has answered PING.
// Tests share it: each should use its own key and channel prefix.
func Redis(tb testing.TB) string {
	tb.Helper()
	if err := ping(RedisAddr); err != nil {
		missing(tb, fmt.Sprintf("Redis at %s does not answer PING (%v)", RedisAddr, err),
			"start it with `redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save \"\" "+
				"--appendonly no` (install it with `apt-get install redis-server`; .ci/run does both)")
	}
	return RedisAddr
}

// RedisCluster starts a Redis Cluster of masters masters and no replicas, each redis-server a child
// process of the test on 127.0.0.1, and returns their addresses ("127.0.0.1:port") once every node
// reports cluster_state:ok and knows all the others. The slots are spread evenly. The cleanup stops
// them.
//
// The ports are drawn from 20000-22767 so that each cluster bus port (port+10000) is below Linux's
// ephemeral range, where the kernel's own picks for FreePort and outgoing connections live.
func RedisCluster(tb testing.TB, masters int) []string {
	tb.Helper()
	if masters < 1 {
		tb.Fatalf("clusterenv.RedisCluster: %d masters", masters)
	}
	server := binary("/usr/bin/redis-server", "redis-server")
	cli := binary("/usr/bin/redis-cli", "redis-cli")
	if server == "" || cli == "" {
		missing(tb, "redis-server or redis-cli is not installed",
			"install them with `apt-get install redis-server` (.ci/run does)")
	}
	dir := tb.TempDir()
	addrs := make([]string, masters)
	for i := range addrs {
		addrs[i] = startRedisNode(tb, server, dir, i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if masters >= 3 {
		// redis-cli refuses a cluster of fewer than 3 masters.
		args := append([]string{"--cluster", "create"}, addrs...)
		args = append(args, "--cluster-replicas", "0", "--cluster-yes")
		if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
			tb.Fatalf("clusterenv.RedisCluster: redis-cli --cluster create: %v\n%s", err, out)
		}
	} else if err := assignSlots(addrs); err != nil {
		tb.Fatalf("clusterenv.RedisCluster: %v", err)
	}
	if err := waitClusterOK(ctx, addrs); err != nil {
		tb.Fatalf("clusterenv.RedisCluster: %v", err)
	}
	return addrs
}

// startRedisNode starts the i-th cluster node on a free port and returns its address once it answers.
func startRedisNode(tb testing.TB, bin, dir string, i int) string {
	tb.Helper()
	logFile := filepath.Join(dir, fmt.Sprintf("redis-%d.log", i))
	nodesFile := filepath.Join(dir, fmt.Sprintf("nodes-%d.conf", i))
	var lastErr error
	for range startAttempts {
		port := clusterPort()
		if port == 0 {
			lastErr = errors.New("no free port pair (port, port+10000) in 20000-32767")
			continue
		}
		// A nodes file of a failed attempt holds another node ID and port.
		if err := os.Remove(nodesFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			tb.Fatal(err)
		}
		p, err := startProcess(fmt.Sprintf("redis-server %d", i), bin, []string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", nodesFile,
			"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", logFile,
		}, filepath.Join(dir, fmt.Sprintf("redis-%d.out", i)))
		if err != nil {
			tb.Fatalf("clusterenv.RedisCluster: %v", err)
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		if err := p.waitReady(func() error { return ping(addr) }); err != nil {
			p.stop(tb)
			lastErr = fmt.Errorf("redis-server on %s: %w\n%s", addr, err, tail(logFile))
			if errors.Is(err, errExited) {
				continue // most likely a port taken meanwhile
			}
			break
		}
		tb.Cleanup(func() { p.stop(tb) })
		return addr
	}
	tb.Fatalf("clusterenv.RedisCluster: %v", lastErr)
	return ""
}

// clusterPort returns a port in 20000-22767 that is free together with its cluster bus port, or 0.
func clusterPort() int {
	for range 100 {
		p := 20000 + rand.IntN(2768)
		if portsFree(p, p+10000) {
			return p
		}
	}
	return 0
}

// assignSlots makes a cluster of one or two masters by hand: each node takes its share of the 16384
// slots and the others meet the first.
func assignSlots(addrs []string) error {
	const slots = 16384
	for i, addr := range addrs {
		lo, hi := i*slots/len(addrs), (i+1)*slots/len(addrs)-1
		if _, err := Do(addr, "CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(lo), strconv.Itoa(hi)); err != nil {
			return fmt.Errorf("%s: CLUSTER ADDSLOTSRANGE %d %d: %w", addr, lo, hi, err)
		}
	}
	host, port, err := net.SplitHostPort(addrs[0])
	if err != nil {
		return err
	}
	for _, addr := range addrs[1:] {
		if _, err := Do(addr, "CLUSTER", "MEET", host, port); err != nil {
			return fmt.Errorf("%s: CLUSTER MEET %s: %w", addr, addrs[0], err)
		}
	}
	return nil
}

// waitClusterOK polls CLUSTER INFO on every node until all report cluster_state:ok and know every node.
func waitClusterOK(ctx context.Context, addrs []string) error {
	want := strconv.Itoa(len(addrs))
	var last string
	for {
		ok := true
		for _, addr := range addrs {
			info, err := ClusterInfo(addr)
			if err != nil {
				last, ok = fmt.Sprintf("%s: %v", addr, err), false
				break
			}
			if info["cluster_state"] != "ok" || info["cluster_known_nodes"] != want {
				last, ok = fmt.Sprintf("%s: cluster_state:%s cluster_known_nodes:%s",
					addr, info["cluster_state"], info["cluster_known_nodes"]), false
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster %v not ok: %s", addrs, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ClusterInfo returns the fields of CLUSTER INFO on the node at addr.
func ClusterInfo(addr string) (map[string]string, error) {
	text, err := Do(addr, "CLUSTER", "INFO")
	if err != nil {
		return nil, err
	}
	info := map[string]string{}
	for line := range strings.Lines(text) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			info[k] = v
		}
	}
	return info, nil
}

func ping(addr string) error {
	reply, err := Do(addr, "PING")
	if err != nil {
		return err
	}
	if reply != "PONG" {
		return fmt.Errorf("PING answered %q", reply)
	}
	return nil
}

// RedisError is an error reply of Redis ("-MOVED 1234 127.0.0.1:20001", "-ERR ..."), without the '-'.
type RedisError string

func (e RedisError) Error() string { return string(e) }

// Do sends one command to the Redis at addr over a new connection in raw RESP and returns its reply: a
// simple string, bulk string or integer as text (a nil bulk string as ""), an error reply as a
// [RedisError]. Arrays are not supported. It is for setting up and checking test environments, not a
// Redis client.
func Do(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close() //nolint:errcheck // a one-command connection; the reply has been read
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return "", err
	}
	var req strings.Builder
	fmt.Fprintf(&req, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&req, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c, req.String()); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch body := line[1:]; line[0] {
	case '+', ':':
		return body, nil
	case '-':
		return "", RedisError(body)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil {
			return "", fmt.Errorf("bad bulk length %q", body)
		}
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	default:
		return "", fmt.Errorf("unsupported reply %q", line)
	}
}
