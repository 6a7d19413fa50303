package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/cmd/herald/internal/loadgen"
)

type benchCmd struct {
	Hub     benchHubCmd     `cmd:"" help:"Load-test the hub over WebSockets, beside peer implementations."`
	Tasks   benchTasksCmd   `cmd:"" help:"Tasks per second end to end on SQLite and PostgreSQL, beside River's raw rate."`
	Export  benchExportCmd  `cmd:"" help:"Export rows/s, MB/s and peak RSS from PostgreSQL, beside psql \\copy piped to gzip."`
	Cluster benchClusterCmd `cmd:"" help:"Cross-node delivery latency and throughput of nodes on a Redis backplane, beside one node."`
	API     benchAPICmd     `cmd:"" name:"api" help:"Sends through the management REST API to users and groups, beside the same sends from inside a hub method."`
}

type benchHubCmd struct {
	Quick     bool          `help:"A run of seconds with small counts (what CI runs)."`
	Peers     []string      `help:"Peers to measure beside Herald: signalr (philippseith/signalr), centrifuge (centrifugal/centrifuge)." enum:"signalr,centrifuge" placeholder:"PEER,..."`
	Scenarios []string      `help:"Scenarios to run." default:"idle,broadcast,echo,group" enum:"idle,broadcast,echo,group"`
	Duration  time.Duration `help:"Measured time of each scenario (default 10s, 2s with --quick)."`
	Protocol  string        `help:"Hub protocol of the load connections." default:"json" enum:"json,messagepack"`
	Repo      string        `help:"Herald's source tree (the peers are built from its bench/ folder)." default:"." type:"path"`
	JSON      string        `name:"json" help:"Also write the results as JSON to this file." type:"path"`
}

// benchStep is one measurement: a scenario at a connection count.
type benchStep struct {
	scenario string
	conns    int
	rate     int // fan-out messages per second offered; 0 = as fast as the server keeps up
}

func (b *benchHubCmd) steps() []benchStep {
	// 18,000, not the 50,000: this machine's hard open-file limit is 20,000 per process and
	// cannot be raised without CAP_SYS_RESOURCE (see the README's figures).
	full := map[string][]int{"idle": {10000, 18000}, "broadcast": {1000, 10000}, "echo": {100, 1000}, "group": {10000}}
	quick := map[string][]int{"idle": {500}, "broadcast": {200}, "echo": {20}, "group": {200}}
	counts := full
	if b.Quick {
		counts = quick
	}
	var out []benchStep
	for _, s := range b.Scenarios {
		for _, n := range counts[s] {
			out = append(out, benchStep{scenario: s, conns: n})
		}
		switch {
		case b.Quick:
		case s == "broadcast":
			// The target load: 200,000 deliveries a second to 10,000 connections.
			out = append(out, benchStep{scenario: s, conns: 10000, rate: 20})
		case s == "echo":
			// Latency at a moderate load rather than at saturation.
			out = append(out, benchStep{scenario: s, conns: 100, rate: 5000})
		}
	}
	return out
}

