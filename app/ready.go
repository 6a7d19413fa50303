package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Defaults of ReadinessConfig.
const (
	DefaultReadyProbeTimeout = 2 * time.Second
	DefaultReadyProbeEvery   = 5 * time.Second
)

// ReadinessConfig tunes /readyz's probe that the task database takes writes. Zero fields take the
// defaults.
type ReadinessConfig struct {
	// ProbeTimeout bounds one probe, the wait for a connection included: a database that takes
	// longer to write is not ready. Default 2 s.
	ProbeTimeout time.Duration
	// ProbeEvery is how long a probe's answer is reused: a load balancer polling /readyz every
	// second from several places costs the database one small write per ProbeEvery per node.
	// Default 5 s.
	ProbeEvery time.Duration
}

// WithDefaults fills in the defaults.
func (c ReadinessConfig) WithDefaults() ReadinessConfig {
	if c.ProbeTimeout == 0 {
		c.ProbeTimeout = DefaultReadyProbeTimeout
	}
	if c.ProbeEvery == 0 {
		c.ProbeEvery = DefaultReadyProbeEvery
	}
	return c
}

func (c ReadinessConfig) validate() error {
	if c.ProbeTimeout < 0 || c.ProbeEvery < 0 {
		return fmt.Errorf("readiness probe timeout and interval must not be negative, got %s and %s", c.ProbeTimeout, c.ProbeEvery)
	}
	return nil
}

// writeProbe says whether the task database takes writes, probing it at most once per
// ProbeEvery. Its lock is held during a probe: polls that arrive meanwhile wait for that probe's
// answer (ProbeTimeout at most) instead of adding writes of their own.
type writeProbe struct {
	probe func(context.Context) error // jobs.Store.ProbeWrite
	cfg   ReadinessConfig
	log   *slog.Logger

	mu  sync.Mutex
	at  time.Time // when the last probe ended; zero before the first
	err error     // its answer
}

// check returns why the database does not take writes, nil when it does.
func (p *writeProbe) check(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.at.IsZero() && time.Since(p.at) < p.cfg.ProbeEvery {
		return p.err
	}
	// Not the request's context: a poller that hangs up must not make the answer a failure for
	// the others.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.ProbeTimeout)
	defer cancel()
	err := p.probe(pctx)
	if err != nil && errors.Is(pctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("no write within %s: %w", p.cfg.ProbeTimeout, err)
	}
	switch {
	case err != nil && p.err == nil:
		p.log.Warn("readiness: the task database does not take writes; /readyz answers 503", "err", err)
	case err == nil && p.err != nil:
		p.log.Info("readiness: the task database takes writes again")
	}
	p.at, p.err = time.Now(), err
	return err
}

// writeFailure names the kind of a failed write probe for /readyz, which anyone may read: the
// error itself (a host name, a file path, a driver's text) goes to the log only.
func writeFailure(err error) string {
	msg := strings.ToLower(err.Error())
	switch {
	case strings.HasPrefix(msg, "no write within "):
		what, _, _ := strings.Cut(err.Error(), ":")
		return what
	case strings.Contains(msg, "full") || strings.Contains(msg, "no space") || strings.Contains(msg, "too large"):
		return "disk full"
	case strings.Contains(msg, "i/o error"):
		return "disk I/O error" // SQLite's answer to a file it may not grow (a size limit, a quota)
	case strings.Contains(msg, "read-only") || strings.Contains(msg, "readonly"):
		return "read-only"
	case strings.Contains(msg, "refused") || strings.Contains(msg, "reset") || strings.Contains(msg, "closed") ||
		strings.Contains(msg, "no such host") || strings.Contains(msg, "unreachable"):
		return "unreachable"
	}
	return "the write failed"
}
