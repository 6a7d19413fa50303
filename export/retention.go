package export

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/heraldhq/herald/jobs"
)

// RetentionKind is the kind of the periodic job that deletes expired export files.
const RetentionKind = "herald_export_retention"

// RetentionArgs are the retention job's (empty) arguments.
type RetentionArgs struct{}

// Kind is River's name of the retention job.
func (RetentionArgs) Kind() string { return RetentionKind }

// PeriodicJobs returns the retention sweep, every ServiceConfig.RetentionEvery,
// for jobs.Config.PeriodicJobs. River runs it on one process of the cluster.
func (s *Service) PeriodicJobs() []*river.PeriodicJob {
	every := s.cfg.RetentionEvery
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) {
			return RetentionArgs{}, &river.InsertOpts{MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByPeriod: every}}
		}, &river.PeriodicJobOpts{RunOnStart: true})}
}

type retentionWorker struct {
	river.WorkerDefaults[RetentionArgs]
	s *Service
}

func (w *retentionWorker) Work(ctx context.Context, _ *river.Job[RetentionArgs]) error {
	n, err := w.s.Sweep(ctx, time.Now())
	if n > 0 {
		w.s.log.InfoContext(ctx, "export retention: expired files deleted", "files", n)
	}
	return err
}

// Sweep deletes the export files that expired before now: those written
// more than ServiceConfig.LinkTTL ago (or whose stored expiry has passed), and
// partial files a dead process left. Each export task whose file goes is
// amended: result.expired = true, no downloadUrl, and a message saying so.
// It returns how many files it deleted.
func (s *Service) Sweep(ctx context.Context, now time.Time) (int, error) {
	var n int
	var errs []error
	for obj, err := range s.bucket.List(ctx, keyPrefix, nil) {
		if err != nil {
			return n, fmt.Errorf("list export files: %w", err)
		}
		expires := obj.ModTime.Add(s.cfg.LinkTTL)
		if !obj.ExpiresAt.IsZero() && obj.ExpiresAt.After(expires) {
			expires = obj.ExpiresAt
		}
		if now.Before(expires) {
			continue
		}
		if err := s.bucket.DeleteAny(ctx, obj.Key); err != nil {
			errs = append(errs, fmt.Errorf("delete %q: %w", obj.Key, err))
			continue
		}
		n++
		taskID, _, ok := strings.Cut(strings.TrimPrefix(obj.Key, keyPrefix), "/")
		if !ok {
			continue
		}
		msg := fmt.Sprintf("The file expired and was deleted on %s.", now.UTC().Format("2006-01-02 15:04 UTC"))
		_, err := s.store.Load().AmendResult(ctx, taskID, map[string]any{"expired": true, "downloadUrl": nil}, msg)
		if err != nil && !errors.Is(err, jobs.ErrNotFound) && !errors.Is(err, jobs.ErrInvalid) {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}
