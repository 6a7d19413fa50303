package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/heraldhq/herald/app"
	"github.com/heraldhq/herald/jobs"
)

type workerCmd struct {
	DataDir string `name:"data-dir" help:"Where Herald keeps its embedded state." default:"${jobs_data_dir}" type:"path"`
	dbFlags
	exportFlags
	ShutdownTimeout time.Duration `name:"shutdown-timeout" help:"Time running tasks get at SIGINT/SIGTERM before they are left to be resumed." default:"10s"`
}

// Run runs tasks without serving HTTP. Until the Redis backplane lands, what a worker process
// runs reaches users through their inbox (GET /api/notifications) and the task list, not live.
func (w *workerCmd) Run(ctx context.Context, logger *slog.Logger) error {
	tasks, err := app.OpenTasks(ctx, app.Config{DataDir: w.DataDir, Jobs: w.jobs(w.DataDir, logger), Exports: w.exportsConfig(), Logger: logger})
	if err != nil {
		return err
	}
	defer func() {
		if err := tasks.Close(); err != nil {
			logger.Warn("close", "err", err)
		}
	}()
	if err := w.seedDemo(ctx, w.DataDir, w.Database, logger); err != nil {
		return err
	}
	store := tasks.Store
	if err := store.Start(ctx); err != nil {
		return err
	}
	logger.Info("worker running; tasks' live updates reach users only through a serving node's hub once the Redis backplane is configured")
	<-ctx.Done()
	drain, cancel := context.WithTimeout(context.Background(), w.ShutdownTimeout)
	defer cancel()
	if err := store.Stop(drain); err != nil {
		logger.Warn("stop workers", "err", err)
	}
	return nil
}

type migrateCmd struct {
	DataDir string `name:"data-dir" help:"Where Herald keeps its embedded state." default:"${jobs_data_dir}" type:"path"`
	dbFlags
}

// Run applies River's and Herald's migrations (serve and worker also apply them at start).
func (m *migrateCmd) Run(ctx context.Context, logger *slog.Logger) error {
	if err := jobs.Migrate(ctx, m.jobs(m.DataDir, logger)); err != nil {
		return err
	}
	fmt.Println("migrations applied")
	return nil
}
