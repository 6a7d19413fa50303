package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"

	"github.com/heraldhq/herald/jobs"
	"github.com/heraldhq/herald/storage"
)

// Kind is the task kind of exports.
const Kind = "herald_export"

// keyPrefix is where export files live in the bucket: keyPrefix/<task id>/<file name>.
const keyPrefix = "exports/"

// TaskOfKey is the id of the export task whose file is at key, if key is an export's.
func TaskOfKey(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, keyPrefix)
	if !ok {
		return "", false
	}
	id, _, ok := strings.Cut(rest, "/")
	return id, ok && id != ""
}

// Args are an export task's arguments: the request as the user made it and
// the roles they had, checked again when the task runs (the datasets file
// may have changed in between).
type Args struct {
	TaskID  string   `json:"taskId"`
	Request Request  `json:"request"`
	Roles   []string `json:"roles,omitempty"`
}

// Kind is River's name of export tasks.
func (Args) Kind() string { return Kind }

// SetTaskID is called by jobs.Store.Enqueue.
func (a *Args) SetTaskID(id string) { a.TaskID = id }

var _ jobs.TaskArgs = (*Args)(nil)

// Result is a succeeded export task's result.
type Result struct {
	Dataset     string    `json:"dataset"`
	Format      string    `json:"format"`
	Compression string    `json:"compression"`
	Rows        int64     `json:"rows"`
	Bytes       int64     `json:"bytes"`
	FileName    string    `json:"fileName"`
	DownloadURL string    `json:"downloadUrl,omitempty"`
	ExpiresAt   time.Time `json:"expiresAt"`
}

// Link gives the success notification its link.
func (r Result) Link() string { return r.DownloadURL }

// Summary is the success notification's body: "100,000 rows, 11.2 MiB.".
func (r Result) Summary() string {
	return fmt.Sprintf("%s, %s.", rowsText(r.Rows), FormatBytes(r.Bytes))
}

// rowsText says how many rows as people read it: "1 row", "52,224 rows".
func rowsText(n int64) string {
	if n == 1 {
		return "1 row"
	}
	return groupDigits(n) + " rows"
}

// groupDigits writes n with a comma between groups of three digits.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}

// FormatBytes writes n as people read a size: "512 B", "11.2 MiB".
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Defaults of ServiceConfig.
const (
	DefaultLinkTTL        = 24 * time.Hour
	DefaultRetentionEvery = 10 * time.Minute
)

