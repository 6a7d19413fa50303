// Package cluster runs a Herald cluster on one machine, for people to try and for the cluster interop
// suites (test/interop/cluster*.test.mjs): a Redis of its own, several `herald serve` nodes on one
// PostgreSQL schema and one export directory, a `herald worker`, and nginx in front of the nodes
// (round robin, no affinity). Optionally a second, independent environment (other --env, other
// schema, its own nginx) shares the Redis, to show that environments do not see each other.
//
// Every process is a child of the caller and is stopped by [Cluster.Close], which also drops the
// PostgreSQL schemas and removes the temporary directory. [Cluster.Handler] is the control API that
// stops and starts Redis and nodes while clients are connected. The command
// test/cluster/cmd/herald-cluster wraps it.
package cluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald/test/clusterenv"
)

// Config is what Start runs.
type Config struct {
	// Herald is the path of the herald binary.
	Herald string
	// Env is the environment of the main cluster (--env of its nodes and worker).
	Env string
	// Nodes is how many `herald serve` nodes the main cluster has (default 3).
	Nodes int
	// SecondEnv, when set, starts a second environment of SecondNodes nodes (default 2) with this
	// --env on the same Redis, with its own schema, export directory and nginx, and no worker.
	SecondEnv   string
	SecondNodes int
	// Database is the PostgreSQL database (a schema of its own per environment is created in it and
	// dropped by Close).
	Database string
	// DemoRows is how many demo orders are generated in the main environment's schema (the
	// built-in dataset "orders" exports them).
	DemoRows int
	// NodeWorkers lets the serve nodes run tasks too; by default they run with --no-workers, so
	// that every task runs in the worker process and reaches its owner through the backplane.
	NodeWorkers bool
	// NoRedis starts the nodes and the worker without --redis: each node is alone. Only for
	// checking that the cluster suite fails against such a "cluster".
	NoRedis bool
	// ExtraArgs are added to every `herald serve` (e.g. --log-level debug).
	ExtraArgs []string
	// Faults puts a fault proxy (faults.go) between the herald processes and Redis, and between
	// them and PostgreSQL; the control API adds latency and cuts through them.
	Faults bool
	// Keep leaves the temporary directory (logs, data dirs, exports) in place at Close.
	Keep bool
	// Log receives the cluster's own messages and every line the herald processes write, each
	// prefixed with the process's name. Default os.Stderr.
	Log io.Writer
}

// Info is what a client of the cluster needs; the runner prints it as one JSON line.
type Info struct {
	LB    string   `json:"lb"`
	Nodes []string `json:"nodes"`
	// Pprof are the nodes' pprof addresses (with Config.Faults), in the order of Nodes.
	Pprof     []string `json:"pprof,omitempty"`
	Redis     string   `json:"redis"`
	JWTSecret string   `json:"jwtSecret"`
	// AccessKey is the management API's key on every node (Endpoint=<lb>;AccessKey=…;Version=1.0;).
	AccessKey string   `json:"accessKey"`
	Control   string   `json:"control,omitempty"`
	Env       string   `json:"env"`
	Schema    string   `json:"schema"`
	Worker    bool     `json:"worker"`
	NoRedis   bool     `json:"noRedis,omitempty"`
	LB2       string   `json:"lb2,omitempty"`
	Nodes2    []string `json:"nodes2,omitempty"`
	Env2      string   `json:"env2,omitempty"`
	Schema2   string   `json:"schema2,omitempty"`
	TempDir   string   `json:"tempDir"`
	Database  string   `json:"database"`
}

// Cluster is a running cluster. Its methods are safe for concurrent use.
type Cluster struct {
	cfg     Config
	dir     string
	log     *log.Logger
	out     *lockedWriter
	secret  string
	signing string
	access  string

	redisMu   sync.Mutex
	redisPort int
	redis     *clusterenv.Process // nil while stopped

	envs   []*environment
	worker *proc

	// With Config.Faults: the proxies the herald processes reach Redis and PostgreSQL through.
	redisFault, pgFault *faultProxy

	closeOnce sync.Once
}

// environment is one --env: its nodes, schema, export directory and load balancer.
type environment struct {
	name    string
	schema  string
	dbURL   string // with search_path=schema, so that exports read the schema's orders
	storage string // file:///…
	nodes   []*proc
	nginx   *clusterenv.Process
}

