package redis_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	neturl "net/url"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/heraldhq/herald/backplane"
	"github.com/heraldhq/herald/backplane/backplanetest"
	"github.com/heraldhq/herald/backplane/redis"
	"github.com/heraldhq/herald/test/clusterenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// redisURL is the machine's Redis; a test that cannot reach it fails in CI and skips elsewhere.
func redisURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("HERALD_TEST_REDIS")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	b, err := redis.New(context.Background(), redis.Options{URL: url, Prefix: "herald-test-probe:"})
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis is required in CI: %v", err)
		}
		t.Skipf("SKIPPED: no Redis at %s (%v); start one with redis-server --port 6379", url, err)
	}
	require.NoError(t, b.Close())
	return url
}

func uniquePrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "herald-test:" + hex.EncodeToString(b[:]) + ":"
}

func TestConformance(t *testing.T) {
	url := redisURL(t)
	backplanetest.Run(t, func(t *testing.T) func() backplane.Backplane {
		prefix := uniquePrefix() // each cluster of the suite under its own prefix
		return func() backplane.Backplane {
			b, err := redis.New(context.Background(), redis.Options{URL: url, Prefix: prefix})
			require.NoError(t, err)
			return b
		}
	})
}

func TestRefusesBadOptions(t *testing.T) {
	_, err := redis.New(context.Background(), redis.Options{URL: "redis://127.0.0.1:6379"})
	require.ErrorContains(t, err, "prefix is required")
	_, err = redis.New(context.Background(), redis.Options{URL: "redis://127.0.0.1:6379", Prefix: "a{b}:"})
	require.ErrorContains(t, err, "must not contain")
	_, err = redis.New(context.Background(), redis.Options{URL: "http://x", Prefix: "p:"})
	require.Error(t, err)
	_, err = redis.New(context.Background(), redis.Options{URL: "redis://:secret@127.0.0.1:1/0", Prefix: "p:"})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secret", "the password is not in the error")
}

// On a Redis Cluster the backplane uses sharded pub/sub: the suite passes, and each channel is a
// shard channel of exactly one node (a plain SUBSCRIBE would be on every node's PUBSUB CHANNELS
// and every PUBLISH broadcast to all shards).
func TestRedisClusterShardedConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: leaves out the Redis Cluster (it starts three redis-server processes)")
	}
	addrs := clusterenv.RedisCluster(t, 3)
	url := "redis://" + addrs[0] + "?addr=" + addrs[1] + "&addr=" + addrs[2]
	backplanetest.Run(t, func(t *testing.T) func() backplane.Backplane {
		prefix := uniquePrefix()
		return func() backplane.Backplane {
			b, err := redis.New(context.Background(), redis.Options{URL: url, Prefix: prefix, Cluster: true, Shards: 8})
			require.NoError(t, err)
			return b
		}
	})

	t.Run("ShardChannels", func(t *testing.T) {
		prefix := uniquePrefix()
		b, err := redis.New(context.Background(), redis.Options{URL: url, Prefix: prefix, Cluster: true, Shards: 8})
		require.NoError(t, err)
		defer b.Close()
		got := make(chan string, 64)
		channels := []string{"user:alice", "user:bob", "group:g", "all", "conn:x", "node:y"}
		for _, ch := range channels {
			require.NoError(t, b.Subscribe(context.Background(), ch, func(c string, _ []byte) { got <- c }))
		}
		for _, ch := range channels {
			n, err := b.Publish(context.Background(), ch, []byte("x"))
			require.NoError(t, err)
			require.Equal(t, 1, n, "one subscriber (this node) on the shard owning %q", ch)
			require.Equal(t, ch, <-got)
			// The Redis channel is a shard channel: SPUBLISH reaches the subscriber on the one
			// node owning its slot (the others answer MOVED), a plain PUBLISH reaches nobody.
			name := fmt.Sprintf("%s{%d}%s", prefix, crc32.ChecksumIEEE([]byte(ch))%8, ch)
			owner := ""
			for _, addr := range addrs {
				out, err := clusterenv.Do(addr, "SPUBLISH", name, "probe")
				var moved clusterenv.RedisError
				if errors.As(err, &moved) {
					require.Contains(t, string(moved), "MOVED")
					continue
				}
				require.NoError(t, err)
				require.Equal(t, "1", out, "the shard owning %q has this node subscribed", name)
				require.Empty(t, owner, "one owner")
				owner = addr
				require.Equal(t, ch, <-got)
				plain, err := clusterenv.Do(addr, "PUBLISH", name, "plain")
				require.NoError(t, err)
				require.Equal(t, "0", plain, "no plain subscription")
			}
			require.NotEmpty(t, owner)
		}
	})
}