func (b *benchHubCmd) Run(ctx context.Context, logger *slog.Logger) error {
	if b.Duration == 0 {
		b.Duration = 10 * time.Second
		if b.Quick {
			b.Duration = 2 * time.Second
		}
	}
	raiseFileLimit(logger)
	tmp, err := os.MkdirTemp("", "herald-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) //nolint:errcheck // a temporary directory: a leftover is harmless

	self, err := os.Executable()
	if err != nil {
		return err
	}
	servers := []benchServer{{name: "herald", cmd: []string{self, "serve", "--addr", "127.0.0.1:0", "--conformance-hub", "--data-dir", filepath.Join(tmp, "data")}, path: "/hubs/conformance"}}
	for _, p := range b.Peers {
		bin, err := buildPeer(ctx, b.Repo, p, tmp)
		if err != nil {
			return err
		}
		switch p {
		case "signalr":
			servers = append(servers, benchServer{name: "philippseith/signalr", cmd: []string{bin, "--addr", "127.0.0.1:0"}, path: "/hubs/conformance"})
		case "centrifuge":
			servers = append(servers, benchServer{name: "centrifuge", cmd: []string{bin, "serve", "--addr", "127.0.0.1:0"}, path: "/connection/websocket", driver: bin})
		}
	}

	var results []loadgen.Result
	for _, step := range b.steps() {
		for _, srv := range servers {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			logger.Info("bench", "server", srv.name, "scenario", step.scenario, "conns", step.conns)
			r, err := b.measure(ctx, logger, srv, step)
			if err != nil {
				logger.Error("bench step failed", "server", srv.name, "scenario", step.scenario, "conns", step.conns, "err", err)
				r = loadgen.Result{Server: srv.name, Scenario: step.scenario, Conns: step.conns, Errors: 1, Note: "failed: " + firstLine(err.Error())}
			}
			results = append(results, r)
		}
	}
	fmt.Printf("herald bench hub (%s, %s per scenario, protocol %s, load generator in the same machine)\n", time.Now().Format("2006-01-02"), b.Duration, b.Protocol)
	if err := loadgen.PrintTable(os.Stdout, results); err != nil {
		return err
	}
	if b.JSON != "" {
		data, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(b.JSON, data, 0o644); err != nil {
			return err
		}
	}
	for _, r := range results {
		if r.Server == "herald" && strings.HasPrefix(r.Note, "failed") {
			return fmt.Errorf("herald failed the %s scenario at %d connections: %s", r.Scenario, r.Conns, r.Note)
		}
	}
	return nil
}

// benchServer is a server under test, started afresh for every measurement.
type benchServer struct {
	name   string
	cmd    []string
	path   string
	driver string // a peer's own load driver, for peers the Go SignalR client cannot speak to
}

func (b *benchHubCmd) measure(ctx context.Context, logger *slog.Logger, srv benchServer, step benchStep) (loadgen.Result, error) {
	proc, base, err := startServer(ctx, srv.cmd)
	if err != nil {
		return loadgen.Result{}, err
	}
	defer proc.stop()
	if srv.driver != "" {
		if step.scenario == "echo" && step.rate > 0 {
			return loadgen.Result{Server: srv.name, Scenario: step.scenario, Conns: step.conns,
				Note: fmt.Sprintf("%d/s offered: not measured, its driver's echo has no pacing", step.rate)}, nil
		}
		return runDriver(ctx, srv, base, proc.cmd.Process.Pid, step, b.Duration)
	}
	cfg := loadgen.Config{
		URL: base + srv.path, Server: srv.name, Protocol: client.Protocol(b.Protocol), Conns: step.conns,
		Duration: b.Duration, ServerPID: proc.cmd.Process.Pid, Logger: logger, Rate: step.rate,
	}
	switch step.scenario {
	case "idle":
		return loadgen.Idle(ctx, cfg)
	case "broadcast":
		return loadgen.Broadcast(ctx, cfg)
	case "echo":
		return loadgen.Echo(ctx, cfg)
	case "group":
		return loadgen.Group(ctx, cfg)
	}
	return loadgen.Result{}, fmt.Errorf("unknown scenario %q", step.scenario)
}

// runDriver runs a peer's own load driver and reads its one-line JSON result.
func runDriver(ctx context.Context, srv benchServer, base string, pid int, step benchStep, d time.Duration) (loadgen.Result, error) {
	ws := "ws" + strings.TrimPrefix(base, "http") + srv.path
	runCtx, cancel := context.WithTimeout(ctx, d+3*time.Minute)
	defer cancel()
	args := []string{"load", "--url", ws, "--scenario", step.scenario,
		"--conns", strconv.Itoa(step.conns), "--duration", d.String(), "--server-pid", strconv.Itoa(pid)}
	if step.rate > 0 {
		args = append(args, "--rate", strconv.Itoa(step.rate))
	}
	cmd := exec.CommandContext(runCtx, srv.driver, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return loadgen.Result{}, fmt.Errorf("%s load driver: %w", srv.name, err)
	}
	var r loadgen.Result
	if err := json.Unmarshal(lastLine(out), &r); err != nil {
		return loadgen.Result{}, fmt.Errorf("%s load driver output %q: %w", srv.name, out, err)
	}
	r.Server = srv.name
	if step.rate > 0 {
		r.Note = fmt.Sprintf("%d msg/s offered", step.rate)
		if step.scenario == "echo" {
			r.Note = fmt.Sprintf("%d/s offered", step.rate)
		}
	}
	return r, nil
}

type serverProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

var listeningRE = regexp.MustCompile(`listening on (http://[^\s"]+)`)

// startServer starts a server process and waits for its "listening on" line.
func startServer(ctx context.Context, argv []string) (*serverProc, string, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start %s: %w", argv[0], err)
	}
	p := &serverProc{cmd: cmd, done: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			if m := listeningRE.FindStringSubmatch(s.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr) // keep draining so the server never blocks on its log
	}()
	go func() {
		_ = cmd.Wait() // the exit status of a server we stop ourselves carries nothing
		close(p.done)
	}()
	select {
	case base := <-found:
		return p, base, nil
	case <-p.done:
		return nil, "", fmt.Errorf("%s exited before listening", argv[0])
	case <-time.After(30 * time.Second):
		p.stop()
		return nil, "", fmt.Errorf("%s did not report its address within 30s", argv[0])
	case <-ctx.Done():
		p.stop()
		return nil, "", ctx.Err()
	}
}

// stop ends the server with SIGTERM, then SIGKILL after 10 s.
func (p *serverProc) stop() {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		_ = p.cmd.Process.Kill()
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// buildPeer builds a peer's binary from its own module under bench/.
func buildPeer(ctx context.Context, repo, peer, dir string) (string, error) {
	name := map[string]string{"signalr": "signalrpeer", "centrifuge": "centrifugepeer"}[peer]
	bin := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join(repo, "bench", name)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s in %s: %w\n%s", name, cmd.Dir, err, out)
	}
	return bin, nil
}

// raiseFileLimit lifts the open-file limit as far as allowed: tens of thousands of connections
// need as many descriptors on each side, and the servers started here inherit the limit.
func raiseFileLimit(logger *slog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	want := uint64(250000)
	if lim.Cur >= want {
		return
	}
	next := syscall.Rlimit{Cur: want, Max: max(lim.Max, want)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err != nil {
		next = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err != nil {
			logger.Warn("cannot raise the open-file limit", "err", err)
		}
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		logger.Info("open-file limit", "limit", lim.Cur)
	}
}

func lastLine(b []byte) []byte {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return []byte(lines[len(lines)-1])
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
