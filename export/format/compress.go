package format

import (
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
)

// NewCompressor wraps w so that what is written to the result reaches w
// compressed with c. Close flushes and ends the compressed stream; it does not
// close w. For None the result passes writes straight through.
//
// Gzip uses pgzip at the default level (6) with 1 MiB blocks compressed on
// GOMAXPROCS goroutines: the output is a standard gzip stream, and memory is
// about 2 MiB per goroutine. Zstd uses the default level ("SpeedDefault",
// about zstd -3) with an 8 MiB window, so any zstd reader can decode it with
// its default memory limit.
func NewCompressor(c Compression, w io.Writer) (io.WriteCloser, error) {
	switch c {
	case None:
		return nopCloser{w}, nil
	case Gzip:
		latch := &errLatch{w: w}
		zw, err := pgzip.NewWriterLevel(latch, pgzip.DefaultCompression)
		if err != nil {
			return nil, fmt.Errorf("format: new gzip writer: %w", err)
		}
		return &gzipWriter{zw: zw, latch: latch}, nil
	case Zstd:
		zw, err := zstd.NewWriter(w,
			zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithWindowSize(8<<20))
		if err != nil {
			return nil, fmt.Errorf("format: new zstd writer: %w", err)
		}
		return zw, nil
	}
	return nil, fmt.Errorf("%w compression %q (want none, gzip or zstd)", ErrUnknown, c)
}

// gzipWriter shields pgzip from errors of the underlying writer. pgzip
// v1.3.0, once its writer has failed, returns from Close before it stops its
// output goroutine, which then leaks. Here pgzip writes into an errLatch that
// never fails: the latch keeps the first error, drops later bytes, and
// gzipWriter reports that error from Write and Close, so the caller still
// stops at once while pgzip always runs its Close to the end.
type gzipWriter struct {
	zw    *pgzip.Writer
	latch *errLatch
}

func (g *gzipWriter) Write(p []byte) (int, error) {
	if err := g.latch.error(); err != nil {
		return 0, err
	}
	n, err := g.zw.Write(p)
	if lerr := g.latch.error(); lerr != nil {
		return n, lerr
	}
	return n, err
}

func (g *gzipWriter) Close() error {
	err := g.zw.Close()
	if lerr := g.latch.error(); lerr != nil {
		return lerr
	}
	return err
}

// errLatch passes writes to w until one fails, then swallows them. pgzip
// writes from its own goroutine, hence the mutex.
type errLatch struct {
	w   io.Writer
	mu  sync.Mutex
	err error
}

func (l *errLatch) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		_, l.err = l.w.Write(p)
	}
	return len(p), nil
}

func (l *errLatch) error() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