// proc is a herald process that the control API may stop and start again with the same arguments
// (and so on the same port).
type proc struct {
	name  string
	args  []string
	addr  string // "127.0.0.1:port" of a serve node; "" for the worker
	pprof string // with Config.Faults, the node's --pprof-addr
	ready string // for the worker: the log line that says it runs
	c     *Cluster

	mu sync.Mutex
	p  *clusterenv.Process
}

// Start starts the cluster and returns it once every node is ready and nginx answers. On an error
// everything started so far is stopped again. A missing nginx, redis-server or PostgreSQL is a
// *clusterenv.MissingError.
func Start(ctx context.Context, cfg Config) (c *Cluster, err error) {
	if cfg.Nodes <= 0 {
		cfg.Nodes = 3
	}
	if cfg.SecondNodes <= 0 {
		cfg.SecondNodes = 2
	}
	if cfg.Env == "" {
		cfg.Env = "cluster"
	}
	if cfg.SecondEnv == cfg.Env {
		return nil, fmt.Errorf("the second environment must have another name than %q", cfg.Env)
	}
	if cfg.Database == "" {
		cfg.Database = "postgres://postgres@127.0.0.1:5432/test"
	}
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	if fi, err := os.Stat(cfg.Herald); err != nil || fi.IsDir() {
		return nil, fmt.Errorf("herald binary %q not found (build it with `go build -o bin/herald ./cmd/herald`, "+
			"or pass --herald or HERALD_BIN): %v", cfg.Herald, err)
	}
	if _, err := clusterenv.NginxBinary(); err != nil {
		return nil, err
	}
	if _, err := clusterenv.RedisServerBinary(); err != nil {
		return nil, err
	}
	if err := pingPostgres(ctx, cfg.Database); err != nil {
		return nil, &clusterenv.MissingError{
			What: fmt.Sprintf("PostgreSQL at %s does not answer (%v)", redact(cfg.Database), err),
			How:  "start it (.ci/run does; the tests use postgres@127.0.0.1:5432/test, trust) or pass --database",
		}
	}

	dir, err := os.MkdirTemp("", "herald-cluster-")
	if err != nil {
		return nil, err
	}
	out := &lockedWriter{w: cfg.Log}
	c = &Cluster{cfg: cfg, dir: dir, out: out, secret: randomHex(32), signing: randomHex(32), access: randomHex(32),
		log: log.New(prefixWriter(out, "[herald-cluster] "), "", log.Ltime|log.Lmicroseconds)}
	defer func() {
		if err != nil {
			c.Close()
			c = nil
		}
	}()
	c.log.Printf("temporary directory %s", dir)
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		return nil, err
	}

	if err := c.startRedis(0); err != nil {
		return nil, err
	}
	if cfg.Faults {
		if err := c.startFaults(); err != nil {
			return nil, err
		}
	}
	suffix := randomHex(4)
	envs := []string{cfg.Env}
	if cfg.SecondEnv != "" {
		envs = append(envs, cfg.SecondEnv)
	}
	for i, name := range envs {
		e := &environment{name: name, schema: "herald_cluster_" + suffix + "_" + strconv.Itoa(i+1)}
		c.envs = append(c.envs, e)
		if e.dbURL, err = withSearchPath(cfg.Database, e.schema); err != nil {
			return nil, err
		}
		files := filepath.Join(dir, "env-"+name, "files") // the export keys say exports/ themselves
		if err := os.MkdirAll(files, 0o700); err != nil {
			return nil, err
		}
		e.storage = (&url.URL{Scheme: "file", Path: files}).String()
		if err := c.prepareDatabase(ctx, e, i == 0); err != nil {
			return nil, err
		}
		n := cfg.Nodes
		if i > 0 {
			n = cfg.SecondNodes
		}
		for j := range n {
			port, err := clusterenv.PickPort()
			if err != nil {
				return nil, err
			}
			name := fmt.Sprintf("node%d", j)
			if i > 0 {
				name = fmt.Sprintf("%s/node%d", e.name, j)
			}
			e.nodes = append(e.nodes, c.newNode(e, name, port, i > 0))
		}
	}
	main := c.envs[0]
	c.worker = &proc{name: "worker", c: c, ready: "worker running",
		args: append([]string{"worker", "--node-id", "worker"}, c.commonArgs(main, filepath.Join(dir, "env-"+main.name, "worker"))...)}

	// The nodes of all environments start at once (the schemas are migrated already).
	var all []*proc
	for _, e := range c.envs {
		all = append(all, e.nodes...)
	}
	all = append(all, c.worker)
	errs := make([]error, len(all))
	var wg sync.WaitGroup
	for i, p := range all {
		wg.Go(func() { errs[i] = p.firstStart() })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, e := range c.envs {
		var upstreams []string
		for _, n := range e.nodes {
			upstreams = append(upstreams, n.addr)
		}
		nginxDir := filepath.Join(dir, "env-"+e.name, "nginx")
		if err := os.MkdirAll(nginxDir, 0o700); err != nil {
			return nil, err
		}
		if e.nginx, err = clusterenv.StartNginx(nginxDir, upstreams); err != nil {
			return nil, err
		}
		c.log.Printf("env %s: nginx on http://%s (pid %d) in front of %v", e.name, e.nginx.Addr, e.nginx.Pid(), upstreams)
	}
	return c, nil
}

