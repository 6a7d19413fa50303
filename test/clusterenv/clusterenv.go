// Package clusterenv starts the outside pieces that Herald's cluster tests run several `herald serve`
// nodes against, each as a child process of the test that is stopped by its cleanup:
//
//   - [Nginx]: a load balancer in front of the nodes that spreads requests round robin with no
//     affinity at all, so that a SignalR client's negotiate, its WebSocket, SSE or long-polling
//     requests and its sends may each land on a different node, as behind a careless production proxy.
//   - [RedisCluster]: a Redis Cluster of a few masters (no replicas), for the sharded pub/sub
//     (SSUBSCRIBE/SPUBLISH) path of the Redis backplane.
//   - [Redis]: the machine's single Redis on 127.0.0.1:6379, which .ci/run starts.
//   - [PrivateRedis]: a redis-server of the test's own on a free port, for tests that stop it.
//
// When nginx or Redis is not installed (or the machine's Redis does not answer), the test is skipped
// with a loud SKIPPING line saying how to install it; under CI=true it fails instead, as Herald's
// other tests that need a service do.
//
// Programs use the same starters without a testing.TB: [StartNginx], [StartRedis] and
// [StartCommand] return a [*Process] that the caller stops (test/cluster's herald-cluster runner does),
// and report a missing program as a [*MissingError].
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

// MissingError says that a program or service a cluster test needs is not there, and how to get it.
// The testing.TB wrappers skip the test loudly on it (under CI=true they fail it); a program may tell
// its user.
type MissingError struct {
	What string // "nginx is not installed"
	How  string // "install it with `apt-get install nginx` …"
}

func (e *MissingError) Error() string { return e.What + "; " + e.How }

// missing skips the test loudly, or fails it under CI=true, when a tool or service is unavailable.
func missing(tb testing.TB, m *MissingError) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s, and CI=true: %s", m.What, m.How)
	}
	tb.Skipf("!!!!! SKIPPING: %s; %s (under CI=true this test fails instead) !!!!!", m.What, m.How)
}

// fatal ends the test on err: a skip (or a CI failure) when something is missing, a failure otherwise.
func fatal(tb testing.TB, what string, err error) {
	tb.Helper()
	var m *MissingError
	if errors.As(err, &m) {
		missing(tb, m)
	}
	tb.Fatalf("%s: %v", what, err)
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

// NginxBinary returns the path of nginx, or a [*MissingError].
func NginxBinary() (string, error) {
	if bin := binary("/usr/sbin/nginx", "nginx"); bin != "" {
		return bin, nil
	}
	return "", &MissingError{What: "nginx is not installed",
		How: "install it with `apt-get install nginx` (Debian 12; .ci/run does) or your system's nginx package"}
}

// RedisServerBinary returns the path of redis-server, or a [*MissingError].
func RedisServerBinary() (string, error) {
	if bin := binary("/usr/bin/redis-server", "redis-server"); bin != "" {
		return bin, nil
	}
	return "", &MissingError{What: "redis-server is not installed",
		How: "install it with `apt-get install redis-server` (.ci/run does)"}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice). Another
// process may take it before the caller binds it; the starters here retry on another port then.
func FreePort(tb testing.TB) int {
	tb.Helper()
	port, err := PickPort()
	if err != nil {
		tb.Fatalf("find a free port: %v", err)
	}
	return port
}

// PickPort is [FreePort] for programs: a TCP port on 127.0.0.1 that was free a moment ago.
func PickPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, err
	}
	return port, nil
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

// Process is a child process started here, and its exit. On Linux it gets SIGKILL when the thread
// that started it ends (PR_SET_PDEATHSIG), so a starter that crashes leaves no child behind. Every
// signal goes by the process's PID through os.Process, which signals through a pidfd on Linux: never
// a recycled PID.
type Process struct {
	Name string // for messages: "nginx", "redis-server 127.0.0.1:6390"
	Addr string // "127.0.0.1:port" of a server, once it answers there
	Log  string // path of the file the process logs to ("" when the caller took its output)

	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // the exit, valid once done is closed
}

// StartCommand starts cmd (its output set up by the caller) and returns it as a Process named name.
func StartCommand(name string, cmd *exec.Cmd) (*Process, error) {
	setParentDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// startLogged starts bin with args, its stdout and stderr appended to outPath.
func startLogged(name, bin string, args []string, outPath string) (*Process, error) {
	out, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer out.Close() //nolint:errcheck // the child has its own copy of the descriptor
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	return StartCommand(name, cmd)
}

// Pid is the process's ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited (and been reaped).
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitErr is how the process exited (nil: status 0); valid once Done is closed.
func (p *Process) ExitErr() error {
	<-p.done
	return p.err
}

// Signal sends sig to the process; a process that has exited already is not an error.
func (p *Process) Signal(sig os.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s (pid %d): %w", p.Name, p.Pid(), err)
	}
	return nil
}

