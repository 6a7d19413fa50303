// Command herald-cluster runs a Herald cluster on 127.0.0.1 for people to try (make cluster) and for
// the cluster interop suites (test/interop/cluster*.test.mjs): a redis-server of its own on a free
// port, 3 `herald serve` nodes (conformance hub, one JWT secret, one PostgreSQL schema, one export
// directory, each its own data dir and port), a `herald worker`, and nginx in front of the nodes,
// round robin without affinity.
//
//	go run ./test/cluster/cmd/herald-cluster [--herald bin/herald] [--env cluster] [--second-env test]
//
// Once everything is ready it prints one JSON line to stdout:
//
//	{"lb":"http://127.0.0.1:P","nodes":["http://127.0.0.1:N0",…],"redis":"127.0.0.1:R","jwtSecret":"…","control":"http://127.0.0.1:C",…}
//
// and everything else (its own messages, every herald process's log, prefixed with its name) to
// stderr. The control API at "control" stops and starts Redis and nodes (see cluster.Handler).
// It stops everything it started, drops its PostgreSQL schemas and removes its temporary directory
// on SIGINT or SIGTERM, or when its stdin ends (a parent that dies takes it down; stdin on /dev/null
// is not watched). It exits 3 when nginx, redis-server or PostgreSQL is missing.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/heraldhq/herald/test/cluster"
	"github.com/heraldhq/herald/test/clusterenv"
)

// exitMissing is the exit status when a program or service the cluster needs is missing.
const exitMissing = 3

func main() {
	log.SetFlags(0)
	log.SetPrefix("herald-cluster: ")
	os.Exit(run())
}

func run() int {
	var cfg cluster.Config
	var extra string
	flag.StringVar(&cfg.Herald, "herald", "", "herald binary (default $HERALD_BIN, else bin/herald)")
	flag.StringVar(&cfg.Env, "env", "cluster", "--env of the nodes and the worker")
	flag.IntVar(&cfg.Nodes, "nodes", 3, "serve nodes")
	flag.StringVar(&cfg.SecondEnv, "second-env", "", "also start a second, independent environment of this name (2 nodes, same Redis, own nginx; reported as lb2/nodes2)")
	flag.StringVar(&cfg.Database, "database", "postgres://postgres@127.0.0.1:5432/test", "PostgreSQL database; a schema per environment is created in it and dropped at the end")
	flag.IntVar(&cfg.DemoRows, "demo-rows", 2000, "demo orders generated for the dataset \"orders\"")
	flag.BoolVar(&cfg.NodeWorkers, "node-workers", false, "let the serve nodes run tasks too (by default only the worker does)")
	flag.BoolVar(&cfg.NoRedis, "no-redis", false, "start the nodes and the worker WITHOUT --redis (each node alone): only to check that the cluster suite fails then")
	flag.StringVar(&extra, "serve-args", "", "extra flags for every herald serve, space-separated (e.g. \"--log-level debug\")")
	flag.BoolVar(&cfg.Faults, "faults", false, "put fault proxies between the herald processes and Redis and PostgreSQL (control API: POST /faults/{redis,postgres}/{cut,latency}?ms=N)")
	flag.BoolVar(&cfg.Keep, "keep", false, "keep the temporary directory (logs, data dirs, exports) at the end")
	control := flag.String("control", "127.0.0.1:0", "address of the control API (keep it on loopback)")
	flag.Parse()
	if flag.NArg() > 0 {
		log.Printf("unexpected arguments %q", flag.Args())
		return 2
	}
	cfg.ExtraArgs = strings.Fields(extra)
	if cfg.Herald == "" {
		cfg.Herald = os.Getenv("HERALD_BIN")
	}
	if cfg.Herald == "" {
		cfg.Herald = filepath.Join("bin", "herald")
	}
	if abs, err := filepath.Abs(cfg.Herald); err == nil {
		cfg.Herald = abs
	}

	// SIGINT and SIGTERM stay caught until the end (signal.NotifyContext's stop would restore their
	// default): a second one, say from a parent that gives up waiting, must not kill the runner
	// halfway through stopping everything.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		for sig := range sigs {
			if ctx.Err() == nil {
				log.Printf("%v: shutting down", sig)
			} else {
				log.Printf("%v: already shutting down", sig)
			}
			stop()
		}
	}()
	// A parent that dies leaves stdout and stderr broken pipes: writing there must fail, not kill the
	// runner with SIGPIPE before it has stopped everything (Notify, unlike Ignore, is not inherited
	// by the children).
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	if watchStdin() {
		stdinDone := cluster.WatchStdin(os.Stdin)
		go func() {
			select {
			case <-stdinDone:
				log.Printf("stdin closed: shutting down")
				stop()
			case <-ctx.Done():
			}
		}()
	}

	started := time.Now()
	c, err := cluster.Start(ctx, cfg)
	if err != nil {
		var m *clusterenv.MissingError
		if errors.As(err, &m) {
			log.Printf("MISSING: %v", m)
			return exitMissing
		}
		log.Printf("start: %v", err)
		return 1
	}
	defer c.Close()
	if ctx.Err() != nil {
		return 1
	}

	l, err := net.Listen("tcp", *control)
	if err != nil {
		log.Printf("control API: %v", err)
		return 1
	}
	srv := &http.Server{Handler: c.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Printf("control API: %v", err)
			stop()
		}
	}()

	info := c.Info()
	info.Control = "http://" + l.Addr().String()
	line, err := json.Marshal(info)
	if err != nil {
		log.Printf("%v", err)
		return 1
	}
	fmt.Println(string(line))
	banner(info, cfg, time.Since(started))

	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown) // control requests in flight get a moment; then everything stops anyway
	return 0
}