// newNode makes the serve node name of e on port, not started.
func (c *Cluster) newNode(e *environment, name string, port int, second bool) *proc {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := append([]string{"serve", "--addr", addr, "--conformance-hub", "--hub", "orders"},
		c.commonArgs(e, filepath.Join(c.dir, "env-"+e.name, strings.ReplaceAll(name, "/", "-")))...)
	if !c.cfg.NodeWorkers && !second {
		args = append(args, "--no-workers")
	}
	// The operators' page and herald trace name the node as the runner does.
	args = append(args, "--node-id", strings.ReplaceAll(name, "/", "-"))
	pprof := ""
	if c.cfg.Faults {
		// The chaos test reads each node's heap after a GC (/debug/pprof/heap?gc=1).
		if p, err := clusterenv.PickPort(); err == nil {
			pprof = "127.0.0.1:" + strconv.Itoa(p)
			args = append(args, "--pprof-addr", pprof)
		}
	}
	args = append(args, c.cfg.ExtraArgs...)
	return &proc{name: name, addr: addr, args: args, c: c, pprof: pprof}
}

// commonArgs are the flags serve and worker share: database, cluster, exports.
func (c *Cluster) commonArgs(e *environment, dataDir string) []string {
	db, redis := e.dbURL, fmt.Sprintf("127.0.0.1:%d", c.redisPort)
	if c.pgFault != nil {
		db = withHost(db, c.pgFault.addr())
		redis = c.redisFault.addr()
	}
	a := []string{"--data-dir", dataDir,
		"--database", db, "--database-schema", e.schema, "--rescue-after", "5s",
		"--storage", e.storage, "--shutdown-timeout", "3s"}
	if !c.cfg.NoRedis {
		a = append(a, "--redis", "redis://"+redis+"/0", "--env", e.name)
	}
	return a
}

// startFaults starts the fault proxies in front of Redis and PostgreSQL.
func (c *Cluster) startFaults() error {
	u, err := url.Parse(c.cfg.Database)
	if err != nil {
		return fmt.Errorf("--database: %w", err)
	}
	pg := u.Host
	if u.Port() == "" {
		pg = net.JoinHostPort(u.Hostname(), "5432")
	}
	if c.redisFault, err = startFaultProxy("redis", fmt.Sprintf("127.0.0.1:%d", c.redisPort), c.log); err != nil {
		return err
	}
	c.pgFault, err = startFaultProxy("postgres", pg, c.log)
	return err
}

// withHost is dsn with its host:port replaced.
func withHost(dsn, hostport string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	u.Host = hostport
	return u.String()
}

