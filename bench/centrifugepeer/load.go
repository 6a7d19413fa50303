package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

// Scenarios of the load command.
const (
	scenarioIdle      = "idle"
	scenarioBroadcast = "broadcast"
	scenarioEcho      = "echo"
	scenarioGroup     = "group"
)

// fdReserve is the number of descriptors the driver keeps for itself beyond its connections.
const fdReserve = 64

// loadConfig is the parsed command line of the load command.
type loadConfig struct {
	url                string
	scenario           string
	conns              int
	duration           time.Duration
	serverPID          int           // 0: no RSS figures
	rate               float64       // messages per second of the sender; 0: closed loop
	payload            int           // bytes of each message's data
	sourceIPs          []net.IP      // empty: the kernel chooses
	protocol           string        // "json" or "protobuf"
	connectConcurrency int           // connections being opened at once
	connectTimeout     time.Duration // for one connection to be connected and subscribed
	rpcTimeout         time.Duration // for one RPC reply (and the library's other replies)
	drain              time.Duration // how long to wait for deliveries after the last send
	cpuProfile         string        // file for a CPU profile of the driver; empty: none
}

// result is the one JSON line the load command prints. The fields up to errors are the shape
// shared with Herald's load generator; the rest are extras.
type result struct {
	Server         string  `json:"server"`
	Scenario       string  `json:"scenario"`
	Conns          int     `json:"conns"`
	DurationS      float64 `json:"duration_s"`
	Sent           int64   `json:"sent"`
	Delivered      int64   `json:"delivered"`
	DeliveriesPerS float64 `json:"deliveries_per_s"`
	P50Ms          float64 `json:"p50_ms"`
	P99Ms          float64 `json:"p99_ms"`
	RSSBeforeKiB   int64   `json:"rss_before_kib"`
	RSSAfterKiB    int64   `json:"rss_after_kib"`
	BytesPerConn   int64   `json:"bytes_per_conn"`
	Errors         int64   `json:"errors"`

	Connected     int     `json:"connected"`      // connections that became ready
	Expected      int64   `json:"expected"`       // deliveries the sent messages should have made
	Lost          int64   `json:"lost"`           // expected - delivered, after the drain
	ElapsedS      float64 `json:"elapsed_s"`      // measurement window: first send to end of drain
	RSSEndKiB     int64   `json:"rss_end_kib"`    // server RSS after the load, before closing
	ConnectP50Ms  float64 `json:"connect_p50_ms"` // connect (and subscribe) time of one connection
	ConnectP99Ms  float64 `json:"connect_p99_ms"`
	ConnectErrors int64   `json:"connect_errors"`
	Disconnects   int64   `json:"disconnects"`
	RPCErrors     int64   `json:"rpc_errors"`
	OtherErrors   int64   `json:"other_errors"` // client, subscription and malformed-message errors
	Subscriptions string  `json:"subscriptions"`
	Protocol      string  `json:"protocol"`
	PayloadBytes  int     `json:"payload_bytes"`
	Rate          float64 `json:"rate"`
	DriverRSSKiB  int64   `json:"driver_rss_kib"` // the driver's own RSS with every connection open
}

