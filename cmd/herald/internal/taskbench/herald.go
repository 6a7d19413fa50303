package taskbench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/app"
	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/jobs"
)

const benchUser = "bench"

// HeraldEndToEnd serves Herald in this process on a loopback port, connects
// a SignalR client to /hubs/notifications as the tasks' owner, then
// enqueues n one-step demo tasks through POST /api/demo/tasks from
// `enqueuers` goroutines, and times until the client has received all n
// completion notifications.
func HeraldEndToEnd(ctx context.Context, db Database, dir string, n, workers, enqueuers int) (Rate, error) {
	return runHerald(ctx, db, dir, n, workers, enqueuers, false)
}

// HeraldBurnDown is HeraldEndToEnd with the workers started only once all n
// tasks are queued: it times the work, bookkeeping and notifications alone,
// like RiverBurnDown.
func HeraldBurnDown(ctx context.Context, db Database, dir string, n, workers, enqueuers int) (Rate, error) {
	return runHerald(ctx, db, dir, n, workers, enqueuers, true)
}

func runHerald(ctx context.Context, db Database, dir string, n, workers, enqueuers int, burnDown bool) (Rate, error) {
	var raw [32]byte
	_, _ = rand.Read(raw[:]) // crypto/rand does not fail on Linux
	secret := hex.EncodeToString(raw[:])
	cfg := app.Config{
		DataDir: dir,
		// One owner enqueues every task: the per-user limits would measure themselves.
		Jobs: jobs.Config{DatabaseURL: db.URL, Workers: workers, Logger: discardLogger(),
			Limits: jobs.Limits{PerMinute: -1, Active: -1, Running: -1, StoredBytes: -1}},
		Auth:            auth.Config{Secret: secret},
		DemoTasks:       true,
		Logger:          discardLogger(),
		ShutdownTimeout: 10 * time.Second,
		NoWorkers:       burnDown,
	}
	if db.URL != "" {
		cfg.Jobs.Schema = uniqueSchema("herald_bench")
		defer dropSchema(db.URL, cfg.Jobs.Schema)
	}
	srv, err := app.New(ctx, cfg)
	if err != nil {
		return Rate{}, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Rate{}, err
	}
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			slog.Warn("bench tasks: the server ended with an error", "err", err)
		}
	}()
	base := "http://" + ln.Addr().String()
	minter, err := auth.New(ctx, auth.Config{Secret: secret})
	if err != nil {
		return Rate{}, err
	}
	defer minter.Close()
	token, err := minter.Mint(benchUser, nil, time.Hour)
	if err != nil {
		return Rate{}, err
	}

	var got atomic.Int64
	all := make(chan struct{})
	c, err := client.New(base+"/hubs/notifications", client.Options{AccessToken: client.StaticToken(token)})
	if err != nil {
		return Rate{}, err
	}
	c.On("notification", func(context.Context, client.Args) (any, error) {
		if got.Add(1) == int64(n) {
			close(all)
		}
		return nil, nil
	})
	c.On("taskUpdated", func(context.Context, client.Args) (any, error) { return nil, nil })
	if err := c.Start(ctx); err != nil {
		return Rate{}, fmt.Errorf("connect to the hub: %w", err)
	}
	defer func() { _ = c.Stop(context.WithoutCancel(ctx)) }()

	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: enqueuers}}
	body := []byte(`{"steps":1,"stepMs":0}`)
	enqueue := func() error {
		return spread(ctx, n, enqueuers, func(ctx context.Context, _ int) error {
			return post(ctx, hc, base+"/api/demo/tasks", token, body)
		})
	}
	errc := make(chan error, 1)
	var began time.Time
	if burnDown {
		if err := enqueue(); err != nil {
			return Rate{}, fmt.Errorf("enqueue: %w", err)
		}
		began = time.Now()
		if err := srv.StartWorkers(sctx); err != nil {
			return Rate{}, err
		}
		errc <- nil
	} else {
		began = time.Now()
		go func() { errc <- enqueue() }()
	}
	select {
	case <-all:
	case err := <-errc:
		if err != nil {
			return Rate{}, fmt.Errorf("enqueue: %w", err)
		}
		select {
		case <-all:
		case <-ctx.Done():
			return Rate{}, fmt.Errorf("%d of %d notifications received: %w", got.Load(), n, ctx.Err())
		}
	case <-ctx.Done():
		return Rate{}, fmt.Errorf("%d of %d notifications received: %w", got.Load(), n, ctx.Err())
	}
	return newRate(n, time.Since(began)), nil
}

func post(ctx context.Context, hc *http.Client, url, token string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close() //nolint:errcheck // a response read to its end: closing it has nothing to report
	if resp.StatusCode != http.StatusAccepted {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e) // the status alone is the error when the body is not JSON
		return fmt.Errorf("POST %s: %s %s", url, resp.Status, e.Error.Message)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}
