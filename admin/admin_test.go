package admin_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/heraldhq/herald/admin"
	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/backplane"
	"github.com/heraldhq/herald/hub"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseTraceFilter(t *testing.T) {
	t.Parallel()
	f, err := admin.ParseTraceFilter(url.Values{"hub": {"notifications"}, "user": {"alice"}, "connection": {"c1"},
		"type": {" connected, send,,send"}, "payload": {"true"}, "other": {"ignored"}})
	require.NoError(t, err)
	require.Equal(t, hub.TraceFilter{Hub: "notifications", User: "alice", Connection: "c1",
		Types: []string{"connected", "send"}, Payload: true}, f)
	f, err = admin.ParseTraceFilter(url.Values{})
	require.NoError(t, err)
	require.Equal(t, hub.TraceFilter{}, f, "no filter keeps everything")
	for _, bad := range []url.Values{
		{"type": {"sent"}},
		{"payload": {"maybe"}},
		{"user": {"a", "b"}},
		{"hub": {strings.Repeat("h", 2000)}},
	} {
		_, err := admin.ParseTraceFilter(bad)
		require.Error(t, err, bad)
	}
}

func FuzzParseTraceFilter(f *testing.F) {
	f.Add("hub=notifications&user=alice&type=connected,send&payload=true")
	f.Add("type=&payload=0&connection=%00")
	f.Add("type=send,send,send,send,send")
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		filter, err := admin.ParseTraceFilter(q)
		if err != nil {
			return
		}
		require.NoError(t, filter.Validate(), "what is accepted is valid")
	})
}

// The trace stream pings while idle, and ends its watch (tracing stops) when the client goes.
func TestTracePingsAndEnds(t *testing.T) {
	t.Parallel()
	a, err := auth.New(context.Background(), auth.Config{Secret: strings.Repeat("s", 32)})
	require.NoError(t, err)
	defer a.Close()
	bp := backplane.NewMemory()
	mon, err := hub.NewMonitor(hub.MonitorOptions{Backplane: bp})
	require.NoError(t, err)
	require.NoError(t, mon.Start(context.Background()))
	defer mon.Close()
	h, err := hub.New("notifications", hub.Options{Backplane: bp, Monitor: mon})
	require.NoError(t, err)
	mux := http.NewServeMux()
	(&admin.Server{Auth: a, Monitor: mon, Announce: h, PingEvery: 20 * time.Millisecond}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	root, err := a.Mint("root", []string{"admin"}, time.Hour)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+admin.TracePath, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+root)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	r := bufio.NewReader(resp.Body)
	var lines []string
	for len(lines) < 6 {
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		lines = append(lines, line)
	}
	require.Equal(t, []string{": trace started\n", "\n", ": ping\n", "\n", ": ping\n", "\n"}, lines)
	require.True(t, mon.Tracing(), "the stream's watch holds a lease")
	cancel()
	resp.Body.Close()
	require.Eventually(t, func() bool { return !mon.Tracing() }, 5*time.Second, 5*time.Millisecond, "the watch ended with its client")
}
