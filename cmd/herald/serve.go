package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/heraldhq/herald/app"
	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/jobs"
)

// authFlags are the JWT settings shared by serve and token.
type authFlags struct {
	JWTSecret        string        `name:"jwt-secret" help:"HS256 secret (at least 32 bytes). With no JWT setting Herald runs in dev mode." placeholder:"SECRET"`
	JWTPublicKeyFile string        `name:"jwt-public-key-file" help:"PEM file with the RSA or ECDSA public key of RS256/ES256 tokens." type:"path" placeholder:"FILE"`
	JWKSURL          string        `name:"jwks-url" help:"JWKS endpoint of the identity provider (https, or http on loopback)." placeholder:"URL"`
	JWTUserClaim     string        `name:"jwt-user-claim" help:"Claim holding the user id." default:"sub"`
	JWTRoleClaim     string        `name:"jwt-role-claim" help:"Claim holding the roles." default:"roles"`
	JWTIssuer        string        `name:"jwt-issuer" help:"Required issuer (iss), if set."`
	JWTAudience      string        `name:"jwt-audience" help:"Required audience (aud), if set."`
	JWTLeeway        time.Duration `name:"jwt-leeway" help:"Clock skew allowed on a token's exp and nbf (0: the default; negative: none)." default:"30s"`
	DataDir          string        `name:"data-dir" help:"Where Herald keeps its embedded state (database, exports, dev secret)." default:"${jobs_data_dir}" type:"path"`
	TokenTTL         time.Duration `name:"token-ttl" help:"Lifetime of minted tokens." default:"24h"`
}

func (f authFlags) config() auth.Config {
	return auth.Config{
		Secret: f.JWTSecret, PublicKeyFile: f.JWTPublicKeyFile, JWKSURL: f.JWKSURL,
		UserClaim: f.JWTUserClaim, RoleClaim: f.JWTRoleClaim, Issuer: f.JWTIssuer, Audience: f.JWTAudience,
		Leeway:   f.JWTLeeway,
		TokenTTL: f.TokenTTL,
	}
}

// dbFlags choose the task database, shared by serve, worker and migrate.
type dbFlags struct {
	Database    string        `help:"Task database: empty for SQLite in the data dir, or postgres://user@host/db." placeholder:"URL"`
	Schema      string        `name:"database-schema" help:"PostgreSQL schema of Herald's and River's tables." default:"${jobs_schema}"`
	RescueAfter time.Duration `name:"rescue-after" help:"How long a running task may go without a heartbeat before it is run again; a dead process's tasks run again within about this plus 38s." default:"${jobs_rescue_after}"`
	Workers     int           `help:"Tasks run at once by this process." default:"${jobs_workers}"`

	UserTasksPerMinute int   `name:"user-tasks-per-minute" help:"Tasks one user may start in any minute; more get 429 with Retry-After (negative: no limit)." default:"${jobs_user_tasks_per_minute}"`
	UserActiveTasks    int   `name:"user-active-tasks" help:"Tasks one user may have queued or running at once; more get 429 (negative: no limit)." default:"${jobs_user_active_tasks}"`
	UserRunningTasks   int   `name:"user-running-tasks" help:"Tasks of one user running at once in the cluster, so that one user's backlog leaves workers to others (0: half of --workers; negative: no limit)."`
	UserStoredBytes    int64 `name:"user-stored-bytes" help:"Bytes of exports one user may keep stored; a new task past it gets 429 (negative: no limit)." default:"${jobs_user_stored_bytes}"`
}

func (f dbFlags) jobs(dataDir string, logger *slog.Logger) jobs.Config {
	return jobs.Config{DatabaseURL: f.Database, Schema: f.Schema, DataDir: dataDir, Logger: logger, RescueAfter: f.RescueAfter, Workers: f.Workers,
		Limits: jobs.Limits{PerMinute: f.UserTasksPerMinute, Active: f.UserActiveTasks, Running: f.UserRunningTasks, StoredBytes: f.UserStoredBytes}}
}

