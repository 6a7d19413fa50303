package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/backplane"
	"github.com/heraldhq/herald/backplane/redis"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/jobs"
)

// ClusterConfig joins Herald to a cluster. Without RedisURL it runs alone, on the in-memory
// backplane.
type ClusterConfig struct {
	// RedisURL is the Redis every node of the cluster shares (redis://host:port/db).
	RedisURL string
	// RedisCluster says RedisURL is a node of a Redis Cluster: Herald uses sharded pub/sub.
	RedisCluster bool
	// Env names the environment (production, staging, test…). Nodes of one environment see each
	// other; nodes of others sharing the Redis see nothing of them.
	Env string
	// Prefix starts every Redis channel. Default "herald:" + Env + ":". With RedisURL, Env or
	// Prefix must be set: a cluster that shares a Redis by accident must not share users' messages.
	Prefix string
}

var envName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// prefix is the Redis prefix of the environment.
func (c ClusterConfig) prefix() (string, error) {
	if c.Prefix != "" {
		return c.Prefix, nil
	}
	if c.Env == "" {
		return "", errors.New("--redis needs --env (e.g. --env production) or an explicit --backplane-prefix: " +
			"environments sharing a Redis must not see each other's messages")
	}
	if !envName.MatchString(c.Env) {
		return "", fmt.Errorf("--env %q: use 1 to 64 letters, digits, '.', '_' or '-'", c.Env)
	}
	return "herald:" + c.Env + ":", nil
}

func (c ClusterConfig) validate() error {
	if c.RedisURL == "" {
		if c.RedisCluster {
			return errors.New("--redis-cluster needs --redis")
		}
		return nil
	}
	_, err := c.prefix()
	return err
}

// OpenBackplane connects to the cluster's backplane: Redis when configured, otherwise a node of
// its own in memory. reg receives the backplane's metrics (nil: none).
func OpenBackplane(ctx context.Context, c ClusterConfig, reg prometheus.Registerer, log *slog.Logger) (backplane.Backplane, error) {
	if c.RedisURL == "" {
		return backplane.NewMemory(), nil
	}
	prefix, err := c.prefix()
	if err != nil {
		return nil, err
	}
	bp, err := redis.New(ctx, redis.Options{URL: c.RedisURL, Prefix: prefix, Cluster: c.RedisCluster, Logger: log, Registerer: reg})
	if err != nil {
		return nil, err
	}
	log.Info("cluster backplane: redis", "prefix", prefix, "redis_cluster", c.RedisCluster)
	return bp, nil
}

// NotificationsHub is the notifications hub's name: its nodes, and processes that only publish
// to it (herald worker), must agree on it.
const NotificationsHub = "notifications"

// Publisher is the Notifier of a process that runs tasks without serving hubs (herald worker): it
// publishes task updates and notifications on the backplane, to the owner's connections on every
// node, and takes part in the operators' live trace and counts as a node of its own (its sends
// show in the trace and in the sends per second; it holds no connection).
type Publisher struct {
	hubNotifier
	monitor *hub.Monitor
}

// NewPublisher starts a Publisher on the cluster's backplane bp. nodeID names the process in the
// operators' trace and counts ("": a random id). Close it when done.
func NewPublisher(ctx context.Context, bp backplane.Backplane, nodeID string, log *slog.Logger) (*Publisher, error) {
	m, err := newMonitor(hub.MonitorOptions{NodeID: nodeID}, bp, log)
	if err != nil {
		return nil, err
	}
	if err := m.Start(ctx); err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	h, err := hub.New(NotificationsHub, hub.Options{Backplane: bp, Logger: log, Monitor: m})
	if err != nil {
		return nil, errors.Join(err, m.Close())
	}
	return &Publisher{hubNotifier: hubNotifier{h: h, feed: feed{store: backplane.StoreOf(bp)}, log: log}, monitor: m}, nil
}

var _ jobs.Notifier = (*Publisher)(nil)

// Close leaves the operators' trace and counts.
func (p *Publisher) Close() error { return p.monitor.Close() }

// notifyTimeout bounds one live update: while Redis is away a worker must not stall on it (the
// update is in the task list and the inbox anyway).
const notifyTimeout = 2 * time.Second

// newMonitor makes the node's Monitor: its part of the operators' live trace and counts. Its
// node id is the host name and a random suffix, unless opts names one.
func newMonitor(opts hub.MonitorOptions, bp backplane.Backplane, log *slog.Logger) (*hub.Monitor, error) {
	opts.Backplane, opts.Logger = bp, log
	if opts.NodeID == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "herald"
		}
		var b [3]byte
		_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
		opts.NodeID = host + "-" + hex.EncodeToString(b[:])
	}
	m, err := hub.NewMonitor(opts)
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	return m, nil
}
