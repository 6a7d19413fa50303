// Package conformance registers the methods of /hubs/conformance: the hub the interop tests drive
// with the official SignalR clients to check Herald's protocol behaviour.
package conformance

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/hub/protocol"
)

// AdminRole is the role AdminOnly requires, and the conformance Filter requires for
// FilteredAdmin.
const AdminRole = "admin"

// ConnectionInfo is the reply of the ConnectionInfo method.
type ConnectionInfo struct {
	Transport string `json:"transport"`
	Protocol  string `json:"protocol"`
}

// Filter is the conformance hub's filter: it refuses FilteredAdmin to callers without AdminRole,
// as an application's authorization filter would.
func Filter() hub.Filter { return adminFilter{} }

type adminFilter struct{ hub.FilterBase }

func (adminFilter) InvokeMethod(ic *hub.InvocationContext, next hub.InvokeFunc) (any, error) {
	if ic.Method == "FilteredAdmin" {
		if u := ic.User(); u == nil || !slices.Contains(u.Roles, AdminRole) {
			return nil, hub.Errorf("The %s role is required.", AdminRole)
		}
	}
	return next(ic)
}

// Echo is the conformance setup's ConnectionHandler: it sends back every message it receives.
type Echo struct{}

var _ hub.ConnectionHandler = Echo{}

// OnConnected accepts every connection.
func (Echo) OnConnected(*hub.Connection) error { return nil }

// OnReceive echoes data.
func (Echo) OnReceive(c *hub.Connection, data []byte) error { return c.Send(c.Context(), data) }

// OnDisconnected does nothing.
func (Echo) OnDisconnected(*hub.Connection, error) {}

// WhoAmI is the reply of the WhoAmI method.
type WhoAmI struct {
	UserID       *string `json:"userId"`
	ConnectionID string  `json:"connectionId"`
}

// MaxCount bounds Count's n, and MaxDelay its delay and Sleep: a test hub must not be a way to
// pin a server's goroutines for hours.
const (
	MaxCount = 1_000_000
	MaxDelay = 10 * time.Minute
)

