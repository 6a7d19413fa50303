package hub

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/coder/websocket"
)

// maxFrameBatch bounds the bytes of records gathered into one WebSocket frame.
const maxFrameBatch = 64 * 1024

func (h *Hub) serveWebSocket(w http.ResponseWriter, r *http.Request, c *conn) {
	if !c.attach(WebSockets) {
		http.Error(w, "Another transport is already bound to this connection", http.StatusConflict)
		return
	}
	opts := &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled}
	if len(h.opts.AllowedOrigins) == 0 {
		opts.InsecureSkipVerify = true
	} else {
		opts.OriginPatterns = h.opts.AllowedOrigins
	}
	ws, err := websocket.Accept(w, r, opts)
	if err != nil {
		// Accept has answered the request.
		c.abort(err)
		return
	}
	// Records are bounded by MaxMessageSize as they are parsed; a frame may carry many of them.
	ws.SetReadLimit(-1)
	c.mu.Lock()
	c.ws = ws
	if len(c.queue) > 0 || c.closing {
		c.kickLocked()
	}
	c.mu.Unlock()
	err = c.readWebSocket(ws)
	c.abort(err)
}

// readWebSocket feeds frames to the connection until the socket ends. It runs on the request's
// goroutine: an idle WebSocket connection costs this one goroutine, the writer comes and goes.
func (c *conn) readWebSocket(ws *websocket.Conn) error {
	// Not c.ctx: cancelling the reader's context closes the socket at once, before a Close message
	// queued by a graceful close could be written.
	ctx := context.Background()
	for {
		_, r, err := ws.Reader(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure || websocket.CloseStatus(err) == websocket.StatusGoingAway || errors.Is(err, io.EOF) {
				return errTransportGone
			}
			return errors.Join(errTransportGone, err)
		}
		if err := c.readFrame(r); err != nil {
			return err
		}
	}
}

func (c *conn) readFrame(r io.Reader) error {
	buf := readBuffers.Get().(*[]byte)
	defer readBuffers.Put(buf)
	for {
		n, err := r.Read(*buf)
		if n > 0 {
			// An error here has already closed the connection gracefully (a Close message saying
			// why is queued); the reader goes on until the peer answers, dropping what it sends.
			_ = c.receive((*buf)[:n])
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return errors.Join(errTransportGone, err)
		}
	}
}

// flushWS writes the queue to the socket until it is empty; it is started by kickLocked when
// something is queued and no flusher runs.
func (c *conn) flushWS() {
	for {
		batch, _ := c.takeQueue()
		if len(batch) == 0 {
			c.mu.Lock()
			// Re-check under the lock: send may have queued since takeQueue.
			if len(c.queue) > 0 {
				c.mu.Unlock()
				continue
			}
			c.flushing = false
			closing := c.closing
			ws, tornDown := c.ws, c.tornDown
			c.mu.Unlock()
			if closing && !tornDown {
				code := websocket.StatusNormalClosure
				if err := context.Cause(c.ctx); err != nil && !errors.Is(err, context.Canceled) {
					code = websocket.StatusInternalError
				}
				// Close waits for the client's answering close frame (bounded by the library).
				if err := ws.Close(code, ""); err != nil {
					c.h.log.Debug("websocket close", "connection", c.id, "err", err)
				}
				c.abort(errTransportGone)
			}
			return
		}
		err := c.writeWS(batch)
		c.recycle(batch)
		if err != nil {
			c.abort(errors.Join(errTransportGone, err))
			c.mu.Lock()
			c.flushing = false
			c.mu.Unlock()
			return
		}
	}
}

// writeWS writes a batch of records, several to a frame, never splitting a record.
func (c *conn) writeWS(batch [][]byte) error {
	typ := websocket.MessageText
	if c.proto != nil && c.proto.Binary() {
		typ = websocket.MessageBinary
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.h.opts.WriteTimeout)
	defer cancel()
	metric := c.h.metrics.bytesOut[WebSockets]
	for i := 0; i < len(batch); {
		w, err := c.ws.Writer(ctx, typ)
		if err != nil {
			return err
		}
		size := 0
		for i < len(batch) && (size == 0 || size+len(batch[i]) <= maxFrameBatch) {
			if _, err := w.Write(batch[i]); err != nil {
				return err
			}
			size += len(batch[i])
			i++
		}
		if err := w.Close(); err != nil {
			return err
		}
		metric.Add(float64(size))
	}
	return nil
}
