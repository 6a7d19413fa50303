package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/heraldhq/herald/app"
	"github.com/heraldhq/herald/backplane"
	"github.com/heraldhq/herald/jobs"
)

type workerCmd struct {
	DataDir string `name:"data-dir" help:"Where Herald keeps its embedded state." default:"${jobs_data_dir}" type:"path"`
	dbFlags
	exportFlags
	clusterFlags
	ShutdownTimeout time.Duration `name:"shutdown-timeout" help:"Time running tasks get at SIGINT/SIGTERM before they are left to be resumed." default:"10s"`
	NodeID          string        `name:"node-id" help:"This worker's name in the operators' live trace and counts, with --redis (default: a random id, new at each start)." placeholder:"NAME"`
}

// Run runs tasks without serving HTTP. With --redis, their updates and notifications reach the
// owner's open pages live through the cluster's nodes; without it, only through the task list and
// the inbox (GET /api/notifications).
func (w *workerCmd) Run(ctx context.Context, logger *slog.Logger) error {
	var bp backplane.Backplane
	if w.Redis != "" {
		var err error
		if bp, err = app.OpenBackplane(ctx, w.cluster(), nil, logger); err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
		defer func() {
			if err := bp.Close(); err != nil {
				logger.Warn("close backplane", "err", err)
			}
		}()
	}
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
	if bp != nil {
		pub, err := app.NewPublisher(ctx, bp, w.NodeID, logger)
		if err != nil {
			return err
		}
		defer func() {
			if err := pub.Close(); err != nil {
				logger.Warn("close publisher", "err", err)
			}
		}()
		store.SetNotifier(pub)
	}
	if err := store.Start(ctx); err != nil {
		return err
	}
	if bp != nil {
		logger.Info("worker running; task updates reach their owners live through the cluster")
	} else {
		logger.Info("worker running without --redis: task updates reach their owners through the task list and inbox, not live")
	}
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
