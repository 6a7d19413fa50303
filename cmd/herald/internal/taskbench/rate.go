package taskbench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// Database is where a run keeps its tasks: URL "" is SQLite in a fresh
// temporary file, or a postgres:// URL (each run in a fresh schema, dropped
// afterwards).
type Database struct {
	Name string
	URL  string
}

// Rate is n things done in d.
type Rate struct {
	N       int
	Elapsed time.Duration
}

func newRate(n int, d time.Duration) Rate { return Rate{N: n, Elapsed: d} }

// PerSecond is the rate in things per second.
func (r Rate) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.N) / r.Elapsed.Seconds()
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func uniqueSchema(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand does not fail on Linux
	return prefix + "_" + hex.EncodeToString(b[:])
}

func dropSchema(url, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return
	}
	//nolint:errcheck // closing a session that only cleans up has nothing to report
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE") // best effort cleanup of a bench schema
}
