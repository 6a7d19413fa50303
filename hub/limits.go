package hub

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Per-user limits on new connections, so that a script cannot open connections without end: a
// user may negotiate NegotiatesPerMinute times a minute (with bursts of NegotiateBurst), and hold
// MaxConnectionsPerUser connections, on each node. Anonymous connections (hubs that allow them)
// are not limited here: behind a proxy every client has its address, so a limit per address would
// throttle everyone together; limit them in the proxy.

// userLimiters keeps a token bucket per user, dropping those idle for a while.
type userLimiters struct {
	perMinute, burst int

	mu    sync.Mutex
	m     map[string]*userLimiter
	swept time.Time
}

type userLimiter struct {
	l    *rate.Limiter
	used time.Time
}

// allow takes a token of user's bucket; when there is none it says how long until there is.
func (u *userLimiters) allow(user string, now time.Time) (bool, time.Duration) {
	if u.perMinute <= 0 || user == "" {
		return true, 0
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = make(map[string]*userLimiter)
	}
	if now.Sub(u.swept) > time.Minute {
		// A bucket idle long enough to be full again is no different from a new one.
		full := time.Duration(float64(u.burst)/float64(u.perMinute)*float64(time.Minute)) + time.Minute
		for k, v := range u.m {
			if now.Sub(v.used) > full {
				delete(u.m, k)
			}
		}
		u.swept = now
	}
	e := u.m[user]
	if e == nil {
		e = &userLimiter{l: rate.NewLimiter(rate.Limit(float64(u.perMinute)/60), u.burst)}
		u.m[user] = e
	}
	e.used = now
	r := e.l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// admitUser applies the per-user limits to a new connection of p; it answers 429 with Retry-After
// itself when one is reached.
func (ep *endpoint) admitUser(w http.ResponseWriter, p *Principal) bool {
	h := ep.h
	if p == nil || p.UserID == "" {
		return true
	}
	if ok, wait := h.negotiates.allow(p.UserID, time.Now()); !ok {
		h.metrics.limited.Inc()
		tooMany(w, wait, "Too many new connections for this user; try again later.")
		return false
	}
	if max := h.opts.MaxConnectionsPerUser; max > 0 && h.reg.userCount(p.UserID) >= max {
		h.metrics.limited.Inc()
		tooMany(w, 10*time.Second, "Too many connections for this user: close some first.")
		return false
	}
	return true
}

func tooMany(w http.ResponseWriter, wait time.Duration, text string) {
	w.Header().Set("Retry-After", strconv.Itoa(int(max(time.Second, wait+time.Second-1)/time.Second)))
	http.Error(w, text, http.StatusTooManyRequests)
}
