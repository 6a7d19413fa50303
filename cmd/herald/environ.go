package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/alecthomas/kong"
)

// toolingEnv are the prefixes of HERALD_ variables that Herald's own tests and benchmarks read
// (they reach the herald processes those start): not settings, and not refused.
var toolingEnv = []string{"HERALD_BIN", "HERALD_TEST_", "HERALD_BENCH_", "HERALD_CLUSTER_", "HERALD_BIG_", "HERALD_CLIENT_BENCH_"}

// checkEnviron refuses a HERALD_ variable that names no flag of any command: a misspelled
// HERALD_JWT_SECRETT must not start Herald in dev mode. environ is os.Environ().
func checkEnviron(k *kong.Kong, environ []string) error {
	known := map[string]bool{}
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, f := range n.Flags {
			for _, e := range f.Envs {
				known[e] = true
			}
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(k.Model.Node)
	var unknown []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "HERALD_") || known[name] || tooling(name) {
			continue
		}
		msg := name
		if near := nearest(name, known); near != "" {
			msg += " (did you mean " + near + "?)"
		}
		unknown = append(unknown, msg)
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return fmt.Errorf("unknown environment variable %s: every HERALD_ variable must name a flag (herald <command> --help lists them)", strings.Join(unknown, ", "))
}

func tooling(name string) bool {
	for _, p := range toolingEnv {
		if name == p || (strings.HasSuffix(p, "_") && strings.HasPrefix(name, p)) {
			return true
		}
	}
	return false
}

// nearest is the known name closest to name, when it is a likely misspelling (at most 2 edits).
func nearest(name string, known map[string]bool) string {
	best, bestD := "", 3
	for k := range known {
		if d := editDistance(name, k); d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