// Redis restarts under a running node: publishing fails while it is away (and Err says so), the
// subscriber reconnects and resubscribes, and delivery works again within seconds.
func TestRedisRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: leaves out the Redis restart")
	}
	srv := startRedis(t)
	url := "redis://" + srv.addr + "/0"
	prefix := uniquePrefix()
	a, err := redis.New(context.Background(), redis.Options{URL: url, Prefix: prefix})
	require.NoError(t, err)
	defer a.Close()
	b, err := redis.New(context.Background(), redis.Options{URL: url, Prefix: prefix})
	require.NoError(t, err)
	defer b.Close()
	got := make(chan string, 1024)
	require.NoError(t, b.Subscribe(context.Background(), "user:alice", func(_ string, p []byte) { got <- string(p) }))
	publish := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := a.Publish(ctx, "user:alice", []byte("hello"))
		return err
	}
	require.NoError(t, publish())
	require.Equal(t, "hello", <-got)
	require.NoError(t, b.Err())

	srv.stop(t)
	require.Error(t, publish(), "nothing to publish to")
	require.Eventually(t, func() bool { return b.Err() != nil }, 10*time.Second, 50*time.Millisecond, "the subscriber sees the outage")
	// New interests during the outage are accepted (the node serves new local connections) and
	// take effect when Redis is back; dropped ones are not subscribed again.
	later := make(chan string, 16)
	began := time.Now()
	require.NoError(t, b.Subscribe(context.Background(), "user:bob", func(_ string, p []byte) { later <- string(p) }))
	require.NoError(t, b.Subscribe(context.Background(), "user:gone", func(string, []byte) { t.Error("an unsubscribed channel delivered") }))
	require.NoError(t, b.Unsubscribe(context.Background(), "user:gone"))
	require.Less(t, time.Since(began), 3*time.Second, "no waiting on a Redis that is away")

	srv.start(t)
	back := time.Now()
	require.Eventually(t, func() bool {
		if publish() != nil {
			return false
		}
		select {
		case <-got:
			return true
		case <-time.After(200 * time.Millisecond):
			return false
		}
	}, 10*time.Second, 100*time.Millisecond, "delivery works again")
	t.Logf("delivery restored %s after Redis came back", time.Since(back).Round(time.Millisecond))
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, _ = a.Publish(ctx, "user:gone", []byte("x"))
		n, err := a.Publish(ctx, "user:bob", []byte("for bob"))
		return err == nil && n == 1
	}, 5*time.Second, 50*time.Millisecond, "the channel subscribed during the outage is subscribed now")
	require.Equal(t, "for bob", <-later)
	require.Less(t, time.Since(back), 5*time.Second, "the issue's bound: cross-node delivery within 5 s")
	require.Eventually(t, func() bool { return b.Err() == nil }, 5*time.Second, 50*time.Millisecond)
}

// redisServer is a redis-server of the test's own, which it may stop and start again.
type redisServer struct {
	addr string
	port int
	cmd  *exec.Cmd
	dir  string
}

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is required in CI")
		}
		t.Skip("SKIPPED: no redis-server binary (apt-get install redis-server)")
	}
	port := clusterenv.FreePort(t)
	s := &redisServer{addr: fmt.Sprintf("127.0.0.1:%d", port), port: port, dir: t.TempDir()}
	s.start(t)
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *redisServer) start(t *testing.T) {
	t.Helper()
	s.cmd = exec.Command("redis-server", "--port", fmt.Sprint(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir)
	require.NoError(t, s.cmd.Start())
	require.Eventually(t, func() bool {
		out, err := clusterenv.Do(s.addr, "PING")
		return err == nil && out == "PONG"
	}, 10*time.Second, 20*time.Millisecond, "redis-server on %s", s.addr)
}

func (s *redisServer) stop(t *testing.T) {
	t.Helper()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill() // gone already is fine
	_ = s.cmd.Wait()
	s.cmd = nil
}

// lostReplyProxy forwards TCP to Redis; armed, it forwards the next EVAL/EVALSHA, reads Redis's
// reply and closes the client's connection instead of passing the reply on: the command ran, its
// reply was lost, as when a network cut falls between the two.
type lostReplyProxy struct {
	ln    net.Listener
	to    string
	armed atomic.Bool
	lost  atomic.Int32
}

func startLostReplyProxy(t *testing.T, to string) *lostReplyProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &lostReplyProxy{ln: ln, to: to}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *lostReplyProxy) serve(c net.Conn) {
	defer c.Close()
	r, err := net.Dial("tcp", p.to)
	if err != nil {
		return
	}
	defer r.Close()
	buf := make([]byte, 64<<10)
	reply := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if _, err := r.Write(buf[:n]); err != nil {
			return
		}
		// One request, one reply: the clients here pipeline nothing.
		m, err := r.Read(reply)
		if err != nil {
			return
		}
		if p.armed.Load() && bytes.Contains(bytes.ToUpper(buf[:n]), []byte("EVAL")) && !bytes.HasPrefix(reply[:m], []byte("-NOSCRIPT")) {
			p.armed.Store(false)
			p.lost.Add(1)
			return // the reply is dropped with the connection
		}
		if _, err := c.Write(reply[:m]); err != nil {
			return
		}
	}
}

// An append whose reply is lost is sent again by go-redis (MaxRetries): the message is kept once,
// and the retry returns the number the first run gave it.
func TestLogAppendWhoseReplyIsLostIsKeptOnce(t *testing.T) {
	url := redisURL(t)
	u, err := neturl.Parse(url)
	require.NoError(t, err)
	p := startLostReplyProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	b, err := redis.New(context.Background(), redis.Options{URL: u.String(), Prefix: uniquePrefix()})
	require.NoError(t, err)
	defer b.Close()
	var store backplane.Store = b
	ctx := context.Background()

	first, err := store.LogAppend(ctx, "feed:alice", []byte("one"), 10, time.Minute)
	require.NoError(t, err)
	p.armed.Store(true)
	second, err := store.LogAppend(ctx, "feed:alice", []byte("two"), 10, time.Minute)
	require.NoError(t, err, "go-redis sends the append again on a new connection")
	require.EqualValues(t, 1, p.lost.Load(), "the proxy dropped one reply")
	require.Equal(t, first+1, second)

	read, err := store.LogSince(ctx, "feed:alice", 0, 10)
	require.NoError(t, err)
	require.Len(t, read.Entries, 2, "each message once: %+v", read.Entries)
	require.Equal(t, "two", string(read.Entries[1].Value))
	require.Equal(t, second, read.Last)
}