// prepareDatabase creates e's schema, migrates it with `herald migrate` (so that the nodes do not
// race to), and with demo fills it with the demo orders.
func (c *Cluster) prepareDatabase(ctx context.Context, e *environment, demo bool) error {
	conn, err := pgx.Connect(ctx, c.cfg.Database)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background()) //nolint:errcheck // a set-up connection
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{e.schema}.Sanitize()); err != nil {
		return fmt.Errorf("create schema %s: %w", e.schema, err)
	}
	c.log.Printf("env %s: PostgreSQL schema %s", e.name, e.schema)
	tmp := filepath.Join(c.dir, "env-"+e.name, "setup")
	if err := c.run(ctx, "migrate", "migrate", "--data-dir", tmp, "--database", e.dbURL, "--database-schema", e.schema); err != nil {
		return err
	}
	if !demo || c.cfg.DemoRows <= 0 {
		return nil
	}
	return c.run(ctx, "demo-data", "demo-data", "--data-dir", tmp, "--database", e.dbURL, "--rows", strconv.Itoa(c.cfg.DemoRows))
}

// run runs a herald command to its end, its output in the log.
func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.cfg.Herald, args...)
	cmd.Env = environ()
	w := prefixWriter(c.out, "["+name+"] ")
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("herald %s: %w", name, err)
	}
	return nil
}

// ---- Redis -------------------------------------------------------------------------------------

// startRedis starts the cluster's Redis, on port (0: a free one, then kept for restarts).
func (c *Cluster) startRedis(port int) error {
	dir := filepath.Join(c.dir, "redis")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	p, err := clusterenv.StartRedis(dir, port)
	if err != nil {
		return err
	}
	c.redis = p
	if c.redisPort == 0 {
		c.redisPort, _ = strconv.Atoi(p.Addr[strings.LastIndexByte(p.Addr, ':')+1:])
	}
	c.log.Printf("redis-server on %s (pid %d)", p.Addr, p.Pid())
	return nil
}

// RedisStop stops Redis (SIGTERM by its PID, SIGKILL after 5 s). Stopping a stopped Redis does
// nothing.
func (c *Cluster) RedisStop() error {
	c.redisMu.Lock()
	defer c.redisMu.Unlock()
	return c.redisStop()
}

func (c *Cluster) redisStop() error {
	if c.redis == nil {
		return nil
	}
	p := c.redis
	c.log.Printf("stopping redis-server %s (pid %d)", p.Addr, p.Pid())
	err := p.Stop()
	c.redis = nil
	return err
}

// RedisStart starts Redis again on its port. Starting a running Redis does nothing.
func (c *Cluster) RedisStart() error {
	c.redisMu.Lock()
	defer c.redisMu.Unlock()
	if c.redis != nil {
		return nil
	}
	return c.startRedis(c.redisPort)
}

// RedisRestart stops Redis, waits pause, and starts it again on the same port.
func (c *Cluster) RedisRestart(pause time.Duration) error {
	c.redisMu.Lock()
	defer c.redisMu.Unlock()
	if err := c.redisStop(); err != nil {
		return err
	}
	time.Sleep(pause)
	return c.startRedis(c.redisPort)
}

// ---- herald processes ---------------------------------------------------------------------------

// Node returns the i-th serve node of environment env (0: the main one, 1: the second), or nil.
func (c *Cluster) node(env, i int) *proc {
	if env >= len(c.envs) || i < 0 || i >= len(c.envs[env].nodes) {
		return nil
	}
	return c.envs[env].nodes[i]
}

