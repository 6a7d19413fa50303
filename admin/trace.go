package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/internal/httpx"
)

// ParseTraceFilter reads the trace's query: hub, user and connection (exact ids), type (event
// types, comma-separated), payload (true to include the messages' arguments). Each may be given
// once; other parameters are ignored. The error is a sentence for whoever wrote the query.
func ParseTraceFilter(q url.Values) (hub.TraceFilter, error) {
	var f hub.TraceFilter
	for _, name := range []string{"hub", "user", "connection", "type", "payload"} {
		if len(q[name]) > 1 {
			return hub.TraceFilter{}, fmt.Errorf("%q is given more than once", name)
		}
	}
	f.Hub, f.User, f.Connection = q.Get("hub"), q.Get("user"), q.Get("connection")
	for t := range strings.SplitSeq(q.Get("type"), ",") {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(f.Types, t) {
			f.Types = append(f.Types, t)
		}
	}
	if v := q.Get("payload"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return hub.TraceFilter{}, errors.New(`"payload" must be true or false`)
		}
		f.Payload = b
	}
	if err := f.Validate(); err != nil {
		return hub.TraceFilter{}, err
	}
	return f, nil
}

// writeTimeout bounds one write of the stream: a client that reads nothing for this long is
// dropped (its watch ends) instead of holding the handler.
const writeTimeout = 30 * time.Second

// maxFlush is how many queued events go out before a flush.
const maxFlush = 256

// trace streams the live trace as server-sent events until the client goes.
func (s *Server) trace(w http.ResponseWriter, r *http.Request) {
	f, err := ParseTraceFilter(r.URL.Query())
	if err != nil {
		httpx.WriteError(w, http.StatusBadRequest, "invalid_filter", "The trace filter is not valid: "+err.Error()+".")
		return
	}
	watch, err := s.Monitor.Watch(r.Context(), f)
	if err != nil {
		s.Log.Error("admin trace: watch", "err", err)
		httpx.WriteError(w, http.StatusServiceUnavailable, "trace_unavailable", "The trace cannot be watched now; try again.")
		return
	}
	defer watch.Close()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // a proxy must not hold events back
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	st := &sse{w: w, rc: rc}
	st.comment("trace started")
	if st.flush() != nil {
		return
	}
	ping := time.NewTicker(s.PingEvery)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-watch.Done():
			return
		case <-ping.C:
			st.dropped(watch.TakeDropped())
			st.comment("ping")
		case e := <-watch.Events():
			st.dropped(watch.TakeDropped())
			st.event(e)
			for range min(len(watch.Events()), maxFlush) {
				st.event(<-watch.Events())
			}
		}
		if st.flush() != nil {
			return // the client has gone, or reads too slowly
		}
	}
}

// sse writes an event stream; the first error stops it.
type sse struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf []byte
	err error
}

func (s *sse) comment(text string) {
	s.buf = append(append(append(s.buf, ": "...), text...), "\n\n"...)
}

func (s *sse) event(e hub.Event) {
	b, err := json.Marshal(e)
	if err != nil {
		return // an Event always encodes; a payload that would not is one the hub never sets
	}
	s.buf = append(append(append(s.buf, "data: "...), b...), "\n\n"...)
}

func (s *sse) dropped(n int64) {
	if n > 0 {
		s.event(hub.DroppedEvent(n))
	}
}

func (s *sse) flush() error {
	if s.err != nil || len(s.buf) == 0 {
		return s.err
	}
	// Not every ResponseWriter has deadlines (a test's recorder); then the write is unbounded.
	_ = s.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := s.w.Write(s.buf); err != nil {
		s.err = err
		return err
	}
	s.buf = s.buf[:0]
	s.err = s.rc.Flush()
	return s.err
}