// clusterFlags join a node to a cluster on Redis, shared by serve and worker.
type clusterFlags struct {
	Redis           string `help:"Redis shared by the cluster's nodes (redis://host:port/db). Without it Herald runs alone." placeholder:"URL"`
	RedisCluster    bool   `name:"redis-cluster" help:"--redis is a node of a Redis Cluster: use sharded pub/sub."`
	Env             string `help:"Environment name (production, staging, test…); nodes of other environments on the same Redis see nothing of this one. Required with --redis unless --backplane-prefix is set." placeholder:"NAME"`
	BackplanePrefix string `name:"backplane-prefix" help:"Prefix of every Redis channel. Default herald:<env>:." placeholder:"PREFIX"`
}

func (f clusterFlags) cluster() app.ClusterConfig {
	return app.ClusterConfig{RedisURL: f.Redis, RedisCluster: f.RedisCluster, Env: f.Env, Prefix: f.BackplanePrefix}
}

// hubFlags are the limits and timers of every hub; their defaults are the hub package's.
type hubFlags struct {
	MaxMessageSize         int           `name:"max-message-size" help:"Largest message a client may send, in bytes." default:"${hub_max_message_size}"`
	MaxParallelInvocations int           `name:"max-parallel-invocations" help:"Invocations of one connection that run at once." default:"${hub_max_parallel_invocations}"`
	StreamBufferCapacity   int           `name:"stream-buffer-capacity" help:"Items buffered per client-to-server stream." default:"${hub_stream_buffer_capacity}"`
	SendQueueSize          int           `name:"send-queue-size" help:"Messages queued per connection before it is dropped as a slow consumer." default:"${hub_send_queue_size}"`
	HandshakeTimeout       time.Duration `name:"handshake-timeout" help:"Time a new connection has to complete its handshake." default:"${hub_handshake_timeout}"`
	KeepAliveInterval      time.Duration `name:"keep-alive-interval" help:"Silence after which the server pings a connection." default:"${hub_keep_alive_interval}"`
	ClientTimeout          time.Duration `name:"client-timeout" help:"Silence from a client after which its connection is closed." default:"${hub_client_timeout}"`
	WriteCoalesce          time.Duration `name:"write-coalesce" help:"How long a broadcast's WebSocket write may wait to batch more messages to the same connection (negative: off)." default:"${hub_write_coalesce}"`
	DisconnectTimeout      time.Duration `name:"disconnect-timeout" help:"How long a negotiated connection waits for its transport, a long-polling one for its next poll, and a stateful one for its client to resume after a drop." default:"${hub_disconnect_timeout}"`
	NegotiatesPerMinute    int           `name:"negotiates-per-minute" help:"New connections one user may start per minute on a node, after a burst of --negotiate-burst; more get 429 with Retry-After (negative: no limit)." default:"${hub_negotiates_per_minute}"`
	NegotiateBurst         int           `name:"negotiate-burst" help:"New connections one user may start at once before --negotiates-per-minute applies." default:"${hub_negotiate_burst}"`
	MaxConnectionsPerUser  int           `name:"max-connections-per-user" help:"Open connections one user may hold on a node; more get 429 (negative: no limit)." default:"${hub_max_connections_per_user}"`
	KeepPastExpiry         bool          `name:"keep-connections-past-expiry" help:"Keep hub connections open after the token that opened them expires (by default they are closed then, with a Close that lets the client reconnect with a new token)."`
	NoStatefulReconnect    bool          `name:"no-stateful-reconnect" help:"Do not offer stateful reconnect (clients' withStatefulReconnect()): a dropped WebSocket then loses what was sent meanwhile."`
	StatefulReconnectBuf   int           `name:"stateful-reconnect-buffer" help:"Bytes of messages kept per stateful connection until the client acknowledges them; a message from others that does not fit closes the connection." default:"${hub_stateful_reconnect_buffer}"`
	DetailedErrors         bool          `name:"detailed-errors" help:"Send the text of hub method errors to clients (development only)."`
}