// Register adds the conformance methods to h, and to reg the gauge
// herald_conformance_count_producers: the Count streams producing right now, which lets a test see
// that a cancelled stream really stopped.
func Register(h *hub.Hub, reg prometheus.Registerer) {
	producers := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "herald_conformance_count_producers",
		Help: "Count streams of the conformance hub that are producing.",
	})
	reg.MustRegister(producers)
	count := func(c *hub.Context, n, delayMs int) (<-chan int, error) { return count(c, producers, n, delayMs) }
	h.On("Echo", func(_ *hub.Context, v protocol.RawValue) (protocol.RawValue, error) { return v, nil })
	h.On("Fail", func(_ *hub.Context, message string) error { return &hub.Error{Message: message} })
	h.On("WhoAmI", func(c *hub.Context) (WhoAmI, error) {
		w := WhoAmI{ConnectionID: c.ConnectionID()}
		if id := c.UserID(); id != "" {
			w.UserID = &id
		}
		return w, nil
	})
	h.On("SendToCaller", func(c *hub.Context, method string, v any) error {
		return c.Clients().Caller().Send(c, method, v)
	})
	h.On("SendToAll", func(c *hub.Context, method string, v any) error {
		return c.Clients().All().Send(c, method, v)
	})
	h.On("SendToOthers", func(c *hub.Context, method string, v any) error {
		return c.Clients().Others().Send(c, method, v)
	})
	h.On("SendToConnection", func(c *hub.Context, id, method string, v any) error {
		return c.Clients().Client(id).Send(c, method, v)
	})
	h.On("SendToUser", func(c *hub.Context, user, method string, v any) error {
		return c.Clients().User(user).Send(c, method, v)
	})
	h.On("JoinGroup", func(c *hub.Context, group string) error {
		return c.Groups().Add(c, c.ConnectionID(), group)
	})
	h.On("LeaveGroup", func(c *hub.Context, group string) error {
		return c.Groups().Remove(c, c.ConnectionID(), group)
	})
	// AddToGroup and RemoveFromGroup change another connection's groups, wherever it is connected:
	// they return once its node has applied the change.
	h.On("AddToGroup", func(c *hub.Context, connectionID, group string) error {
		return c.Groups().Add(c, connectionID, group)
	})
	h.On("RemoveFromGroup", func(c *hub.Context, connectionID, group string) error {
		return c.Groups().Remove(c, connectionID, group)
	})
	h.On("SendToGroup", func(c *hub.Context, group, method string, v any) error {
		return c.Clients().Group(group).Send(c, method, v)
	})
	h.On("SendToOthersInGroup", func(c *hub.Context, group, method string, v any) error {
		return c.Clients().OthersInGroup(group).Send(c, method, v)
	})
	h.On("Count", count)
	h.On("Sum", func(c *hub.Context, numbers <-chan float64) (float64, error) {
		sum := 0.0
		for {
			select {
			case n, ok := <-numbers:
				if !ok {
					return sum, nil
				}
				sum += n
			case <-c.Done():
				return 0, c.Err()
			}
		}
	})
	h.On("AskCaller", func(c *hub.Context, method string, v any) (protocol.RawValue, error) {
		res, err := c.Clients().Caller().Invoke(c, method, v)
		if err != nil {
			return nil, err // a client's error shows as .NET's HubException
		}
		return res.Raw(), nil
	})
	h.On("AskConnection", func(c *hub.Context, id, method string, v any) (any, error) {
		res, err := c.Clients().Client(id).Invoke(c, method, v)
		if err != nil {
			return nil, err
		}
		// The other connection may speak the other protocol: decode its result, and the caller's
		// protocol encodes it again.
		var out any
		if err := res.Decode(&out); err != nil {
			return nil, hub.Errorf("the client returned no result")
		}
		return out, nil
	})
	h.On("Throw", func(_ *hub.Context, message string) error { return errors.New(message) })
	h.On("SumOrReason", func(c *hub.Context, numbers <-chan float64) (string, error) {
		sum := 0.0
		for n := range numbers {
			sum += n
		}
		if err := c.ClientStreamErr(numbers); err != nil {
			return "the client ended the stream: " + err.Error(), nil
		}
		return fmt.Sprint(sum), nil
	})
	h.On("RequestHeader", func(c *hub.Context, name string) (string, error) {
		return c.Request().Header.Get(name), nil
	})
	h.On("RequestCookie", func(c *hub.Context, name string) (string, error) {
		cookie, err := c.Request().Cookie(name)
		if err != nil {
			return "", nil
		}
		return cookie.Value, nil
	})
	h.On("RequestQuery", func(c *hub.Context, name string) (string, error) {
		return c.Request().Query().Get(name), nil
	})
	h.On("ConnectionInfo", func(c *hub.Context) (ConnectionInfo, error) {
		return ConnectionInfo{Transport: string(c.Transport()), Protocol: c.Protocol()}, nil
	})
	h.On("AdminOnly", func(*hub.Context) (string, error) { return "welcome, admin", nil }, hub.RequireRoles(AdminRole))
	h.On("FilteredAdmin", func(*hub.Context) (string, error) { return "welcome, admin", nil })
	h.On("Sleep", func(c *hub.Context, ms int) (int, error) {
		d, err := delay(ms)
		if err != nil {
			return 0, err
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return ms, nil
		case <-c.Done():
			return 0, c.Err()
		}
	})
}

// count streams 0 … n-1, one every delayMs; it stops as soon as the stream is cancelled.
func count(c *hub.Context, producers prometheus.Gauge, n, delayMs int) (<-chan int, error) {
	if n < 0 || n > MaxCount {
		return nil, hub.Errorf("n must be between 0 and %d", MaxCount)
	}
	d, err := delay(delayMs)
	if err != nil {
		return nil, err
	}
	out := make(chan int)
	producers.Inc()
	go func() {
		defer producers.Dec()
		defer close(out)
		var tick <-chan time.Time
		if d > 0 {
			t := time.NewTicker(d)
			defer t.Stop()
			tick = t.C
		}
		for i := range n {
			if tick != nil {
				select {
				case <-tick:
				case <-c.Done():
					return
				}
			}
			select {
			case out <- i:
			case <-c.Done():
				return
			}
		}
	}()
	return out, nil
}

func delay(ms int) (time.Duration, error) {
	d := time.Duration(ms) * time.Millisecond
	if ms < 0 || d > MaxDelay {
		return 0, hub.Errorf("the delay must be between 0 and %d ms", MaxDelay.Milliseconds())
	}
	return d, nil
}
