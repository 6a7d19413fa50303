package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/heraldhq/herald/cmd/herald/internal/taskbench"
)

type benchTasksCmd struct {
	Quick      bool          `help:"Small counts, for seconds (what CI runs)."`
	Tasks      int           `help:"Tasks (and River jobs) per measurement (default 5000, 300 with --quick)."`
	Workers    int           `help:"Workers of Herald and of River." default:"10"`
	Enqueuers  int           `help:"Goroutines enqueuing through the API (and inserting into River)." default:"8"`
	Databases  []string      `help:"Databases to measure on." default:"sqlite,postgres" enum:"sqlite,postgres"`
	Postgres   string        `help:"PostgreSQL to measure on (each run in a fresh schema, dropped afterwards)." default:"postgres://postgres@127.0.0.1:5432/test?sslmode=disable" placeholder:"URL"`
	Timeout    time.Duration `help:"Limit of each measurement." default:"5m"`
	CPUProfile string        `name:"cpu-profile" help:"Write a CPU profile of the whole run to this file." type:"path" placeholder:"FILE"`
}

// Run measures, per database: River's burn-down of pre-inserted no-op jobs, River working no-op
// jobs inserted one by one, and Herald end to end (API enqueue → completion notification
// received by a SignalR client), and prints Herald's rate as a share of River's.
func (b *benchTasksCmd) Run(ctx context.Context) error {
	n := b.Tasks
	if n == 0 {
		n = 5000
		if b.Quick {
			n = 300
		}
	}
	if b.CPUProfile != "" {
		f, err := os.Create(b.CPUProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			_ = f.Close() // the profiler's error is the one to report
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			if err := f.Close(); err != nil {
				fmt.Fprintln(os.Stderr, "herald: write CPU profile:", err)
			}
		}()
	}
	fmt.Printf("herald bench tasks: %d tasks per row, %d workers, %d enqueuers\n\n", n, b.Workers, b.Enqueuers)
	const row = "%-9s %-40s %9s %10s %19s\n"
	fmt.Printf(row, "database", "measurement", "tasks/s", "elapsed", "vs River burn-down")
	for _, name := range b.Databases {
		db := taskbench.Database{Name: name}
		if name == "postgres" {
			db.URL = b.Postgres
		}
		var burn float64
		for _, m := range []struct {
			label string
			run   func(ctx context.Context, dir string) (taskbench.Rate, error)
		}{
			{"River burn-down (no-op jobs)", func(ctx context.Context, dir string) (taskbench.Rate, error) {
				return taskbench.RiverBurnDown(ctx, db, dir, n, b.Workers)
			}},
			{"River insert + work (no-op jobs)", func(ctx context.Context, dir string) (taskbench.Rate, error) {
				return taskbench.RiverInsertAndWork(ctx, db, dir, n, b.Workers, b.Enqueuers)
			}},
			{"Herald burn-down (queued → notification)", func(ctx context.Context, dir string) (taskbench.Rate, error) {
				return taskbench.HeraldBurnDown(ctx, db, dir, n, b.Workers, b.Enqueuers)
			}},
			{"Herald end to end (API → notification)", func(ctx context.Context, dir string) (taskbench.Rate, error) {
				return taskbench.HeraldEndToEnd(ctx, db, dir, n, b.Workers, b.Enqueuers)
			}},
		} {
			dir, err := os.MkdirTemp("", "herald-bench-tasks-")
			if err != nil {
				return err
			}
			mctx, cancel := context.WithTimeout(ctx, b.Timeout)
			r, err := m.run(mctx, dir)
			cancel()
			_ = os.RemoveAll(dir) // a temporary directory of the run
			if err != nil {
				return fmt.Errorf("%s, %s: %w", name, m.label, err)
			}
			if burn == 0 {
				burn = r.PerSecond()
			}
			fmt.Printf(row, name, m.label, fmt.Sprintf("%.0f", r.PerSecond()), r.Elapsed.Round(time.Millisecond),
				fmt.Sprintf("%.0f %%", 100*r.PerSecond()/burn))
		}
	}
	return nil
}