func (f hubFlags) options() hub.Options {
	return hub.Options{
		MaxMessageSize: f.MaxMessageSize, MaxParallelInvocations: f.MaxParallelInvocations,
		StreamBufferCapacity: f.StreamBufferCapacity, SendQueueSize: f.SendQueueSize,
		HandshakeTimeout: f.HandshakeTimeout, KeepAliveInterval: f.KeepAliveInterval,
		ClientTimeout: f.ClientTimeout, WriteCoalesce: f.WriteCoalesce, EnableDetailedErrors: f.DetailedErrors,
		DisconnectTimeout: f.DisconnectTimeout, DisableStatefulReconnect: f.NoStatefulReconnect,
		StatefulReconnectBufferSize: f.StatefulReconnectBuf, KeepConnectionsPastExpiry: f.KeepPastExpiry,
		NegotiatesPerMinute: f.NegotiatesPerMinute, NegotiateBurst: f.NegotiateBurst, MaxConnectionsPerUser: f.MaxConnectionsPerUser,
	}
}

type serveCmd struct {
	Addr           string   `help:"Listen address." default:"127.0.0.1:8080"`
	Dev            bool     `help:"Allow dev mode (no JWT setting: anyone gets a token for any user) on an address that is not loopback."`
	DemoTasks      bool     `name:"demo-tasks" help:"Serve POST /api/demo/tasks, a development aid (on anyway in dev mode)."`
	ConformanceHub bool     `name:"conformance-hub" help:"Serve /hubs/conformance, the hub of the protocol interop tests."`
	CORSOrigins    []string `name:"cors-origins" help:"Browser origins allowed to call Herald (patterns, comma-separated; * for any)." placeholder:"ORIGIN,..."`
	LoginURL       string   `name:"login-url" help:"Where the web app sends people to sign in (outside dev mode); it must send them back to the page with #access_token=TOKEN." placeholder:"URL"`
	authFlags
	dbFlags
	exportFlags
	NoWorkers bool `name:"no-workers" help:"Serve without running tasks (herald worker processes run them)."`
	clusterFlags
	manageFlags

	hubFlags
	ShutdownTimeout  time.Duration `name:"shutdown-timeout" help:"Bound on the drain at SIGINT/SIGTERM." default:"10s"`
	HTTPReadTimeout  time.Duration `name:"http-read-timeout" help:"Time a client has to send a REST request, body included." default:"30s"`
	HTTPWriteTimeout time.Duration `name:"http-write-timeout" help:"Time a REST reply may take to write (downloads stream without one)." default:"60s"`
	HTTPIdleTimeout  time.Duration `name:"http-idle-timeout" help:"Time a keep-alive connection may idle between requests." default:"120s"`
	MetricsAddr      string        `name:"metrics-addr" help:"Serve /metrics on this (private) address instead of the public one." placeholder:"ADDR"`
	PprofAddr        string        `name:"pprof-addr" help:"Serve Go's pprof profiles on this address (e.g. 127.0.0.1:6060); off by default." placeholder:"ADDR"`
	NodeID           string        `name:"node-id" help:"This node's name in the operators' counts and live trace (default: a random id, new at each start)." placeholder:"NAME"`
}

func (s *serveCmd) Run(ctx context.Context, logger *slog.Logger) error {
	authCfg := s.config()
	cfg := app.Config{
		HTTP:        app.HTTPTimeouts{Read: s.HTTPReadTimeout, Write: s.HTTPWriteTimeout, Idle: s.HTTPIdleTimeout},
		MetricsAddr: s.MetricsAddr,
		Addr:        s.Addr, Dev: s.Dev, DemoTasks: s.DemoTasks, DataDir: s.DataDir, ConformanceHub: s.ConformanceHub, CORSOrigins: s.CORSOrigins, LoginURL: s.LoginURL,
		Jobs: s.jobs(s.DataDir, logger), NoWorkers: s.NoWorkers, Exports: s.exportsConfig(),
		Auth: authCfg, ShutdownTimeout: s.ShutdownTimeout, Logger: logger,
		Hub: s.options(), Cluster: s.cluster(), Manage: s.manage(s.PublicURL),
	}
	cfg.Monitor.NodeID = s.NodeID
	srv, err := app.New(ctx, cfg)
	if err != nil {
		return err
	}
	if err := s.seedDemo(ctx, s.DataDir, s.Database, logger); err != nil {
		_ = srv.Close() // the seeding error is the one to report
		return err
	}
	if s.PprofAddr != "" {
		stop, err := servePprof(s.PprofAddr, logger)
		if err != nil {
			return err
		}
		defer stop()
	}
	return srv.Run(ctx)
}
