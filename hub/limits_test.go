package hub_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/hub"
)

// A user past the negotiate burst gets 429 with Retry-After; another user does not.
func TestNegotiatesPerUserAreLimited(t *testing.T) {
	t.Parallel()
	f := setup(t, hub.Options{NegotiatesPerMinute: 60, NegotiateBurst: 3})
	for range 3 {
		resp, _ := f.request(t, http.MethodPost, "/negotiate?negotiateVersion=1", "alice", nil, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	resp, body := f.request(t, http.MethodPost, "/negotiate?negotiateVersion=1", "alice", nil, nil)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, string(body))
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.NoError(t, err)
	require.True(t, secs >= 1 && secs <= 2, "one token a second: Retry-After %d", secs)
	resp, _ = f.request(t, http.MethodPost, "/negotiate?negotiateVersion=1", "bob", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "another user is not limited")
	resp, _ = f.request(t, http.MethodPost, "/negotiate?negotiateVersion=1", "", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "anonymous connections are not limited per user")
}

// A user with MaxConnectionsPerUser open connections cannot open another until one closes.
func TestConnectionsPerUserAreLimited(t *testing.T) {
	t.Parallel()
	f := setup(t, hub.Options{MaxConnectionsPerUser: 2})
	a := f.connect(t, "json", "alice")
	f.connect(t, "json", "alice")
	resp, body := f.request(t, http.MethodPost, "/negotiate?negotiateVersion=1", "alice", nil, nil)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, string(body))
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	require.NoError(t, a.ws.CloseNow())
	require.Eventually(t, func() bool {
		resp, _ := f.request(t, http.MethodPost, "/negotiate?negotiateVersion=1", "alice", nil, nil)
		return resp.StatusCode == http.StatusOK
	}, waitTimeout, 20*time.Millisecond, "a closed connection frees its place")
}
