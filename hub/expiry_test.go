package hub_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/hub"
)

// expiringAuth accepts "Bearer <user>:<ms>" as user's credentials ending ms from now.
func expiringAuth(r *http.Request) (*hub.Principal, error) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	user, ms, _ := strings.Cut(tok, ":")
	d, err := time.ParseDuration(ms + "ms")
	if user == "" || err != nil {
		return nil, nil
	}
	return &hub.Principal{UserID: user, Expires: time.Now().Add(d)}, nil
}

// A connection is closed when its credentials expire, with a Close that lets the client reconnect
// (with a new token); KeepConnectionsPastExpiry keeps it.
func TestConnectionClosedAtTokenExpiry(t *testing.T) {
	t.Parallel()
	opts := hub.Options{Authenticate: expiringAuth, KeepAliveInterval: 200 * time.Millisecond}
	f := setup(t, opts)
	c := f.connect(t, "json", "alice:600")
	c.echo(t)
	start := time.Now()
	cl := c.expectClose(t)
	require.True(t, cl.AllowReconnect, "the client may reconnect with a new token")
	require.Contains(t, cl.Error, "access token expired")
	require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "not before the expiry")

	opts.KeepConnectionsPastExpiry = true
	f = setup(t, opts)
	c = f.connect(t, "json", "bob:100")
	time.Sleep(600 * time.Millisecond)
	c.echo(t) // still open
}