func loadMain(args []string) error {
	cfg, err := parseLoadFlags(args)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return fmt.Errorf("create CPU profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("start CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	res, err := runLoad(ctx, cfg)
	if err != nil {
		return err
	}
	line, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	if _, err := fmt.Fprintf(os.Stdout, "%s\n", line); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

func parseLoadFlags(args []string) (loadConfig, error) {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	var cfg loadConfig
	var ips string
	fs.StringVar(&cfg.url, "url", "", "WebSocket URL of the server, ws://ADDR/connection/websocket (required)")
	fs.StringVar(&cfg.scenario, "scenario", "", "idle, broadcast, echo or group (required)")
	fs.IntVar(&cfg.conns, "conns", 100, "connections (receivers; the broadcast and group senders are one more)")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long the broadcast, echo and group scenarios send")
	fs.IntVar(&cfg.serverPID, "server-pid", 0, "process id of the server, for its RSS (0: none)")
	fs.Float64Var(&cfg.rate, "rate", 0, "messages per second of the sender (0: the next as soon as the previous is acknowledged)")
	fs.IntVar(&cfg.payload, "payload", 100, "bytes of each message's data (at least 32, which hold its send time)")
	fs.StringVar(&ips, "source-ips", "", "comma-separated local addresses to spread connections over, e.g. 127.0.0.1,127.0.0.2 (each has its own ~28,000 ephemeral ports)")
	fs.StringVar(&cfg.protocol, "protocol", "json", "client protocol: json or protobuf")
	fs.IntVar(&cfg.connectConcurrency, "connect-concurrency", 100, "connections being opened at once")
	fs.DurationVar(&cfg.connectTimeout, "connect-timeout", 15*time.Second, "how long one connection may take to connect and subscribe")
	fs.DurationVar(&cfg.rpcTimeout, "rpc-timeout", 10*time.Second, "how long one RPC reply may take")
	fs.DurationVar(&cfg.drain, "drain", 5*time.Second, "how long to wait for outstanding deliveries after the last send")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the driver to this file")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	for _, s := range strings.Split(ips, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		ip := net.ParseIP(s)
		if ip == nil {
			return cfg, fmt.Errorf("--source-ips: %q is not an IP address", s)
		}
		cfg.sourceIPs = append(cfg.sourceIPs, ip)
	}
	return cfg, cfg.validate()
}

func (c loadConfig) validate() error {
	u, err := url.Parse(c.url)
	switch {
	case c.url == "":
		return errors.New("--url is required")
	case err != nil || (u.Scheme != "ws" && u.Scheme != "wss"):
		return fmt.Errorf("--url %q must be a ws:// or wss:// URL", c.url)
	}
	switch c.scenario {
	case scenarioIdle, scenarioBroadcast, scenarioEcho, scenarioGroup:
	default:
		return fmt.Errorf("--scenario %q must be idle, broadcast, echo or group", c.scenario)
	}
	switch {
	case c.conns < 1:
		return errors.New("--conns must be at least 1")
	case c.duration <= 0 && c.scenario != scenarioIdle:
		return errors.New("--duration must be positive")
	case c.rate < 0:
		return errors.New("--rate must not be negative")
	case c.payload < 0:
		return errors.New("--payload must not be negative")
	case c.protocol != "json" && c.protocol != "protobuf":
		return fmt.Errorf("--protocol %q must be json or protobuf", c.protocol)
	case c.connectConcurrency < 1:
		return errors.New("--connect-concurrency must be at least 1")
	case c.connectTimeout <= 0 || c.rpcTimeout <= 0 || c.drain < 0:
		return errors.New("--connect-timeout and --rpc-timeout must be positive, --drain not negative")
	}
	return nil
}

// checkLimits fails early when this process cannot hold the connections asked for: it needs a
// descriptor for each, and a source address has only so many ephemeral ports towards one server.
func (c loadConfig) checkLimits() error {
	total := c.conns + 1 // the sender of broadcast and group
	limit, err := raiseNoFile()
	if err != nil {
		return err
	}
	if uint64(total+fdReserve) > limit {
		return fmt.Errorf("%d connections need %d open files, the limit is %d (raise the hard limit, e.g. ulimit -Hn, as root)",
			total, total+fdReserve, limit)
	}
	addrs := max(len(c.sourceIPs), 1)
	if perAddr, ports := (total+addrs-1)/addrs, ephemeralPorts(); perAddr > ports {
		return fmt.Errorf("%d connections from %d source address(es) need %d ports each, only %d ephemeral ports exist: add --source-ips",
			total, addrs, perAddr, ports)
	}
	return nil
}

// runLoad opens the connections, measures the server's RSS, runs the scenario, closes the
// connections and returns the result.
func runLoad(ctx context.Context, cfg loadConfig) (result, error) {
	if err := cfg.checkLimits(); err != nil {
		return result{}, err
	}
	res := result{
		Server:        "centrifuge",
		Scenario:      cfg.scenario,
		Conns:         cfg.conns,
		DurationS:     cfg.duration.Seconds(),
		Subscriptions: "none",
		Protocol:      cfg.protocol,
		Rate:          cfg.rate,
	}
	if cfg.scenario == scenarioIdle {
		res.DurationS = 0
	}
	if cfg.serverPID != 0 {
		rss, err := readRSSKiB(cfg.serverPID)
		if err != nil {
			return result{}, err
		}
		res.RSSBeforeKiB = rss
	}
	d := newDriver(cfg)
	sc := newScenario(cfg)
	res.Subscriptions = sc.subscriptions
	clients := d.openAll(ctx, cfg.conns, sc.channelOf, sc.onPub)
	res.Connected = connected(clients)
	if res.Connected == 0 {
		return result{}, fmt.Errorf("none of %d connections could be opened", cfg.conns)
	}
	if sc.needsSender {
		sender, err := d.open(ctx, cfg.conns, "", nil)
		if err != nil {
			d.closeAll(clients)
			return result{}, fmt.Errorf("open the sender's connection: %w", err)
		}
		sc.sender = sender
		clients = append(clients, sender)
	}
	if cfg.serverPID != 0 {
		rss, err := settledRSSKiB(ctx, cfg.serverPID)
		if err != nil {
			d.closeAll(clients)
			return result{}, fmt.Errorf("server RSS after connecting: %w", err)
		}
		res.RSSAfterKiB = rss
		res.BytesPerConn = (res.RSSAfterKiB - res.RSSBeforeKiB) * 1024 / int64(cfg.conns)
	}
	if rss, err := readRSSKiB(os.Getpid()); err == nil {
		res.DriverRSSKiB = rss
	}

	sc.run(ctx, clients[:cfg.conns], &res)

	if cfg.serverPID != 0 {
		if rss, err := readRSSKiB(cfg.serverPID); err == nil {
			res.RSSEndKiB = rss
		}
	}
	d.closeAll(clients)
	res.ConnectErrors = d.connectErrors.Load()
	res.Disconnects = d.disconnects.Load()
	res.OtherErrors += d.clientErrors.Load() + d.subErrors.Load()
	res.Errors = res.ConnectErrors + res.Disconnects + res.RPCErrors + res.OtherErrors
	if n, p50, p99 := d.connectLatency.summary(); n > 0 {
		res.ConnectP50Ms, res.ConnectP99Ms = round3(p50), round3(p99)
	}
	return res, ctx.Err()
}

func round3(v float64) float64 {
	return float64(int64(v*1000+0.5)) / 1000
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "centrifugepeer load: "+format+"\n", args...)
}