// ServiceConfig configures a Service.
type ServiceConfig struct {
	// Exporter runs the exports. Required.
	Exporter *Exporter
	// Bucket stores the files and signs their links. Required.
	Bucket *storage.Bucket
	// LinkTTL is how long a finished export's download link works; the
	// file is deleted by the retention job after that. Default 24 h; at
	// least 1 min.
	LinkTTL time.Duration
	// RetentionEvery is how often expired export files are looked for.
	// Default 10 min; at least 1 s.
	RetentionEvery time.Duration
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// WithDefaults fills in the defaults.
func (c ServiceConfig) WithDefaults() ServiceConfig {
	if c.LinkTTL == 0 {
		c.LinkTTL = DefaultLinkTTL
	}
	if c.RetentionEvery == 0 {
		c.RetentionEvery = DefaultRetentionEvery
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c ServiceConfig) validate() error {
	var errs []error
	if c.Exporter == nil {
		errs = append(errs, errors.New("export: the service needs an Exporter"))
	}
	if c.Bucket == nil {
		errs = append(errs, errors.New("export: the service needs a Bucket"))
	}
	if c.LinkTTL < time.Minute {
		errs = append(errs, fmt.Errorf("export: link TTL must be at least 1m, got %s", c.LinkTTL))
	}
	if c.RetentionEvery < time.Second {
		errs = append(errs, fmt.Errorf("export: retention interval must be at least 1s, got %s", c.RetentionEvery))
	}
	return errors.Join(errs...)
}

// Service runs exports as tasks: it starts them for users, works them into
// the bucket, and deletes their files when their links expire.
//
// It meets the task store once, in Register, which jobs.Open calls:
//
//	svc, _ := export.NewService(export.ServiceConfig{Exporter: exp, Bucket: bucket})
//	cfg.PeriodicJobs = append(cfg.PeriodicJobs, svc.PeriodicJobs()...)
//	store, _ := jobs.Open(ctx, cfg, svc.Register)
//	task, _ := svc.Start(ctx, "alice", roles, req)
type Service struct {
	cfg    ServiceConfig
	exp    *Exporter
	bucket *storage.Bucket
	log    *slog.Logger
	store  atomic.Pointer[jobs.Store]
}

// ErrNotRegistered is returned by Start before Register has given the
// service its task store.
var ErrNotRegistered = errors.New("export: the service is not registered with a task store")

// NewService checks cfg and returns a Service. Pass its Register to
// jobs.Open and its PeriodicJobs to jobs.Config.
func NewService(cfg ServiceConfig) (*Service, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, exp: cfg.Exporter, bucket: cfg.Bucket, log: cfg.Logger}, nil
}

// Exporter returns the service's exporter.
func (s *Service) Exporter() *Exporter { return s.exp }

// Register adds the export and retention workers and keeps the store the
// service enqueues into; it is a jobs.RegisterFunc.
func (s *Service) Register(store *jobs.Store, w *river.Workers) error {
	s.store.Store(store)
	if err := river.AddWorkerSafely(w, &worker{s: s}); err != nil {
		return err
	}
	return river.AddWorkerSafely(w, &retentionWorker{s: s})
}

// Start checks req for a user and enqueues the export task. A request that
// cannot run is a *RequestError and creates nothing.
func (s *Service) Start(ctx context.Context, owner string, roles []string, req Request) (*jobs.Task, error) {
	store := s.store.Load()
	if store == nil {
		return nil, ErrNotRegistered
	}
	plan, err := s.exp.Prepare(req, roles)
	if err != nil {
		return nil, err
	}
	return store.Enqueue(ctx, owner, plan.Title(), &Args{Request: req, Roles: roles})
}

type worker struct {
	river.WorkerDefaults[Args]
	s *Service
}

func (w *worker) Work(ctx context.Context, job *river.Job[Args]) error {
	a := job.Args
	return w.s.store.Load().Run(ctx, a.TaskID, func(ctx context.Context, r *jobs.Reporter) (any, error) {
		return w.s.run(ctx, a, r)
	})
}

func (s *Service) run(ctx context.Context, a Args, r *jobs.Reporter) (any, error) {
	plan, err := s.exp.Prepare(a.Request, a.Roles)
	if err != nil {
		var rerr *RequestError
		if errors.As(err, &rerr) {
			return nil, jobs.Permanent(jobs.NewUserError(rerr.Message, err))
		}
		return nil, jobs.Permanent(err)
	}
	// A previous attempt that died may have left a partial file behind.
	prefix := keyPrefix + a.TaskID + "/"
	if err := s.deleteAll(ctx, prefix); err != nil {
		return nil, jobs.NewUserError("The export file could not be stored.", err)
	}
	started := time.Now()
	name := plan.FileName(started)
	key := prefix + name
	bw, err := s.bucket.NewWriter(ctx, key, plan.ContentType(), nil)
	if err != nil {
		return nil, jobs.NewUserError("The export file could not be stored.", err)
	}
	r.Update(0, 0, 0, "Starting")
	stats, err := s.exp.Run(ctx, plan, bw, func(p Progress) {
		// No total until an estimate is known, and none once the rows outgrow it: a bar at
		// 100 % that drops back, or stays full while rows keep coming, says something false.
		total := p.Estimate
		if total <= p.Rows {
			total = 0
		}
		r.Update(p.Rows, total, p.Bytes, rowsText(p.Rows)+" exported")
	})
	if err == nil {
		err = bw.Close()
		if err != nil {
			err = jobs.NewUserError("The export file could not be stored.", err)
		}
	}
	if err != nil {
		s.discard(ctx, bw, key)
		if errors.Is(context.Cause(ctx), jobs.ErrCancelled) {
			// The cancelled task keeps this (jobs.Run): how far the export got, not the last
			// "N rows exported", which claimed a file that is gone.
			r.Update(stats.Rows, 0, stats.Bytes, fmt.Sprintf("Cancelled after %s; the partial file was deleted.", rowsText(stats.Rows)))
		}
		return nil, classify(ctx, err)
	}
	expires := time.Now().Add(s.cfg.LinkTTL).UTC().Truncate(time.Second)
	link, err := s.bucket.SignedURL(ctx, key, expires, name)
	if err != nil {
		s.discard(ctx, bw, key)
		return nil, jobs.NewUserError("The download link could not be made.", err)
	}
	r.Update(stats.Rows, stats.Rows, stats.Bytes, rowsText(stats.Rows)+" exported")
	return Result{
		Dataset: plan.Dataset.Name, Format: string(plan.Format), Compression: string(plan.Compression),
		Rows: stats.Rows, Bytes: stats.Bytes, FileName: name, DownloadURL: link, ExpiresAt: expires,
	}, nil
}

// discard removes a partial or unusable export file; it runs even when ctx
// is cancelled (a cancelled export must not leave its file).
func (s *Service) discard(ctx context.Context, bw *storage.Writer, key string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := bw.Abort(); err != nil {
		s.log.WarnContext(cctx, "export: abort upload", "key", key, "error", err)
	}
	if err := s.bucket.Delete(cctx, key); err != nil {
		s.log.WarnContext(cctx, "export: delete partial file", "key", key, "error", err)
	}
}

func (s *Service) deleteAll(ctx context.Context, prefix string) error {
	for obj, err := range s.bucket.List(ctx, prefix, nil) {
		if err != nil {
			return err
		}
		if err := s.bucket.DeleteAny(ctx, obj.Key); err != nil {
			return err
		}
	}
	return nil
}

// classify turns a pipeline error into what the task store acts on:
// cancellation passes through; a database error that may go away (a lost
// connection, a deadlock, too many clients) is retried; any other database
// error (bad SQL, a division by zero) fails at once; storage errors are
// retried.
func classify(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return err
	}
	var serr *SourceError
	if errors.As(err, &serr) {
		uerr := jobs.NewUserError(serr.UserMessage(), err)
		if transient(serr.Unwrap()) {
			return uerr
		}
		return jobs.Permanent(uerr)
	}
	var setup *SetupError
	if errors.As(err, &setup) {
		return jobs.Permanent(jobs.NewUserError("The export cannot be made in this format.", err))
	}
	var uerr *jobs.UserError
	if errors.As(err, &uerr) {
		return err
	}
	return jobs.NewUserError("The export failed.", err)
}

func transient(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code[:2] {
		case "08", "40", "53", "57": // connection, transaction rollback, resources, operator intervention
			return true
		}
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || pgconn.SafeToRetry(err) {
		return true
	}
	// pgx reports a connection that a reset closed under a running query as "conn closed" (seen
	// in the chaos suite: "copy postgres: commit: conn closed"); an export only reads, so trying
	// it again is safe.
	msg := err.Error()
	return strings.Contains(msg, "database is locked") || strings.Contains(msg, "SQLITE_BUSY") ||
		strings.Contains(msg, "bad connection") || strings.Contains(msg, "invalid connection") ||
		strings.Contains(msg, "conn closed") || strings.Contains(msg, "connection reset by peer")
}
