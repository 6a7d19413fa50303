package cluster

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Handler is the control API (serve it on loopback only: it stops processes):
//
//	POST /redis/restart        stop Redis (by its PID), wait 1 s, start it again on the same port
//	POST /redis/stop           stop Redis
//	POST /redis/start          start Redis again on its port
//	POST /nodes/{i}/kill       SIGKILL the i-th serve node of the main environment
//	POST /nodes/{i}/term       SIGTERM it and wait for its exit (the reply says how it exited)
//	POST /nodes/{i}/start      start it again, on the same port, and wait until /readyz answers
//	POST /nodes2/{i}/…         the same for the second environment's nodes
//	POST /worker/{kill,term,start}
//	POST /faults/{redis,postgres}/cut?ms=HOLD   with --faults: reset every connection to the
//	                           service and hold new ones HOLD ms
//	POST /faults/{redis,postgres}/latency?ms=D  delay each chunk to and from it D ms (0: none)
//	GET  /status               what runs, with PIDs
//	GET  /logs/{name}          the end of a log: nginx (access log, with each request's upstream),
//	                           nginx-error, nginx2, nginx2-error (the second environment's), redis,
//	                           node0, node1, …, worker, <env2>-node0, … (every start of the process)
//
// Every reply is JSON: {"ok": true, …} or {"error": "…"} with a 4xx or 5xx status. A request returns
// once what it asked for is done.
func (c *Cluster) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /redis/{action}", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var err error
		switch r.PathValue("action") {
		case "restart":
			err = c.RedisRestart(time.Second)
		case "stop":
			err = c.RedisStop()
		case "start":
			err = c.RedisStart()
		default:
			reply(w, http.StatusNotFound, map[string]any{"error": "unknown action; use restart, stop or start"})
			return
		}
		if err != nil {
			reply(w, http.StatusInternalServerError, map[string]any{"error": err.Error()})
			return
		}
		reply(w, http.StatusOK, map[string]any{"ok": true, "redis": c.redisStatus(), "ms": time.Since(start).Milliseconds()})
	})
	procAction := func(w http.ResponseWriter, r *http.Request, p *proc) {
		if p == nil {
			reply(w, http.StatusNotFound, map[string]any{"error": "no such node"})
			return
		}
		start := time.Now()
		res := map[string]any{"ok": true}
		var err error
		switch r.PathValue("action") {
		case "kill":
			err = p.kill()
		case "term":
			var exit string
			exit, err = p.term()
			res["exit"] = exit
		case "start":
			err = p.start()
		default:
			reply(w, http.StatusNotFound, map[string]any{"error": "unknown action; use kill, term or start"})
			return
		}
		if err != nil {
			reply(w, http.StatusInternalServerError, map[string]any{"error": err.Error()})
			return
		}
		res["process"] = p.status()
		res["ms"] = time.Since(start).Milliseconds()
		reply(w, http.StatusOK, res)
	}
	for env, prefix := range []string{"/nodes/", "/nodes2/"} {
		mux.HandleFunc("POST "+prefix+"{i}/{action}", func(w http.ResponseWriter, r *http.Request) {
			i, err := strconv.Atoi(r.PathValue("i"))
			if err != nil {
				reply(w, http.StatusBadRequest, map[string]any{"error": fmt.Sprintf("node %q: not a number", r.PathValue("i"))})
				return
			}
			procAction(w, r, c.node(env, i))
		})
	}
	mux.HandleFunc("POST /worker/{action}", func(w http.ResponseWriter, r *http.Request) {
		procAction(w, r, c.worker)
	})
	mux.HandleFunc("POST /faults/{service}/{action}", func(w http.ResponseWriter, r *http.Request) {
		f := map[string]*faultProxy{"redis": c.redisFault, "postgres": c.pgFault}[r.PathValue("service")]
		if f == nil {
			reply(w, http.StatusNotFound, map[string]any{"error": "no fault proxy of that name (redis, postgres; the runner needs --faults)"})
			return
		}
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil || ms < 0 {
			reply(w, http.StatusBadRequest, map[string]any{"error": "ms must be a whole number of milliseconds"})
			return
		}
		switch r.PathValue("action") {
		case "cut":
			reply(w, http.StatusOK, map[string]any{"ok": true, "reset": f.cut(time.Duration(ms) * time.Millisecond)})
		case "latency":
			f.setLatency(time.Duration(ms) * time.Millisecond)
			reply(w, http.StatusOK, map[string]any{"ok": true})
		default:
			reply(w, http.StatusNotFound, map[string]any{"error": "unknown action; use cut?ms=HOLD or latency?ms=DELAY"})
		}
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, http.StatusOK, c.Status())
	})
	mux.HandleFunc("GET /logs/{name}", func(w http.ResponseWriter, r *http.Request) {
		text, ok := c.logTail(r.PathValue("name"))
		if !ok {
			reply(w, http.StatusNotFound, map[string]any{"error": "unknown log; use nginx, nginx-error, nginx2, nginx2-error, redis, node0…, worker or test-node0…"})
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, text) // the client may have gone
	})
	return mux
}

// Status is what GET /status answers: the cluster's Info and every process with its PID.
func (c *Cluster) Status() map[string]any {
	s := map[string]any{"info": c.Info(), "redis": c.redisStatus()}
	for i, e := range c.envs {
		var nodes []map[string]any
		for _, n := range e.nodes {
			nodes = append(nodes, n.status())
		}
		key := "nodes"
		if i > 0 {
			key = "nodes2"
		}
		s[key] = nodes
	}
	if c.worker != nil {
		s["worker"] = c.worker.status()
	}
	return s
}

func (c *Cluster) redisStatus() map[string]any {
	c.redisMu.Lock()
	defer c.redisMu.Unlock()
	s := map[string]any{"addr": "127.0.0.1:" + strconv.Itoa(c.redisPort), "running": c.redis != nil}
	if c.redis != nil {
		s["pid"] = c.redis.Pid()
	}
	return s
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may have gone
}

// logTail returns the last 64 KiB of a log the cluster keeps.
func (c *Cluster) logTail(name string) (string, bool) {
	var path string
	env := 0
	base := name
	if len(name) >= 6 && name[:6] == "nginx2" {
		env, base = 1, "nginx"+name[6:]
	}
	switch base {
	case "nginx", "nginx-error":
		if env >= len(c.envs) {
			return "", false
		}
		file := "access.log"
		if base == "nginx-error" {
			file = "error.log"
		}
		path = filepath.Join(c.dir, "env-"+c.envs[env].name, "nginx", file)
	case "redis":
		path = filepath.Join(c.dir, "redis", fmt.Sprintf("redis-%d.log", c.redisPort))
	default:
		for _, p := range c.procs() {
			if p.name == name || strings.ReplaceAll(p.name, "/", "-") == name {
				path = p.logPath()
			}
		}
		if path == "" {
			return "", false
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return err.Error(), true
	}
	defer f.Close() //nolint:errcheck // read only
	const limit = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > limit {
		_, _ = f.Seek(fi.Size()-limit, io.SeekStart) // on failure the start of the file is shown instead
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return err.Error(), true
	}
	return string(b), true
}

// procs are the herald processes: every environment's nodes, then the worker.
func (c *Cluster) procs() []*proc {
	var ps []*proc
	for _, e := range c.envs {
		ps = append(ps, e.nodes...)
	}
	if c.worker != nil {
		ps = append(ps, c.worker)
	}
	return ps
}
