package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/cmd/herald/internal/loadgen"
	"github.com/heraldhq/herald/manage"
)

type benchAPICmd struct {
	Quick     bool          `help:"A run of seconds with small counts."`
	Nodes     int           `help:"Nodes of the clustered runs." default:"3"`
	Receivers int           `help:"Receiving connections (users u0…), spread over the nodes." default:"1000"`
	GroupSize int           `name:"group-size" help:"Receivers per group in the group runs." default:"10"`
	Rate      int           `help:"Messages per second offered." default:"1000"`
	Duration  time.Duration `help:"Measured time of each run (default 10s, 2s with --quick)."`
	Redis     string        `help:"Redis of the clustered runs (redis://host:port/db). Default: a redis-server of the benchmark's own." placeholder:"URL"`
	Scenarios []string      `help:"Scenarios to run." default:"user,group" enum:"user,group"`
	Topology  []int         `help:"Node counts to run (1 and --nodes by default)." placeholder:"N,..."`
}

// Run measures the management API: the same sends to users and to groups, made through the REST
// API (the Go SDK, from the benchmark process) and from inside a hub method (the conformance
// hub's SendToUser/SendToGroup, invoked by connections on node 1): the in-hub path is the
// baseline. Latency is from the send's start (the SDK call, or the invocation) to receipt.
func (b *benchAPICmd) Run(ctx context.Context, logger *slog.Logger) error {
	if b.Duration == 0 {
		b.Duration = 10 * time.Second
		if b.Quick {
			b.Duration = 2 * time.Second
		}
	}
	if b.Quick {
		b.Receivers, b.Rate = min(b.Receivers, 200), min(b.Rate, 300)
	}
	raiseFileLimit(logger)
	tmp, err := os.MkdirTemp("", "herald-bench-api-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) //nolint:errcheck // a temporary directory
	redisURL := b.Redis
	if redisURL == "" && (b.Nodes > 1 || slices.ContainsFunc(b.Topology, func(n int) bool { return n > 1 })) {
		stop, addr, err := startRedisServer(ctx, tmp)
		if err != nil {
			return err
		}
		defer stop()
		redisURL = "redis://" + addr + "/0"
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	const secret, key = "bench-jwt-secret-0123456789abcdef0123456789", "bench-access-key-0123456789abcdef012345678"
	tokens := make([]string, b.Receivers)
	for i := range tokens {
		tokens[i], err = jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": fmt.Sprintf("u%d", i), "exp": time.Now().Add(time.Hour).Unix(),
		}).SignedString([]byte(secret))
		if err != nil {
			return err
		}
	}
	var results []loadgen.Result
	failed := false
	topology := b.Topology
	if len(topology) == 0 {
		topology = []int{1, b.Nodes}
	}
	for _, nodes := range topology {
		for _, scenario := range b.Scenarios {
			for _, rest := range []bool{false, true} {
				name := fmt.Sprintf("%d node(s), in hub", nodes)
				if rest {
					name = fmt.Sprintf("%d node(s), REST", nodes)
				}
				logger.Info("bench api", "run", name, "scenario", scenario, "rate", b.Rate)
				r, err := b.measure(ctx, self, tmp, name, nodes, redisURL, secret, key, tokens, scenario, rest, logger)
				if err != nil {
					logger.Error("bench step failed", "run", name, "err", err)
					r = loadgen.Result{Server: name, Scenario: scenario, Conns: b.Receivers, Errors: 1, Note: "failed: " + firstLine(err.Error())}
					failed = true
				}
				r.Scenario = fmt.Sprintf("%s, %d node(s)", scenario, nodes)
				results = append(results, r)
			}
		}
	}
	fmt.Printf("herald bench api (%s, %s per run, %d receivers, %d msg/s offered, groups of %d; baseline: the same sends from inside a hub method)\n",
		time.Now().Format("2006-01-02"), b.Duration, b.Receivers, b.Rate, b.GroupSize)
	if err := loadgen.PrintTable(os.Stdout, results); err != nil {
		return err
	}
	if failed {
		return fmt.Errorf("a run failed")
	}
	return nil
}

func (b *benchAPICmd) measure(ctx context.Context, self, tmp, name string, nodes int, redisURL, secret, key string, tokens []string,
	scenario string, rest bool, logger *slog.Logger) (loadgen.Result, error) {
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	var urls []string
	var base0 string
	for i := range nodes {
		argv := []string{self, "serve", "--addr", "127.0.0.1:0", "--conformance-hub", "--no-workers",
			"--data-dir", filepath.Join(tmp, fmt.Sprintf("%s-%d", run, i)), "--jwt-secret", secret, "--access-key", key}
		if nodes > 1 {
			argv = append(argv, "--redis", redisURL, "--env", "bench-"+run)
		}
		proc, base, err := startServer(ctx, argv)
		if err != nil {
			return loadgen.Result{}, err
		}
		defer proc.stop()
		if i == 0 {
			base0 = base
		}
		urls = append(urls, base+"/hubs/conformance")
	}
	cfg := loadgen.Config{
		URLs: urls, Server: name, Protocol: client.JSON, Conns: b.Receivers, GroupSize: b.GroupSize,
		Duration: b.Duration, Rate: b.Rate, Logger: logger, Senders: 4,
		Token: func(i int) string { return tokens[i] },
	}
	if rest {
		// The SDK on node 1, with a connection pool as large as the window.
		c, err := manage.New("Endpoint="+base0+";AccessKey="+key+";Version=1.0;", manage.Options{
			HTTPClient: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}},
			Retries:    -1,
		})
		if err != nil {
			return loadgen.Result{}, err
		}
		h := c.Hub("conformance")
		cfg.Send = func(ctx context.Context, method string, args []any) error {
			m := manage.Message{Target: args[1].(string), Arguments: args[2:]}
			if method == "SendToUser" {
				return h.SendToUser(ctx, args[0].(string), m)
			}
			return h.SendToGroup(ctx, args[0].(string), m)
		}
	}
	if scenario == "user" {
		return loadgen.User(ctx, cfg)
	}
	return loadgen.Group(ctx, cfg)
}
