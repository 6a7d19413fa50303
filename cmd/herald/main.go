// Command herald runs Herald: a SignalR-compatible server that runs users' long work and tells
// every open page of theirs, in real time, how it goes. Run `herald --help` for the commands.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
)

// cli is every command and its flags. Each flag also reads HERALD_<FLAG> from the environment and
// the key of the same name from the YAML file given with --config.
type cli struct {
	Config   kong.ConfigFlag `help:"YAML configuration file; keys are the flag names (e.g. addr, jwt-secret)." env:"HERALD_CONFIG" placeholder:"FILE"`
	LogLevel string          `help:"Log level: debug, info, warn, error." default:"info" enum:"debug,info,warn,error" env:"HERALD_LOG_LEVEL"`

	Serve    serveCmd    `cmd:"" help:"Serve the hubs and the HTTP API (the default setup needs no flags)."`
	Worker   workerCmd   `cmd:"" help:"Run tasks without serving HTTP (PostgreSQL deployments)."`
	Migrate  migrateCmd  `cmd:"" help:"Apply the database migrations."`
	Token    tokenCmd    `cmd:"" help:"Mint a JWT for a user with the configured secret (or the dev secret)."`
	Keys     keysCmd     `cmd:"" help:"Print the management API's connection strings (Endpoint=…;AccessKey=…;Version=1.0;)."`
	Send     sendCmd     `cmd:"" help:"Send a message to a user, a group, a connection or everyone, through the management API."`
	Trace    traceCmd    `cmd:"" help:"Print the live trace of a running server (connections and messages across the cluster), one JSON event per line."`
	Export   exportCmd   `cmd:"" help:"Export a dataset to a file, without a server."`
	DemoData demoDataCmd `cmd:"" name:"demo-data" help:"Fill the demo dataset's orders table with exactly --rows generated orders, replacing it (SQLite, PostgreSQL or MySQL)."`
	Bench    benchCmd    `cmd:"" help:"Benchmarks that print figures beside a baseline measured in the same run."`
	Version  versionCmd  `cmd:"" help:"Print the version."`
}

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	var c cli
	parser := kong.Must(&c,
		kong.Name("herald"),
		kong.Description("Herald runs the long work users start in a web app and pushes its progress to every page they have open, over the SignalR protocol."),
		kong.Configuration(yamlLoader),
		kong.UsageOnError(),
		kong.DefaultEnvars("HERALD"),
		defaults(),
	)
	if err := checkEnviron(parser, os.Environ()); err != nil {
		fmt.Fprintln(os.Stderr, "herald:", err)
		os.Exit(2)
	}
	k, err := parser.Parse(os.Args[1:])
	parser.FatalIfErrorf(err)
	logger := newLogger(c.LogLevel)
	slog.SetDefault(logger)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	k.BindTo(ctx, (*context.Context)(nil))
	if err := k.Run(logger); err != nil {
		fmt.Fprintln(os.Stderr, "herald:", err)
		os.Exit(1)
	}
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

type versionCmd struct{}

func (versionCmd) Run() error {
	fmt.Println("herald", version)
	return nil
}
