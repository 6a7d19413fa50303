package client_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/hub/conformance"
)

// The benchmarks run against the in-process test hub, and against the same hub in another process
// (this test binary, started with hubProcessEnv set), where allocations and memory are the
// client's alone. The baseline is the same round trip over a bare WebSocket.

const hubProcessEnv = "HERALD_CLIENT_BENCH_HUB"

// serveHubProcess serves the conformance hub at /hubs/conformance and a bare WebSocket echo at
// /echo (the baseline) on 127.0.0.1, prints the base URL, and exits when stdin closes.
func serveHubProcess() {
	h, err := hub.New("conformance", hub.Options{Logger: quiet, MaxParallelInvocations: 64})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	conformance.Register(h, prometheus.NewRegistry())
	mux := http.NewServeMux()
	mux.Handle("/hubs/conformance", h)
	mux.Handle("/hubs/conformance/negotiate", h)
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		for {
			typ, msg, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			if err := ws.Write(context.Background(), typ, msg); err != nil {
				return
			}
		}
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go func() { _ = http.Serve(l, mux) }()
	fmt.Println("http://" + l.Addr().String())
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

var hubProcess struct {
	once  sync.Once
	url   string
	err   error
	stdin io.WriteCloser // held open: the hub exits when it closes, with this process
}

// externalHub returns the base URL of the benchmarks' hub process, started once for the whole run
// (it exits with the test binary, whose end closes its stdin).
func externalHub(b *testing.B) string {
	b.Helper()
	hubProcess.once.Do(func() {
		exe, err := os.Executable()
		if err != nil {
			hubProcess.err = err
			return
		}
		cmd := exec.Command(exe, "-test.run=^$", "-test.bench=^$")
		cmd.Env = append(os.Environ(), hubProcessEnv+"=1")
		cmd.Stderr = os.Stderr
		if hubProcess.stdin, err = cmd.StdinPipe(); err != nil {
			hubProcess.err = err
			return
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			hubProcess.err = err
			return
		}
		if err := cmd.Start(); err != nil {
			hubProcess.err = err
			return
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		hubProcess.url, hubProcess.err = strings.TrimSpace(line), err
	})
	if hubProcess.err != nil {
		b.Fatalf("start the hub process: %v", hubProcess.err)
	}
	return hubProcess.url
}

func BenchmarkInvokeEcho(b *testing.B) {
	base := externalHub(b)
	b.Run("baseline=websocket-echo", func(b *testing.B) {
		// The same round trip without SignalR: one JSON record each way over coder/websocket.
		ctx := context.Background()
		ws, _, err := websocket.Dial(ctx, base+"/echo", nil)
		if err != nil {
			b.Fatal(err)
		}
		defer ws.CloseNow()
		msg := []byte(`{"type":1,"invocationId":"1","target":"Echo","arguments":["hello"]}` + "\x1e")
		b.ReportAllocs()
		for b.Loop() {
			if err := ws.Write(ctx, websocket.MessageText, msg); err != nil {
				b.Fatal(err)
			}
			if _, _, err := ws.Read(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, where := range []string{"in-process", "separate-process"} {
		for _, p := range protocols {
			b.Run("hub="+where+"/protocol="+string(p), func(b *testing.B) {
				url := base + "/hubs/conformance"
				if where == "in-process" {
					url = newServer(b, serverConfig{}).URL // allocations include the hub's
				}
				c := startClient(b, url, client.Options{Protocol: p})
				ctx := context.Background()
				var out string
				b.ReportAllocs()
				for b.Loop() {
					if err := c.Invoke(ctx, "Echo", &out, "hello"); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkInvokeEchoParallel(b *testing.B) {
	base := externalHub(b)
	for _, p := range protocols {
		b.Run("protocol="+string(p), func(b *testing.B) {
			c := startClient(b, base+"/hubs/conformance", client.Options{Protocol: p})
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				var out string
				for pb.Next() {
					if err := c.Invoke(ctx, "Echo", &out, "hello"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkIdleConnections reports what an idle connected client costs: heap and goroutine stack
// bytes, and goroutines, per client, over 1000 clients (the figures of a load generator).
func BenchmarkIdleConnections(b *testing.B) {
	base := externalHub(b)
	const n = 1000
	for _, p := range protocols {
		b.Run("protocol="+string(p), func(b *testing.B) {
			for b.Loop() {
				heap, stack, goroutines := idleCost(b, base+"/hubs/conformance", p, n)
				b.ReportMetric(heap, "heap-B/conn")
				b.ReportMetric(stack, "stack-B/conn")
				b.ReportMetric(goroutines, "goroutines/conn")
			}
		})
	}
}

func idleCost(b *testing.B, url string, p client.Protocol, n int) (heap, stack, goroutines float64) {
	ctx := context.Background()
	measure := func() (uint64, uint64, int) {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc, m.StackInuse, runtime.NumGoroutine()
	}
	// One client first, so that shared things (pools, the HTTP client) are not counted.
	warm, err := client.New(url, client.Options{Protocol: p, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	if err := warm.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer warm.Stop(ctx)
	h0, s0, g0 := measure()
	clients := make([]*client.Client, n)
	for i := range clients {
		c, err := client.New(url, client.Options{Protocol: p, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Start(ctx); err != nil {
			b.Fatal(err)
		}
		clients[i] = c
	}
	time.Sleep(100 * time.Millisecond) // let the connections settle (first pings, server messages)
	h1, s1, g1 := measure()
	for _, c := range clients {
		if err := c.Stop(ctx); err != nil {
			b.Fatal(err)
		}
	}
	http.DefaultClient.CloseIdleConnections()
	return float64(h1-h0) / float64(n), float64(s1-s0) / float64(n), float64(g1-g0) / float64(n)
}
