package hub

import (
	"net/http"
	"time"
)

// servePoll answers one long poll: the first returns at once (it tells the client the transport
// works), later ones return what is queued, or nothing after LongPollTimeout, or 204 once the
// connection has ended.
func (h *Hub) servePoll(w http.ResponseWriter, r *http.Request, c *conn) {
	c.mu.Lock()
	switch {
	case c.transport == "" && !c.closing:
		c.transport = LongPolling
		c.attachedAt = time.Now()
		c.polled = true
		c.lastPollEnd = time.Now()
		c.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		return
	case c.transport != LongPolling:
		c.mu.Unlock()
		http.Error(w, "Another transport is already bound to this connection", http.StatusConflict)
		return
	}
	if c.polling != nil {
		close(c.polling) // the newer poll wins; the older returns empty
	}
	stop := make(chan struct{})
	c.polling = stop
	c.mu.Unlock()

	timer := time.NewTimer(h.opts.LongPollTimeout)
	defer timer.Stop()
	for {
		batch, closing := c.takeQueue()
		if len(batch) > 0 {
			h.endPoll(c, stop)
			h.writePoll(w, c, batch)
			c.recycle(batch)
			if closing {
				// The Close message is out: the connection is over.
				c.teardown(errTransportGone)
			}
			return
		}
		if closing {
			h.endPoll(c, stop)
			c.teardown(errTransportGone)
			h.forget(c)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		select {
		case <-c.wake:
		case <-stop:
			h.endPoll(c, stop)
			if c.isClosing() {
				w.WriteHeader(http.StatusNoContent)
				h.forget(c)
				return
			}
			w.WriteHeader(http.StatusOK)
			return
		case <-timer.C:
			h.endPoll(c, stop)
			w.WriteHeader(http.StatusOK)
			return
		case <-r.Context().Done():
			h.endPoll(c, stop)
			return
		}
	}
}

// endPoll records that a poll ended, unless a newer poll already replaced it.
func (h *Hub) endPoll(c *conn, stop chan struct{}) {
	c.mu.Lock()
	if c.polling == stop {
		c.polling = nil
	}
	c.lastPollEnd = time.Now()
	c.mu.Unlock()
}

func (h *Hub) writePoll(w http.ResponseWriter, c *conn, batch [][]byte) {
	if c.proto != nil && c.proto.Binary() {
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
