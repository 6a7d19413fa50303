package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/heraldhq/herald/app"
	"github.com/heraldhq/herald/auth"
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
	DataDir          string        `name:"data-dir" help:"Where Herald keeps its embedded state (database, exports, dev secret)." default:"herald-data" type:"path"`
	TokenTTL         time.Duration `name:"token-ttl" help:"Lifetime of minted tokens." default:"24h"`
}

func (f authFlags) config() auth.Config {
	return auth.Config{
		Secret: f.JWTSecret, PublicKeyFile: f.JWTPublicKeyFile, JWKSURL: f.JWKSURL,
		UserClaim: f.JWTUserClaim, RoleClaim: f.JWTRoleClaim, Issuer: f.JWTIssuer, Audience: f.JWTAudience,
		TokenTTL: f.TokenTTL,
	}
}

// dbFlags choose the task database, shared by serve, worker and migrate.
type dbFlags struct {
	Database    string        `help:"Task database: empty for SQLite in the data dir, or postgres://user@host/db." placeholder:"URL"`
	Schema      string        `name:"database-schema" help:"PostgreSQL schema of Herald's and River's tables." default:"public"`
	RescueAfter time.Duration `name:"rescue-after" help:"How soon a task whose process died is picked up again." default:"60s"`
	Workers     int           `help:"Tasks run at once by this process." default:"10"`
}

func (f dbFlags) jobs(dataDir string, logger *slog.Logger) jobs.Config {
	return jobs.Config{DatabaseURL: f.Database, Schema: f.Schema, DataDir: dataDir, Logger: logger, RescueAfter: f.RescueAfter, Workers: f.Workers}
}

type serveCmd struct {
	Addr           string   `help:"Listen address." default:"127.0.0.1:8080"`
	ConformanceHub bool     `name:"conformance-hub" help:"Serve /hubs/conformance, the hub of the protocol interop tests."`
	CORSOrigins    []string `name:"cors-origins" help:"Browser origins allowed to call Herald (patterns, comma-separated; * for any)." placeholder:"ORIGIN,..."`
	authFlags
	dbFlags
	exportFlags
	NoWorkers bool `name:"no-workers" help:"Serve without running tasks (herald worker processes run them)."`

	MaxMessageSize         int           `name:"max-message-size" help:"Largest message a client may send, in bytes." default:"32768"`
	MaxParallelInvocations int           `name:"max-parallel-invocations" help:"Invocations of one connection that run at once." default:"1"`
	StreamBufferCapacity   int           `name:"stream-buffer-capacity" help:"Items buffered per client-to-server stream." default:"10"`
	SendQueueSize          int           `name:"send-queue-size" help:"Messages queued per connection before it is dropped as a slow consumer." default:"1024"`
	HandshakeTimeout       time.Duration `name:"handshake-timeout" help:"Time a new connection has to complete its handshake." default:"15s"`
	KeepAliveInterval      time.Duration `name:"keep-alive-interval" help:"Silence after which the server pings a connection." default:"15s"`
	ClientTimeout          time.Duration `name:"client-timeout" help:"Silence from a client after which its connection is closed." default:"30s"`
	WriteCoalesce          time.Duration `name:"write-coalesce" help:"How long a broadcast's WebSocket write may wait to batch more messages to the same connection (negative: off)." default:"2ms"`
	DetailedErrors         bool          `name:"detailed-errors" help:"Send the text of hub method errors to clients (development only)."`
	ShutdownTimeout        time.Duration `name:"shutdown-timeout" help:"Bound on the drain at SIGINT/SIGTERM." default:"10s"`
	PprofAddr              string        `name:"pprof-addr" help:"Serve Go's pprof profiles on this address (e.g. 127.0.0.1:6060); off by default." placeholder:"ADDR"`
}

func (s *serveCmd) Run(ctx context.Context, logger *slog.Logger) error {
	authCfg := s.config()
	cfg := app.Config{
		Addr: s.Addr, DataDir: s.DataDir, ConformanceHub: s.ConformanceHub, CORSOrigins: s.CORSOrigins,
		Jobs: s.jobs(s.DataDir, logger), NoWorkers: s.NoWorkers, Exports: s.exportsConfig(),
		Auth: authCfg, ShutdownTimeout: s.ShutdownTimeout, Logger: logger,
		Hub: app.HubConfig{
			MaxMessageSize: s.MaxMessageSize, MaxParallelInvocations: s.MaxParallelInvocations,
			StreamBufferCapacity: s.StreamBufferCapacity, SendQueueSize: s.SendQueueSize,
			HandshakeTimeout: s.HandshakeTimeout, KeepAliveInterval: s.KeepAliveInterval,
			ClientTimeout: s.ClientTimeout, DetailedErrors: s.DetailedErrors, WriteCoalesce: s.WriteCoalesce,
		},
	}
	srv, err := app.New(ctx, cfg)
	if err != nil {
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