// watchStdin says whether stdin should be watched for its end: not when it is /dev/null (started
// in the background with nothing to read), which would end at once.
func watchStdin() bool {
	fi, err := os.Stdin.Stat()
	if err != nil {
		return false
	}
	null, err := os.Stat(os.DevNull)
	if err == nil && os.SameFile(fi, null) {
		log.Printf("stdin is %s: not watched; stop with SIGINT or SIGTERM", os.DevNull)
		return false
	}
	return true
}

// banner tells a person on stderr what runs and how to use it.
func banner(info cluster.Info, cfg cluster.Config, took time.Duration) {
	bin := cfg.Herald
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, bin); err == nil && !strings.HasPrefix(rel, "..") {
			bin = rel
		}
	}
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("")
	p("Herald cluster ready after %s (env %s, schema %s):", took.Round(time.Millisecond), info.Env, info.Schema)
	p("  load balancer  %s   (nginx, round robin, no affinity: /hubs/notifications, /hubs/conformance, /api/…)", info.LB)
	p("  nodes          %s", strings.Join(info.Nodes, " "))
	if cfg.NoRedis {
		p("  redis          %s (NOT used: --no-redis, every node is alone)", info.Redis)
	} else {
		p("  redis          %s (the cluster's own; --env %s)", info.Redis, info.Env)
	}
	if info.LB2 != "" {
		p("  second env     %s: load balancer %s, nodes %s", info.Env2, info.LB2, strings.Join(info.Nodes2, " "))
	}
	p("  control API    %s   (POST /redis/restart|stop|start, /nodes/{i}/kill|term|start; GET /status)", info.Control)
	p("")
	p("A token for a user (any user id; the nodes share the secret):")
	p("  TOKEN=$(%s token --jwt-secret %s --user alice)", bin, info.JWTSecret)
	p("The management API's connection string (herald send, the Go SDK):")
	p("  export HERALD_CONNECTION_STRING='Endpoint=%s;AccessKey=%s;Version=1.0;'", info.LB, info.AccessKey)
	p("Then, for example:")
	p("  curl -s -X POST -H \"Authorization: Bearer $TOKEN\" %s/api/exports -d '{\"dataset\":\"orders\",\"format\":\"csv\"}'", info.LB)
	p("  curl -s -H \"Authorization: Bearer $TOKEN\" %s/api/tasks", info.LB)
	p("")
	p("Ctrl-C (or closing stdin) stops everything, drops the schema and removes %s.", info.TempDir)
	p("")
	fmt.Fprint(os.Stderr, b.String())
}
