package hub

import (
	"net/http"
	"sync"
	"time"
)

// pollTransport is a connection's long polling: each GET takes what is queued, and the polls
// themselves are the client's sign of life.
type pollTransport struct {
	mu          sync.Mutex
	polling     chan struct{} // closed to end the pending poll early; nil when no poll waits
	lastPollEnd time.Time
}

func (t *pollTransport) kind() Transport { return LongPolling }

// abort ends the pending poll.
func (t *pollTransport) abort() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.polling != nil {
		close(t.polling)
		t.polling = nil
	}
}

// begin registers a new poll; a pending older one returns empty (the newer poll wins).
func (t *pollTransport) begin() chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.polling != nil {
		close(t.polling)
	}
	stop := make(chan struct{})
	t.polling = stop
	return stop
}

// end records that a poll ended, unless a newer poll already replaced it.
func (t *pollTransport) end(stop chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.polling == stop {
		t.polling = nil
	}
	t.lastPollEnd = time.Now()
}

// idleFor is how long no poll has been waiting; 0 while one waits.
func (t *pollTransport) idleFor(now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.polling != nil {
		return 0
	}
	return now.Sub(t.lastPollEnd)
}

// pending reports whether a poll waits.
func (t *pollTransport) pending() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.polling != nil
}

// servePoll answers one long poll: the first returns at once (it tells the client the transport
// works), later ones return what is queued, or nothing after LongPollTimeout, or 204 once the
// connection has ended.
func (h *Hub) servePoll(w http.ResponseWriter, r *http.Request, c *conn) {
	first := &pollTransport{lastPollEnd: time.Now()}
	if c.attach(first, r) {
		if err := h.app.attached(c); err != nil {
			c.close(closeReason{err: err}) // the next poll gets 204
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		return
	}
	t, ok := c.transportOf().(*pollTransport)
	if !ok {
		http.Error(w, "Another transport is already bound to this connection", http.StatusConflict)
		return
	}
	stop := t.begin()
	timer := time.NewTimer(c.ep.longPoll)
	defer timer.Stop()
	for {
		batch, closing := c.queue.take()
		if len(batch) > 0 {
			t.end(stop)
			h.writePoll(w, c, batch)
			c.queue.recycle(batch)
			if closing {
				// The Close message is out: the connection is over.
				c.teardown(errTransportGone)
			}
			return
		}
		if closing {
			t.end(stop)
			c.teardown(errTransportGone)
			h.forget(c)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		select {
		case <-c.queue.wake:
		case <-stop:
			t.end(stop)
			if c.isClosing() {
				w.WriteHeader(http.StatusNoContent)
				h.forget(c)
				return
			}
			w.WriteHeader(http.StatusOK)
			return
		case <-timer.C:
			t.end(stop)
			w.WriteHeader(http.StatusOK)
			return
		case <-r.Context().Done():
			t.end(stop)
			return
		}
	}
}

func (h *Hub) writePoll(w http.ResponseWriter, c *conn, batch [][]byte) {
	if c.binary() {
		w.Header().Set("Content-Type", "application/octet-stream")
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.WriteHeader(http.StatusOK)
	size := 0
	for _, b := range batch {
		if _, err := w.Write(b); err != nil {
			// The poll's client is gone: what it did not get is lost with the connection, which
			// ends when no poll comes within DisconnectTimeout.
			h.log.Debug("write poll", "connection", c.id, "err", err)
			return
		}
		size += len(b)
	}
	h.metrics.bytesOut[LongPolling].Add(float64(size))
}