// start starts the process (again) and waits until it is ready: a node until its /readyz answers
// 200, the worker until it logs that it runs. Starting a running process does nothing.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.p != nil && !p.p.Exited() {
		return nil
	}
	readyLine := make(chan struct{})
	var once sync.Once
	logFile, err := os.OpenFile(p.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	w := &lineWriter{w: p.c.out, prefix: "[" + p.name + "] ", tee: logFile, onLine: func(line string) {
		if p.ready != "" && strings.Contains(line, p.ready) {
			once.Do(func() { close(readyLine) })
		}
	}}
	cmd := exec.Command(p.c.cfg.Herald, p.args...)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.Dir = p.c.dir
	// The secrets go by the environment (kong reads HERALD_<FLAG>), not on command lines that ps shows.
	// The worker takes no JWT setting.
	cmd.Env = append(environ(), "HERALD_SIGNING_KEY="+p.c.signing)
	if p.addr != "" {
		cmd.Env = append(cmd.Env, "HERALD_JWT_SECRET="+p.c.secret, "HERALD_ACCESS_KEY="+p.c.access)
	}
	proc, err := clusterenv.StartCommand(p.name, cmd)
	if err != nil {
		_ = logFile.Close() // nothing was written to it
		return err
	}
	go func() {
		<-proc.Done() // cmd.Wait has copied the last output by then
		_ = logFile.Close()
	}()
	p.p = proc
	p.c.log.Printf("%s started (pid %d): herald %s", p.name, proc.Pid(), strings.Join(p.args, " "))
	deadline := time.After(60 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if p.ready != "" {
			select {
			case <-readyLine:
				return nil
			case <-proc.Done():
				return fmt.Errorf("%s exited during start-up: %v", p.name, proc.ExitErr())
			case <-deadline:
				return fmt.Errorf("%s did not log %q within 60 s", p.name, p.ready)
			}
		}
		status, err := readyz(p.addr)
		if err == nil {
			p.c.log.Printf("%s ready on http://%s (/readyz: %s)", p.name, p.addr, status)
			return nil
		}
		select {
		case <-proc.Done():
			return fmt.Errorf("%s exited during start-up: %v", p.name, proc.ExitErr())
		case <-deadline:
			return fmt.Errorf("%s not ready on http://%s within 60 s: %v", p.name, p.addr, err)
		case <-tick.C:
		}
	}
}

// logPath is the file that keeps the process's output (every start appends to it).
func (p *proc) logPath() string {
	return filepath.Join(p.c.dir, "logs", strings.ReplaceAll(p.name, "/", "-")+".log")
}

// firstStart starts the process for the first time. A node whose port was taken between
// PickPort and its bind starts again on another port (later starts keep the port for good).
func (p *proc) firstStart() error {
	const attempts = 3
	for i := 1; ; i++ {
		err := p.start()
		if err == nil || p.addr == "" || i == attempts || !strings.Contains(tailFile(p.logPath()), "address already in use") {
			return err
		}
		port, perr := clusterenv.PickPort()
		if perr != nil {
			return errors.Join(err, perr)
		}
		old := p.addr
		p.addr = "127.0.0.1:" + strconv.Itoa(port)
		for j, a := range p.args {
			if a == old {
				p.args[j] = p.addr
			}
		}
		p.c.log.Printf("%s: %s was taken; trying %s", p.name, old, p.addr)
	}
}

// tailFile returns the last 2 KiB of a file ("" if unreadable).
func tailFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(b[max(0, len(b)-2048):])
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.p == nil || p.p.Exited() {
		return nil
	}
	p.c.log.Printf("%s: SIGKILL (pid %d)", p.name, p.p.Pid())
	return p.p.Kill()
}

// term sends SIGTERM and waits for the process to exit (SIGKILL after 20 s); it returns the exit.
func (p *proc) term() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.p == nil || p.p.Exited() {
		return "not running", nil
	}
	p.c.log.Printf("%s: SIGTERM (pid %d)", p.name, p.p.Pid())
	start := time.Now()
	if err := p.p.StopWithin(20 * time.Second); err != nil {
		return "", err
	}
	exit := "exit status 0"
	if err := p.p.ExitErr(); err != nil {
		exit = err.Error()
	}
	p.c.log.Printf("%s: %s after %s", p.name, exit, time.Since(start).Round(time.Millisecond))
	return exit, nil
}

func (p *proc) status() map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := map[string]any{"name": p.name, "running": p.p != nil && !p.p.Exited()}
	if p.addr != "" {
		s["url"] = "http://" + p.addr
	}
	if p.p != nil {
		s["pid"] = p.p.Pid()
	}
	return s
}

