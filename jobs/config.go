package jobs

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/riverqueue/river"
)

// Defaults applied by Config.WithDefaults.
const (
	// DefaultRescueAfter makes a task whose process died run again within a
	// minute, with margin. The worst case is about RescueAfter + 38 s, 53 s
	// here: RescueAfter until its last heartbeat is that old, 30 s until
	// River's rescuer looks again (a constant of River's, not configurable up
	// to v0.51), then River's first retry delay (1 s), its scheduler (every
	// 5 s) and a fetch. When River's leader dies with the task, a new one
	// takes over within about 20 s and looks at once, which is no slower.
	// Measured in test/e2e/rescue_test.go's setups, the SIGKILL delayed by 0
	// to 27 s to cover the rescuer's period: 15 to 45 s (48 to 83 s with the
	// former 60 s). Shorter costs more heartbeats and leaves less slack to a
	// live task: at 15 s one is rescued only after 11 s without a heartbeat
	// (they come every 3.75 s), so a heartbeat held up for SQLite's whole 10 s
	// busy timeout still lands in time. A task whose job already holds an
	// error (a failed or rescued attempt) also waits River's retry backoff:
	// 16 s after one error, 81 s after two.
	DefaultRescueAfter      = 15 * time.Second
	DefaultProgressInterval = 250 * time.Millisecond
	DefaultMaxAttempts      = 5
	DefaultWorkers          = 10
	DefaultFetchCooldown    = 10 * time.Millisecond
	DefaultSchema           = "public"
	DefaultDataDir          = "herald-data"

	// cancelPollInterval is how often a running task re-reads its own row to
	// notice a cancel made by another process (PostgreSQL with several
	// workers). In this process cancel is immediate through the registry.
	cancelPollInterval = 500 * time.Millisecond
)

// Config configures a Store. The zero value is usable after WithDefaults: an
// SQLite database at herald-data/herald.db.
type Config struct {
	// DatabaseURL selects the database. Empty means SQLite in a file
	// DataDir/herald.db; "postgres://…" or "postgresql://…" means PostgreSQL.
	//
	// Defaults to "" (SQLite).
	DatabaseURL string

	// DataDir is the directory that holds the SQLite database. It is created
	// when missing. Unused with PostgreSQL.
	//
	// Defaults to "herald-data".
	DataDir string

	// Logger receives River's and the store's logs. Internal error texts of
	// failed tasks are logged here, never shown to users.
	//
	// Defaults to slog.Default().
	Logger *slog.Logger

	// RescueAfter is how long a running task may go without a heartbeat
	// before it is considered dead (its process gone) and is retried. Running
	// tasks heartbeat every RescueAfter/4, so long tasks are never rescued
	// while their process is alive. River's rescuer runs every 30 s, so a dead
	// task runs again within about RescueAfter + 38 s (see
	// DefaultRescueAfter). On PostgreSQL the heartbeat is stamped with the
	// database's clock and compared with the River leader's, so the two must
	// agree to well within 3/4 of RescueAfter.
	//
	// Defaults to 15 s.
	RescueAfter time.Duration

	// ProgressInterval is the minimum time between two stored and notified
	// progress updates of one task. The final state is never throttled.
	//
	// Defaults to 250 ms.
	ProgressInterval time.Duration

	// MaxAttempts is how many times a task is attempted (first run plus
	// retries of retryable errors) before it fails.
	//
	// Defaults to 5.
	MaxAttempts int

	// MaxAttemptsByKind overrides MaxAttempts for individual task kinds.
	//
	// Defaults to none.
	MaxAttemptsByKind map[string]int

	// Workers is how many tasks this process runs at once (River's
	// MaxWorkers of the default queue).
	//
	// Defaults to 10.
	Workers int

	// FetchCooldown is the least time between two fetches of queued tasks
	// (River's FetchCooldown). River's default of 100 ms caps a process at
	// Workers tasks per 100 ms; 10 ms lets short tasks flow ten times faster
	// at the cost of more, still cheap, fetch queries under load.
	//
	// Defaults to 10 ms.
	FetchCooldown time.Duration

	// PeriodicJobs are River jobs run on a schedule by one process of the
	// cluster (River's leader), such as the export retention sweep. Their
	// workers are added with a RegisterFunc.
	//
	// Defaults to none.
	PeriodicJobs []*river.PeriodicJob

	// Schema is the PostgreSQL schema holding River's and Herald's tables;
	// it is created when missing. Unused with SQLite.
	//
	// Defaults to "public".
	Schema string

	// Limits are what one owner may ask (see Limits).
	Limits Limits
}

var schemaPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// WithDefaults returns a copy of c with every unset field set to its default.
func (c Config) WithDefaults() Config {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.RescueAfter == 0 {
		c.RescueAfter = DefaultRescueAfter
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.Schema == "" {
		c.Schema = DefaultSchema
	}
	if c.FetchCooldown == 0 {
		c.FetchCooldown = DefaultFetchCooldown
	}
	c.Limits = c.Limits.withDefaults(c.Workers)
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.DatabaseURL != "" && !c.isPostgres() {
		errs = append(errs, fmt.Errorf("database URL must be empty (SQLite) or start with postgres://"))
	}
	if c.RescueAfter < time.Second {
		errs = append(errs, fmt.Errorf("rescue after must be at least 1s, got %s", c.RescueAfter))
	}
	if c.ProgressInterval < 0 {
		errs = append(errs, fmt.Errorf("progress interval cannot be negative"))
	}
	if c.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("max attempts must be at least 1, got %d", c.MaxAttempts))
	}
	for kind, n := range c.MaxAttemptsByKind {
		if n < 1 {
			errs = append(errs, fmt.Errorf("max attempts of kind %q must be at least 1, got %d", kind, n))
		}
	}
	if c.Workers < 1 {
		errs = append(errs, fmt.Errorf("workers must be at least 1, got %d", c.Workers))
	}
	if c.FetchCooldown < time.Millisecond {
		errs = append(errs, fmt.Errorf("fetch cooldown must be at least 1ms, got %s", c.FetchCooldown))
	}
	if !schemaPattern.MatchString(c.Schema) {
		errs = append(errs, fmt.Errorf("schema %q must be a lower-case SQL identifier", c.Schema))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("jobs config: %w", err)
	}
	return nil
}

func (c Config) isPostgres() bool {
	return strings.HasPrefix(c.DatabaseURL, "postgres://") || strings.HasPrefix(c.DatabaseURL, "postgresql://")
}

func (c Config) maxAttemptsFor(kind string) int {
	if n, ok := c.MaxAttemptsByKind[kind]; ok {
		return n
	}
	return c.MaxAttempts
}
