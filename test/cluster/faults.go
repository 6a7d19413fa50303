package cluster

import (
	"errors"
	"io"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// faultProxy is a TCP proxy on loopback that the chaos tests put between the nodes and a service
// (Redis, PostgreSQL): it adds latency to every chunk, and cuts (resets every connection through
// it and holds new ones for a while). The same toxics as toxiproxy's latency, reset_peer and
// timeout, in a few lines and no dependency.
type faultProxy struct {
	name     string
	upstream string
	ln       net.Listener
	log      *log.Logger

	latency   atomic.Int64 // nanoseconds added before each chunk is passed on
	holdUntil atomic.Int64 // unix nanoseconds: new connections wait until then

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	cuts  int
	wg    sync.WaitGroup
}

func startFaultProxy(name, upstream string, logger *log.Logger) (*faultProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &faultProxy{name: name, upstream: upstream, ln: ln, log: logger, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	logger.Printf("fault proxy %s on %s in front of %s", name, ln.Addr(), upstream)
	return p, nil
}

// addr is where the proxy listens.
func (p *faultProxy) addr() string { return p.ln.Addr().String() }

func (p *faultProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Go(func() { p.serve(c) })
	}
}

func (p *faultProxy) serve(client net.Conn) {
	if wait := time.Until(time.Unix(0, p.holdUntil.Load())); wait > 0 {
		time.Sleep(wait)
	}
	up, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
	if err != nil {
		_ = client.Close()
		return
	}
	if !p.track(client, up) {
		return
	}
	defer p.untrack(client, up)
	done := make(chan struct{}, 2)
	go func() { p.pipe(up, client); done <- struct{}{} }()
	go func() { p.pipe(client, up); done <- struct{}{} }()
	<-done
	_ = client.Close()
	_ = up.Close()
	<-done
}

// pipe copies src to dst, each chunk after the current latency.
func (p *faultProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if d := time.Duration(p.latency.Load()); d > 0 {
				time.Sleep(d)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return
			}
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			return
		}
	}
}

func (p *faultProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		for _, c := range cs {
			_ = c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *faultProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
	}
}

// cut resets every connection through the proxy (RST: SO_LINGER 0) and holds new ones for hold.
func (p *faultProxy) cut(hold time.Duration) int {
	p.holdUntil.Store(time.Now().Add(hold).UnixNano())
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
		n++
	}
	p.cuts++
	p.log.Printf("fault proxy %s: cut %d connections, holding new ones %s", p.name, n, hold)
	return n
}

// setLatency adds d before each chunk from now on (0: none).
func (p *faultProxy) setLatency(d time.Duration) {
	p.latency.Store(int64(d))
	p.log.Printf("fault proxy %s: latency %s", p.name, d)
}

func (p *faultProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}
