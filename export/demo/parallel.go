package demo

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// parallel runs load on workers contiguous ranges of the ids 1…rows at once
// and returns the first error, cancelling the others. Workers count loaded
// rows in done, roughly; progress is called from the caller's goroutine
// every 100 ms while they run.
func parallel(ctx context.Context, workers int, rows int64, progress func(int64),
	load func(ctx context.Context, from, to int64, done *atomic.Int64) error,
) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		done     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	per := (rows + int64(workers) - 1) / int64(workers)
	for from := int64(1); from <= rows; from += per {
		to := min(rows, from+per-1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := load(ctx, from, to, &done); err != nil {
				errOnce.Do(func() { firstErr = err })
				cancel()
			}
		}()
	}
	finished := make(chan struct{})
	go func() {
		wg.Wait()
		close(finished)
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := int64(0)
	for {
		select {
		case <-finished:
			return firstErr
		case <-tick.C:
			if n := done.Load(); n-last >= progressEvery {
				last = n
				progress(n)
			}
		}
	}
}

// batchBuffers is how many batches of arguments exist at once: one being
// filled, one being inserted, one ready.
const batchBuffers = 3

// pipeline makes rows from…to in a goroutine, batchRows at a time, each row
// written into a batch's arguments by fill, while insert (in the caller's
// goroutine) sends the batch before. insert receives the arguments of n
// rows, and the count of rows made so far including them. The first error
// of insert stops both.
func pipeline(ctx context.Context, g *generator, from, to int64, batchRows, cols int,
	fill func(a []any, o *order), insert func(args []any, n int, done int64) error,
) error {
	type batch struct {
		args []any
		n    int
		done int64
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	free := make(chan []any, batchBuffers)
	for range batchBuffers {
		free <- make([]any, batchRows*cols)
	}
	full := make(chan batch, batchBuffers)
	go func() {
		defer close(full)
		var o order
		rows := to - from + 1
		for done := int64(0); done < rows; {
			var args []any
			select {
			case args = <-free:
			case <-ctx.Done():
				return
			}
			n := int(min(int64(batchRows), rows-done))
			for i := range n {
				g.next(&o, from+done)
				done++
				fill(args[i*cols:], &o)
			}
			full <- batch{args: args, n: n, done: done} // never blocks: as many slots as buffers
		}
	}()
	for b := range full {
		if err := insert(b.args[:b.n*cols], b.n, b.done); err != nil {
			cancel()
			for range full { // let the producer see the cancel and finish
			}
			return err
		}
		free <- b.args
	}
	return ctx.Err()
}
