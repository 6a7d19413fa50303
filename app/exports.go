package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/export"
	"github.com/heraldhq/herald/internal/httpx"
	"github.com/heraldhq/herald/jobs"
	"github.com/heraldhq/herald/storage"
)

// Tasks is the task store with every task kind registered: what `serve` and `worker` run.
type Tasks struct {
	Store   *jobs.Store
	Exports *export.Service
	Bucket  *storage.Bucket
	exp     *export.Exporter
}

// Close releases the store, the export sources and the bucket.
func (t *Tasks) Close() error {
	t.Store.Close()
	return errors.Join(t.exp.Close(), t.Bucket.Close())
}

// OpenTasks opens the export storage and the dataset registry, then the task store with the
// export workers and the retention sweep registered. cfg must have its defaults applied.
func OpenTasks(ctx context.Context, cfg Config) (*Tasks, error) {
	cfg = cfg.WithDefaults()
	ec := cfg.Exports
	reg, err := export.Load(ec.DatasetsFile)
	if err != nil {
		return nil, err
	}
	key, err := signingKey(cfg.DataDir, ec.SigningKey)
	if err != nil {
		return nil, err
	}
	bucket, err := storage.Open(ctx, storage.Config{
		URL: ec.StorageURL, DataDir: cfg.DataDir, SigningKey: key, PublicBaseURL: ec.PublicURL, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("export storage: %w", err)
	}
	srcURL, err := SourceURL(cfg.DataDir, cfg.Jobs.DatabaseURL)
	if err != nil {
		_ = bucket.Close()
		return nil, err
	}
	exp, err := export.New(export.Config{Registry: reg, DefaultSourceURL: srcURL, Logger: cfg.Logger})
	if err != nil {
		_ = bucket.Close()
		return nil, err
	}
	svc, err := export.NewService(export.ServiceConfig{
		Exporter: exp, Bucket: bucket, LinkTTL: ec.LinkTTL, RetentionEvery: ec.RetentionEvery, Logger: cfg.Logger,
	})
	if err != nil {
		_ = bucket.Close()
		return nil, err
	}
	jc := cfg.Jobs
	jc.PeriodicJobs = append(jc.PeriodicJobs, svc.PeriodicJobs()...)
	store, err := jobs.Open(ctx, jc, svc.Register)
	if err != nil {
		_ = bucket.Close()
		return nil, fmt.Errorf("open task store: %w", err)
	}
	return &Tasks{Store: store, Exports: svc, Bucket: bucket, exp: exp}, nil
}

// SourceURL is the export source URL of Herald's own database: the SQLite file in dataDir, or
// the PostgreSQL URL.
func SourceURL(dataDir, databaseURL string) (string, error) {
	if databaseURL != "" {
		return databaseURL, nil
	}
	abs, err := filepath.Abs(filepath.Join(dataDir, "herald.db"))
	if err != nil {
		return "", err
	}
	return "sqlite://" + abs, nil
}

// signingKey returns the configured key, or the one kept in dataDir/signing-key (made on first
// use), so that links survive restarts of a single node.
func signingKey(dataDir, configured string) ([]byte, error) {
	if configured != "" {
		if len(configured) < storage.MinSigningKeyLen {
			return nil, fmt.Errorf("the signing key must be at least %d bytes", storage.MinSigningKeyLen)
		}
		return []byte(configured), nil
	}
	path := filepath.Join(dataDir, "signing-key")
	if b, err := os.ReadFile(path); err == nil {
		k := strings.TrimSpace(string(b))
		if len(k) < storage.MinSigningKeyLen {
			return nil, fmt.Errorf("%s holds a key shorter than %d bytes", path, storage.MinSigningKeyLen)
		}
		return []byte(k), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:]) // crypto/rand does not fail on supported platforms
	k := hex.EncodeToString(raw[:])
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if err := os.WriteFile(path, []byte(k+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write signing key: %w", err)
	}
	return []byte(k), nil
}

// ownerOnly lets through to next only the download requests of the file's owner, who sends their
// token in the Authorization header (--download-auth owner): a link that leaked is then of no use
// to anyone else. Another user's file, or one that is no export's, is 404, as their tasks are.
func ownerOnly(a *auth.Authenticator, store *jobs.Store, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		id, err := a.AuthenticateHeader(r)
		if err != nil {
			auth.WriteError(w, err)
			return
		}
		taskID, ok := export.TaskOfKey(strings.TrimPrefix(r.URL.Path, storage.DefaultDownloadPath))
		if ok {
			_, err = store.Get(r.Context(), id.UserID, taskID)
		}
		switch {
		case !ok || errors.Is(err, jobs.ErrNotFound):
			httpx.WriteError(w, http.StatusNotFound, storage.CodeNotFound, "No such file among yours.")
			return
		case err != nil:
			httpx.WriteError(w, http.StatusInternalServerError, "internal", "Something went wrong; it has been logged.")
			return
		}
		next.ServeHTTP(w, r)
	})
}
