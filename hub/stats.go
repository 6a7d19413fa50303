package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// NodeStats are one node's live counts.
type NodeStats struct {
	ID      string    `json:"id"`
	Started time.Time `json:"started"`
	// Connections are the node's connections that completed their handshake, by hub.
	Connections map[string]int `json:"connections"`
	// Users are the ids of the users connected to the node, by hub (anonymous connections have
	// none), so that a cluster's users are counted once however many nodes they are on.
	Users map[string][]string `json:"users,omitempty"`
	Sends SendStats           `json:"sends"`
}

// SendStats count the node's sends (ClientProxy.Send, one per addressed user, group, connection
// or all), on every hub.
type SendStats struct {
	Total uint64 `json:"total"`
	// PerSecond is the rate over the last few seconds.
	PerSecond float64 `json:"perSecond"`
}

// LocalStats are this node's counts.
func (m *Monitor) LocalStats() NodeStats {
	s := NodeStats{ID: m.node, Started: m.started, Connections: map[string]int{}, Users: map[string][]string{}}
	for _, h := range m.hubList() {
		s.Connections[h.name] += h.reg.count()
		if users := h.reg.userIDs(); len(users) > 0 {
			s.Users[h.name] = append(s.Users[h.name], users...)
		}
	}
	total := m.sendTotal()
	s.Sends = SendStats{Total: total, PerSecond: m.rate.perSecond(time.Now(), total)}
	return s
}

func (m *Monitor) sendTotal() uint64 {
	var n uint64
	for _, h := range m.hubList() {
		n += h.sends.Load()
	}
	return n
}

// statsRequest asks every node for its counts; statsReply answers it.
type statsRequest struct {
	ID   string `json:"id"`
	Node string `json:"node"`
}

type statsReply struct {
	ID    string    `json:"id"`
	Stats NodeStats `json:"stats"`
}

// maxNodes bounds the answers one request waits for.
const maxNodes = 256

// ClusterStats asks every node of the cluster (this one included) for its counts and returns
// them by node id. It waits for as many answers as the backplane counted receivers of the
// request, until ctx ends or StatsTimeout; a node that does not answer in time is left out. A
// node that has died is not counted (Redis drops its subscriptions when its connection goes).
func (m *Monitor) ClusterStats(ctx context.Context) ([]NodeStats, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.opts.StatsTimeout)
		defer cancel()
	}
	id := m.node + "." + strconv.FormatUint(m.statsSeq.Add(1), 10)
	replies := make(chan NodeStats, maxNodes)
	defer m.statsWait.put(id, replies)()
	req, err := json.Marshal(statsRequest{ID: id, Node: m.node})
	if err != nil {
		return nil, fmt.Errorf("hub: encode stats request: %w", err)
	}
	n, err := m.bp.Publish(ctx, statsChannel, req)
	if err != nil {
		return nil, fmt.Errorf("hub: publish stats request: %w", err)
	}
	out := make([]NodeStats, 0, n)
	seen := map[string]bool{}
	for len(out) < min(n, maxNodes) {
		select {
		case s := <-replies:
			if !seen[s.ID] {
				seen[s.ID] = true
				out = append(out, s)
			}
		case <-ctx.Done():
			m.log.Warn("stats: some nodes did not answer", "asked", n, "answered", len(out))
			n = 0
		}
	}
	slices.SortFunc(out, func(a, b NodeStats) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// onStatsRequest answers a node's request with this node's counts, off the delivery path.
func (m *Monitor) onStatsRequest(_ string, payload []byte) {
	var req statsRequest
	if err := json.Unmarshal(payload, &req); err != nil || req.ID == "" || req.Node == "" || len(req.Node) > maxFilterField {
		m.log.Warn("drop stats request", "err", err)
		return
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		reply, err := json.Marshal(statsReply{ID: req.ID, Stats: m.LocalStats()})
		if err != nil {
			m.log.Warn("encode stats", "err", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := m.bp.Publish(ctx, statsReplyChannel+req.Node, reply); err != nil {
			m.log.Warn("publish stats", "err", err)
		}
	}()
}

// onStatsReply hands an answer to the request waiting for it; a late one is dropped.
func (m *Monitor) onStatsReply(_ string, payload []byte) {
	var r statsReply
	if err := json.Unmarshal(payload, &r); err != nil {
		m.log.Warn("drop stats reply", "err", err)
		return
	}
	if ch := m.statsWait.get(r.ID); ch != nil {
		select {
		case ch <- r.Stats:
		default:
		}
	}
}

// sendRate keeps a few seconds of samples of a node's send total.
type sendRate struct {
	mu      sync.Mutex
	samples [rateWindow]rateSample
	next    int
}

type rateSample struct {
	at    time.Time
	total uint64
}

// rateWindow is how many one-second samples the rate is computed over.
const rateWindow = 5

func (r *sendRate) sample(now time.Time, total uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples[r.next%rateWindow] = rateSample{at: now, total: total}
	r.next++
}

// perSecond is the rate from the oldest sample kept to now.
func (r *sendRate) perSecond(now time.Time, total uint64) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next == 0 {
		return 0
	}
	oldest := r.samples[r.next%rateWindow]
	if r.next < rateWindow {
		oldest = r.samples[0]
	}
	secs := now.Sub(oldest.at).Seconds()
	if secs <= 0 || total < oldest.total {
		return 0
	}
	return float64(total-oldest.total) / secs
}
