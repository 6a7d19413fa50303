package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/cmd/herald/internal/loadgen"
)

type benchClusterCmd struct {
	Quick     bool          `help:"A run of seconds with small counts."`
	Nodes     int           `help:"Herald nodes of the cluster." default:"3"`
	Receivers int           `help:"Receiving connections, spread over the nodes." default:"1000"`
	Rates     []int         `help:"Messages per second offered, one run each." default:"1000,10000"`
	Duration  time.Duration `help:"Measured time of each run (default 10s, 2s with --quick)."`
	Profile   string        `help:"Write a CPU profile of every node over each run's measured phase into this directory (node-<i>-<rate>.pprof, go tool pprof reads them)." type:"path" placeholder:"DIR"`
	Redis     string        `help:"Redis to use (redis://host:port/db). Default: a redis-server of the benchmark's own on a free port, so that its CPU time is the benchmark's alone." placeholder:"URL"`
}

// Run measures cross-node delivery: every receiver is alone in its group, and the sender, on the
// first node, addresses the groups in turn, so two messages in three cross the backplane to
// another node. The same load on a single node (in-memory backplane) is the baseline.
func (b *benchClusterCmd) Run(ctx context.Context, logger *slog.Logger) error {
	if b.Duration == 0 {
		b.Duration = 10 * time.Second
		if b.Quick {
			b.Duration = 2 * time.Second
		}
	}
	if b.Quick {
		b.Receivers, b.Rates = min(b.Receivers, 200), []int{500}
	}
	raiseFileLimit(logger)
	tmp, err := os.MkdirTemp("", "herald-bench-cluster-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) //nolint:errcheck // a temporary directory: a leftover is harmless
	redisURL, redisAddr := b.Redis, ""
	if redisURL == "" {
		stop, addr, err := startRedisServer(ctx, tmp)
		if err != nil {
			return err
		}
		defer stop()
		redisURL, redisAddr = "redis://"+addr+"/0", addr
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}

	var results []loadgen.Result
	var cpuNotes []string
	for _, rate := range b.Rates {
		for _, clustered := range []bool{false, true} {
			name, nodes := "herald 1 node", 1
			if clustered {
				name, nodes = fmt.Sprintf("herald %d nodes, redis", b.Nodes), b.Nodes
			}
			logger.Info("bench cluster", "server", name, "rate", rate, "receivers", b.Receivers)
			var cpu, pubUsec, pubCalls float64
			measuring := func(begin bool) {
				c, u, n := redisCPU(redisAddr), redisInfo(redisAddr, "commandstats", "cmdstat_publish", "usec="), redisInfo(redisAddr, "commandstats", "cmdstat_publish", "calls=")
				if begin {
					cpu, pubUsec, pubCalls = -c, -u, -n
				} else {
					cpu, pubUsec, pubCalls = cpu+c, pubUsec+u, pubCalls+n
				}
			}
			r, err := b.measure(ctx, logger, self, tmp, name, nodes, clustered, redisURL, rate, measuring)
			if err != nil {
				logger.Error("bench step failed", "server", name, "rate", rate, "err", err)
				r = loadgen.Result{Server: name, Scenario: "group", Conns: b.Receivers, Errors: 1, Note: "failed: " + firstLine(err.Error())}
			}
			r.Note = fmt.Sprintf("%d msg/s offered", rate)
			results = append(results, r)
			if clustered && redisAddr != "" && r.Delivered > 0 {
				perCall := 0.0
				if pubCalls > 0 {
					perCall = pubUsec / pubCalls
				}
				cpuNotes = append(cpuNotes, fmt.Sprintf("%d msg/s: Redis CPU (user+sys) %.0f ms for %d deliveries = %.1f µs per delivered message; PUBLISH command time %.1f µs per call, %.0f calls (1 PUBLISH per message, no batching)",
					rate, cpu*1000, r.Delivered, cpu*1e6/float64(r.Delivered), perCall, pubCalls))
			}
		}
	}
	fmt.Printf("herald bench cluster (%s, %s per run, %d receivers alone in their groups, 4 senders on node 1; baseline: the same load on one node)\n",
		time.Now().Format("2006-01-02"), b.Duration, b.Receivers)
	if err := loadgen.PrintTable(os.Stdout, results); err != nil {
		return err
	}
	for _, n := range cpuNotes {
		fmt.Println(n)
	}
	for _, r := range results {
		if strings.HasPrefix(r.Note, "failed") {
			return fmt.Errorf("%s failed: %s", r.Server, r.Note)
		}
	}
	return nil
}

func (b *benchClusterCmd) measure(ctx context.Context, logger *slog.Logger, self, tmp, name string, nodes int, clustered bool, redisURL string, rate int, measuring func(bool)) (loadgen.Result, error) {
	var urls, pprofs []string
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	for i := range nodes {
		argv := []string{self, "serve", "--addr", "127.0.0.1:0", "--conformance-hub", "--no-workers",
			"--data-dir", filepath.Join(tmp, fmt.Sprintf("%s-%d", run, i))}
		if b.Profile != "" {
			addr, err := freeAddr()
			if err != nil {
				return loadgen.Result{}, err
			}
			argv = append(argv, "--pprof-addr", addr)
			pprofs = append(pprofs, addr)
		}
		if clustered {
			argv = append(argv, "--redis", redisURL, "--env", "bench-"+run)
		}
		proc, base, err := startServer(ctx, argv)
		if err != nil {
			return loadgen.Result{}, err
		}
		defer proc.stop()
		urls = append(urls, base+"/hubs/conformance")
	}
	if b.Profile != "" {
		inner := measuring
		var profiling sync.WaitGroup
		measuring = func(begin bool) {
			inner(begin)
			if !begin {
				profiling.Wait()
				return
			}
			for i, addr := range pprofs {
				file := filepath.Join(b.Profile, fmt.Sprintf("node-%d-of-%d-%d.pprof", i+1, nodes, rate))
				profiling.Go(func() {
					if err := fetchProfile(ctx, addr, b.Duration, file); err != nil {
						logger.Warn("profile", "node", i+1, "err", err)
					}
				})
			}
		}
	}
	return loadgen.Group(ctx, loadgen.Config{
		URLs: urls, Server: name, Protocol: client.JSON, Conns: b.Receivers, GroupSize: 1,
		Duration: b.Duration, Rate: rate, Logger: logger, Measuring: measuring, Senders: 4,
	})
}

// freeAddr is a free loopback address.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// fetchProfile writes a CPU profile of d from the pprof server at addr into file.
func fetchProfile(ctx context.Context, addr string, d time.Duration, file string) error {
	secs := max(int(d.Seconds())-1, 1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close() //nolint:errcheck // read to the end below
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close() // the copy's error is the one to report
		return err
	}
	return f.Close()
}

// startRedisServer runs redis-server on a free loopback port until stop.
func startRedisServer(ctx context.Context, dir string) (stop func(), addr string, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close() // freed for redis-server
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.CommandContext(ctx, "redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start redis-server (apt-get install redis-server, or pass --redis): %w", err)
	}
	stop = func() {
		_ = cmd.Process.Kill() // ours; gone already is fine
		_ = cmd.Wait()
	}
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			_ = c.Close()
			return stop, addr, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return nil, "", fmt.Errorf("redis-server did not listen on %s", addr)
}

// redisCPU is the CPU time (user + system, seconds) Redis at addr has used; 0 when unknown.
func redisCPU(addr string) float64 {
	return redisInfo(addr, "cpu", "used_cpu_sys:", "") + redisInfo(addr, "cpu", "used_cpu_user:", "")
}

// redisInfo reads one number of Redis's INFO section: the value after key on the line that
// starts with line (for "k:v" lines, key is ""); 0 when unknown.
func redisInfo(addr, section, line, key string) float64 {
	if addr == "" {
		return 0
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0
	}
	defer c.Close() //nolint:errcheck // a read-only probe
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintf(c, "*2\r\n$4\r\nINFO\r\n$%d\r\n%s\r\n", len(section), section); err != nil {
		return 0
	}
	r := bufio.NewReader(c)
	head, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(head, "$") {
		return 0
	}
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return 0
		}
		rest, ok := strings.CutPrefix(strings.TrimSpace(l), line)
		if !ok {
			continue
		}
		if key != "" {
			_, v, found := strings.Cut(rest, key)
			if !found {
				return 0
			}
			rest, _, _ = strings.Cut(v, ",")
		}
		f, _ := strconv.ParseFloat(rest, 64)
		return f
	}
}
