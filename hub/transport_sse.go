package hub

import (
	"bytes"
	"net/http"
	"time"
)

// sseTransport is a connection's Server-Sent Events stream. Its writer is the request's goroutine,
// which waits on the send queue's wake; the client sends with POST.
type sseTransport struct{}

func (sseTransport) kind() Transport { return ServerSentEvents }

// abort has nothing of its own to end: the dropped queue wakes the writer, which returns.
func (sseTransport) abort() {}

// serveSSE streams the connection's messages as Server-Sent Events.
func (h *Hub) serveSSE(w http.ResponseWriter, r *http.Request, c *conn) {
	if !c.attach(sseTransport{}, r) {
		http.Error(w, "Another transport is already bound to this connection", http.StatusConflict)
		return
	}
	rc := http.NewResponseController(w)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no") // proxies must not buffer the stream
	w.WriteHeader(http.StatusOK)
	// A comment first, so that the client's EventSource opens at once.
	if err := h.writeSSE(w, rc, []byte(":\r\n")); err != nil {
		c.abort(errTransportGone)
		return
	}
	if err := h.app.attached(c); err != nil {
		c.close(closeReason{err: err}) // the loop below ends the stream
	}
	var event bytes.Buffer
	for {
		select {
		case <-c.queue.wake:
		case <-r.Context().Done():
			c.abort(errTransportGone)
			return
		}
		batch, closing := c.queue.take()
		if len(batch) > 0 {
			event.Reset()
			appendSSEEvent(&event, batch)
			c.queue.recycle(batch)
			if err := h.writeSSE(w, rc, event.Bytes()); err != nil {
				c.abort(err)
				return
			}
		}
		if closing && c.queue.empty() {
			c.abort(errTransportGone)
			return
		}
	}
}

func (h *Hub) writeSSE(w http.ResponseWriter, rc *http.ResponseController, b []byte) error {
	if err := rc.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout)); err != nil && err != http.ErrNotSupported {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	h.metrics.bytesOut[ServerSentEvents].Add(float64(len(b)))
	return rc.Flush()
}

// appendSSEEvent writes records as one event: each line of the payload becomes a data line, and the
// client joins them back with "\n". JSON records hold no raw line breaks; one a client sent inside
// a value it gets back is whitespace between JSON tokens, where "\r" and "\n" are alike.
func appendSSEEvent(b *bytes.Buffer, records [][]byte) {
	b.WriteString("data: ")
	for _, r := range records {
		for len(r) > 0 {
			i := bytes.IndexAny(r, "\r\n")
			if i < 0 {
				b.Write(r)
				break
			}
			b.Write(r[:i])
			b.WriteString("\r\ndata: ")
			if r[i] == '\r' && i+1 < len(r) && r[i+1] == '\n' {
				i++
			}
			r = r[i+1:]
		}
	}
	b.WriteString("\r\n\r\n")
}