// readyz returns the status of a node's /readyz when it answers 200.
func readyz(addr string) (string, error) {
	cl := http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get("http://" + addr + "/readyz")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close() //nolint:errcheck // read to the end below
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("/readyz: %d %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	var r struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(body, &r) // the status is for the log only
	return r.Status, nil
}

// ---- information and shutdown --------------------------------------------------------------------

// Info describes the running cluster.
func (c *Cluster) Info() Info {
	main := c.envs[0]
	info := Info{
		LB: "http://" + main.nginx.Addr, Redis: "127.0.0.1:" + strconv.Itoa(c.redisPort),
		JWTSecret: c.secret, AccessKey: c.access, Env: main.name, Schema: main.schema, Worker: c.worker != nil,
		NoRedis: c.cfg.NoRedis, TempDir: c.dir, Database: redact(c.cfg.Database),
	}
	for _, n := range main.nodes {
		info.Nodes = append(info.Nodes, "http://"+n.addr)
		if n.pprof != "" {
			info.Pprof = append(info.Pprof, "http://"+n.pprof)
		}
	}
	if len(c.envs) > 1 {
		e := c.envs[1]
		info.LB2, info.Env2, info.Schema2 = "http://"+e.nginx.Addr, e.name, e.schema
		for _, n := range e.nodes {
			info.Nodes2 = append(info.Nodes2, "http://"+n.addr)
		}
	}
	return info
}

// Close stops everything Start started (nginx first, then the herald processes, then Redis), drops
// the schemas and removes the temporary directory (unless Config.Keep). It may be called more than
// once.
func (c *Cluster) Close() {
	c.closeOnce.Do(func() {
		c.log.Printf("shutting down")
		var wg sync.WaitGroup
		for _, e := range c.envs {
			if e.nginx != nil {
				wg.Go(func() { c.report("nginx", e.nginx.Stop()) })
			}
		}
		wg.Wait()
		for _, e := range c.envs {
			for _, n := range e.nodes {
				wg.Go(func() { _, err := n.term(); c.report(n.name, err) })
			}
		}
		if c.worker != nil {
			wg.Go(func() { _, err := c.worker.term(); c.report("worker", err) })
		}
		wg.Wait()
		for _, f := range []*faultProxy{c.redisFault, c.pgFault} {
			if f != nil {
				f.close()
			}
		}
		c.report("redis", c.RedisStop())
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, c.cfg.Database); err != nil {
			c.log.Printf("drop schemas: %v", err)
		} else {
			for _, e := range c.envs {
				if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{e.schema}.Sanitize()+" CASCADE"); err != nil {
					c.log.Printf("drop schema %s: %v", e.schema, err)
				} else {
					c.log.Printf("dropped schema %s", e.schema)
				}
			}
			_ = conn.Close(ctx) // nothing left to do on it
		}
		if c.cfg.Keep {
			c.log.Printf("kept %s", c.dir)
		} else if err := os.RemoveAll(c.dir); err != nil {
			c.log.Printf("remove %s: %v", c.dir, err)
		}
		c.log.Printf("stopped")
	})
}

func (c *Cluster) report(what string, err error) {
	if err != nil {
		c.log.Printf("stop %s: %v", what, err)
	}
}

// ---- helpers ----------------------------------------------------------------------------------

func pingPostgres(ctx context.Context, dsn string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// withSearchPath adds search_path=schema to a postgres:// URL.
func withSearchPath(dsn, schema string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("--database: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// redact hides a URL's password.
func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil {
		return u.Redacted()
	}
	return dsn
}

// environ is this process's environment without HERALD_* variables: every herald setting of the
// cluster's processes is the runner's, not whatever the caller's shell exports.
func environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HERALD_") {
			env = append(env, kv)
		}
	}
	return env
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// lockedWriter serialises writes of whole lines from several processes.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// lineWriter writes each complete line with a prefix, and shows it to onLine.
type lineWriter struct {
	w      io.Writer
	prefix string
	tee    io.Writer // also gets each line, without the prefix (nil: none)
	onLine func(string)

	mu  sync.Mutex
	buf []byte
}

func prefixWriter(w io.Writer, prefix string) *lineWriter {
	return &lineWriter{w: w, prefix: prefix}
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		line := string(l.buf[:i])
		l.buf = l.buf[i+1:]
		if l.onLine != nil {
			l.onLine(line)
		}
		// A log that cannot be written must not stop the child: the errors are dropped.
		_, _ = io.WriteString(l.w, l.prefix+line+"\n")
		if l.tee != nil {
			_, _ = io.WriteString(l.tee, line+"\n")
		}
	}
	return len(p), nil
}

// WatchStdin returns a channel closed when r (the runner's stdin) reaches its end or fails: the
// parent that holds the other end of the pipe has gone.
func WatchStdin(r io.Reader) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		br := bufio.NewReader(r)
		for {
			if _, err := br.ReadByte(); err != nil {
				return
			}
		}
	}()
	return done
}