// ErrKilled says that [Process.Stop] had to send SIGKILL.
var ErrKilled = errors.New("ignored SIGTERM and was killed")

// Stop sends SIGTERM, gives the process 5 s, then sends SIGKILL (the error wraps [ErrKilled]), and
// waits for it to be gone.
func (p *Process) Stop() error { return p.StopWithin(stopTimeout) }

// StopWithin is [Process.Stop] with grace instead of 5 s.
func (p *Process) StopWithin(grace time.Duration) error {
	if p.Exited() {
		return nil
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	if err := p.Kill(); err != nil {
		return err
	}
	return fmt.Errorf("%s (pid %d) %w after %s", p.Name, p.Pid(), ErrKilled, grace)
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Process) Kill() error {
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-p.done
	return nil
}

// Tail returns the end of the process's log file, for failure messages.
func (p *Process) Tail() string {
	if p.Log == "" {
		return ""
	}
	return tail(p.Log)
}

// stopTB stops p at the end of a test, reporting what went wrong.
func stopTB(tb testing.TB, p *Process) {
	tb.Helper()
	if err := p.Stop(); errors.Is(err, ErrKilled) {
		tb.Log(err)
	} else if err != nil {
		tb.Errorf("stop %v", err)
	}
}

// waitReady polls ready until it succeeds, the process exits (errExited) or startTimeout passes.
func (p *Process) waitReady(ready func() error) error {
	deadline := time.Now().Add(startTimeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("%w (%v)", errExited, p.err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w", p.Name, startTimeout, err)
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
// connections. The cleanup stops it. See [StartNginx] for its setup.
func Nginx(tb testing.TB, upstreams []string) string {
	tb.Helper()
	p, err := StartNginx(tb.TempDir(), upstreams)
	if err != nil {
		fatal(tb, "clusterenv.Nginx", err)
	}
	tb.Cleanup(func() {
		stopTB(tb, p)
		if tb.Failed() {
			tb.Logf("nginx %s (upstreams %v) error log:\n%s", p.Addr, upstreams, p.Tail())
		}
	})
	return p.Addr
}

// StartNginx starts nginx listening on 127.0.0.1 on a free port, in front of upstreams
// ("127.0.0.1:port" each), its configuration, logs and temp files in dir, and returns it once it
// accepts connections (its address in Addr, its error log in Log). The caller stops it. Without nginx
// installed the error is a [*MissingError].
//
// It proxies every request round robin with no affinity (no ip_hash, no sticky cookie, one process
// so that consecutive requests alternate exactly), and is set up for SignalR's three transports:
// WebSocket upgrades pass through (HTTP/1.1 to the upstream with the client's Upgrade and
// Connection), responses and request bodies are not buffered (server-sent events and long polls
// stream), and idle proxied connections live an hour. Host and X-Forwarded-For are passed on. A node
// that refuses connections or times out connecting is skipped for the request and then left alone
// for 2 s (max_fails=1 fail_timeout=2s); a request already sent to a node that then fails is not
// sent again to another one when its method is not idempotent (POST: nginx's default).
func StartNginx(dir string, upstreams []string) (*Process, error) {
	if len(upstreams) == 0 {
		return nil, errors.New("no upstreams")
	}
	bin, err := NginxBinary()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range startAttempts {
		port, err := PickPort()
		if err != nil {
			return nil, err
		}
		p, err := startNginx(bin, dir, port, upstreams)
		if err == nil {
			return p, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "Address already in use") {
			break
		}
	}
	return nil, lastErr
}

func startNginx(bin, dir string, port int, upstreams []string) (*Process, error) {
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConf(bin, dir, port, upstreams)), 0o600); err != nil {
		return nil, fmt.Errorf("write nginx config: %w", err)
	}
	errorLog := filepath.Join(dir, "error.log")
	pidFile := filepath.Join(dir, "nginx.pid")
	// A pid file left by an earlier attempt would pass the readiness check below, and its log would
	// make the next failure look like a port taken.
	for _, f := range []string{pidFile, errorLog} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p, err := startLogged("nginx "+addr, bin, []string{
		"-p", dir + "/", "-c", conf, "-e", errorLog, "-g", "daemon off;",
	}, filepath.Join(dir, "nginx.out"))
	if err != nil {
		return nil, err
	}
	p.Log = errorLog
	// nginx writes its pid file once it has bound its listening socket; the dial then proves it is
	// nginx that answers there.
	err = p.waitReady(func() error {
		if _, err := os.Stat(pidFile); err != nil {
			return err
		}
		return dialable(addr)
	})
	if err != nil {
		_ = p.Stop() // the start-up error is the one to report
		return nil, fmt.Errorf("start nginx on %s: %w\nnginx error log:\n%s%s", addr, err,
			tail(errorLog), tail(filepath.Join(dir, "nginx.out")))
	}
	p.Addr = addr
	return p, nil
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
	// One process: one round-robin state (consecutive requests alternate exactly), and nothing left
	// behind when the test or program that started it dies (the parent-death signal reaches this
	// process; a master's workers would outlive a master killed with SIGKILL).
	p("master_process off;")
	p("pid %s;", filepath.Join(dir, "nginx.pid"))
	p("error_log %s info;", filepath.Join(dir, "error.log"))
	p("events { worker_connections 4096; }")
	p("http {")
	// Which node served each request (and which failed first), for failure diagnostics.
	p("  log_format upstreams '$time_iso8601 \"$request\" $status upstream=$upstream_addr upstream_status=$upstream_status rt=$request_time';")
	p("  access_log %s upstreams;", filepath.Join(dir, "access.log"))
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
	// Which node answered: tests steer the round robin's phase with it.
	p("      add_header X-Upstream $upstream_addr always;")
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
		missing(tb, &MissingError{What: fmt.Sprintf("Redis at %s does not answer PING (%v)", RedisAddr, err),
			How: "start it with `redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save \"\" " +
				"--appendonly no` (install it with `apt-get install redis-server`; .ci/run does both)"})
	}
	return RedisAddr
}

// PrivateRedis starts a Redis of the test's own (a redis-server child process on a free port of
// 127.0.0.1, no persistence), for a test that stops or restarts it, and returns its address. The
// cleanup stops it. See [StartRedis] to restart it on the same port.
func PrivateRedis(tb testing.TB) string {
	tb.Helper()
	p, err := StartRedis(tb.TempDir(), 0)
	if err != nil {
		fatal(tb, "clusterenv.PrivateRedis", err)
	}
	tb.Cleanup(func() {
		stopTB(tb, p)
		if tb.Failed() {
			tb.Logf("redis-server %s log:\n%s", p.Addr, p.Tail())
		}
	})
	return p.Addr
}

// StartRedis starts a standalone redis-server on 127.0.0.1:port (0: a free port, retried on another
// one if taken meanwhile), with no persistence, its log in dir, and returns it once it answers PING
// (its address in Addr). The caller stops it; starting it again on the same port is how a test
// restarts Redis. Without redis-server installed the error is a [*MissingError].
func StartRedis(dir string, port int) (*Process, error) {
	bin, err := RedisServerBinary()
	if err != nil {
		return nil, err
	}
	attempts := startAttempts
	if port != 0 {
		attempts = 1
	}
	var lastErr error
	for range attempts {
		p := port
		if p == 0 {
			if p, err = PickPort(); err != nil {
				return nil, err
			}
		}
		proc, err := startRedis(bin, dir, p)
		if err == nil {
			return proc, nil
		}
		lastErr = err
		if !errors.Is(err, errExited) {
			break
		}
	}
	return nil, lastErr
}

func startRedis(bin, dir string, port int) (*Process, error) {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	logFile := filepath.Join(dir, fmt.Sprintf("redis-%d.log", port))
	p, err := startLogged("redis-server "+addr, bin, []string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", logFile,
	}, filepath.Join(dir, fmt.Sprintf("redis-%d.out", port)))
	if err != nil {
		return nil, err
	}
	p.Log = logFile
	if err := p.waitReady(func() error { return ping(addr) }); err != nil {
		_ = p.Stop() // the start-up error is the one to report
		return nil, fmt.Errorf("redis-server on %s: %w\n%s", addr, err, tail(logFile))
	}
	p.Addr = addr
	return p, nil
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
		missing(tb, &MissingError{What: "redis-server or redis-cli is not installed",
			How: "install them with `apt-get install redis-server` (.ci/run does)"})
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
		p, err := startLogged(fmt.Sprintf("redis-server %d", i), bin, []string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", nodesFile,
			"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", logFile,
		}, filepath.Join(dir, fmt.Sprintf("redis-%d.out", i)))
		if err != nil {
			tb.Fatalf("clusterenv.RedisCluster: %v", err)
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		if err := p.waitReady(func() error { return ping(addr) }); err != nil {
			stopTB(tb, p)
			lastErr = fmt.Errorf("redis-server on %s: %w\n%s", addr, err, tail(logFile))
			if errors.Is(err, errExited) {
				continue // most likely a port taken meanwhile
			}
			break
		}
		tb.Cleanup(func() { stopTB(tb, p) })
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
