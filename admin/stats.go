package admin

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/heraldhq/herald/export"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/internal/httpx"
	"github.com/heraldhq/herald/jobs"
)

// Stats is the body of GET /api/admin/stats.
type Stats struct {
	Time  time.Time `json:"time"`
	Nodes []Node    `json:"nodes"`
	// Hubs are the cluster's counts by hub; a user on several nodes is counted once.
	Hubs        map[string]HubCounts `json:"hubs"`
	UsersOnline int                  `json:"usersOnline"`
	// Tasks counts every user's tasks by state (queued, running, succeeded, failed, cancelled).
	Tasks   map[jobs.State]int64 `json:"tasks"`
	Exports []Export             `json:"exports"`
	Sends   hub.SendStats        `json:"sends"`
	// Partial says some counts are this node's only: the other nodes could not be asked.
	Partial bool `json:"partial,omitempty"`
}

// Node is one node's counts.
type Node struct {
	ID          string         `json:"id"`
	Connections map[string]int `json:"connections"`
	Started     time.Time      `json:"started"`
	Sends       hub.SendStats  `json:"sends"`
}

// HubCounts are one hub's counts across the cluster.
type HubCounts struct {
	Connections int `json:"connections"`
	Users       int `json:"users"`
}

// Export is a running export and its throughput since it started.
type Export struct {
	ID             string    `json:"id"`
	User           string    `json:"user"`
	Title          string    `json:"title"`
	Dataset        string    `json:"dataset"`
	Format         string    `json:"format"`
	Rows           int64     `json:"rows"`
	Total          int64     `json:"total,omitempty"`
	Percent        float64   `json:"percent"`
	Bytes          int64     `json:"bytes"`
	RowsPerSecond  float64   `json:"rowsPerSecond"`
	BytesPerSecond float64   `json:"bytesPerSecond"`
	StartedAt      time.Time `json:"startedAt"`
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	out := Stats{Time: time.Now().UTC(), Nodes: []Node{}, Hubs: map[string]HubCounts{}, Exports: []Export{}}
	nodes, err := s.Monitor.ClusterStats(r.Context())
	if err != nil {
		// Cut off from the backplane, a node still tells what it knows.
		s.Log.Warn("admin stats: ask the cluster", "err", err)
		nodes, out.Partial = []hub.NodeStats{s.Monitor.LocalStats()}, true
	}
	users := map[string]map[string]bool{}
	online := map[string]bool{}
	for _, n := range nodes {
		out.Nodes = append(out.Nodes, Node{ID: n.ID, Connections: n.Connections, Started: n.Started, Sends: n.Sends})
		for h, c := range n.Connections {
			hc := out.Hubs[h]
			hc.Connections += c
			out.Hubs[h] = hc
		}
		for h, ids := range n.Users {
			if users[h] == nil {
				users[h] = map[string]bool{}
			}
			for _, u := range ids {
				users[h][u] = true
				online[u] = true
			}
		}
		out.Sends.Total += n.Sends.Total
		out.Sends.PerSecond += n.Sends.PerSecond
	}
	for h, set := range users {
		hc := out.Hubs[h]
		hc.Users = len(set)
		out.Hubs[h] = hc
	}
	out.UsersOnline = len(online)
	if out.Tasks, err = s.Store.CountByState(r.Context()); err != nil {
		s.fail(w, err)
		return
	}
	running, err := s.Store.Running(r.Context(), export.Kind, 0)
	if err != nil {
		s.fail(w, err)
		return
	}
	for _, t := range running {
		out.Exports = append(out.Exports, exportOf(t, out.Time))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// exportOf describes a running export task, its rates over the time since it started.
func exportOf(t jobs.RunningTask, now time.Time) Export {
	e := Export{ID: t.ID, User: t.Owner, Title: t.Title, Rows: t.Progress.Done, Total: t.Progress.Total,
		Percent: t.Progress.Percent, Bytes: t.Progress.Bytes}
	var args export.Args
	if len(t.Args) > 0 && json.Unmarshal(t.Args, &args) == nil {
		e.Dataset, e.Format = args.Request.Dataset, args.Request.Format
	}
	if t.StartedAt != nil {
		e.StartedAt = *t.StartedAt
		if secs := now.Sub(*t.StartedAt).Seconds(); secs > 0 {
			e.RowsPerSecond = float64(e.Rows) / secs
			e.BytesPerSecond = float64(e.Bytes) / secs
		}
	}
	return e
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	s.Log.Error("admin", "err", err)
	httpx.WriteError(w, http.StatusInternalServerError, "internal", "Something went wrong; it has been logged.")
}
