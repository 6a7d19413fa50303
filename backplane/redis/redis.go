// Package redis is the Redis implementation of backplane.Backplane: the bus of a Herald cluster
// whose nodes share one Redis server or Redis Cluster.
//
// Every channel is a Redis pub/sub channel named Prefix + channel, so that several clusters
// (production, staging, tests) share one Redis without seeing each other's messages. On a single
// Redis server it uses PUBLISH and SUBSCRIBE over one subscriber connection per node. On a Redis
// Cluster (Options.Cluster) it uses sharded pub/sub (SPUBLISH and SSUBSCRIBE, Redis 7): a message
// goes only to the shard that owns its channel instead of being broadcast to every shard. The
// channels are spread over Options.Shards hash tags, one subscriber connection each, because a
// subscriber connection may only hold channels of slots its node owns and go-redis resubscribes
// a connection's channels in one command when it reconnects.
//
// When Redis goes away the node keeps serving its own connections: Publish fails (and is
// counted), the subscriber connections reconnect with backoff and resubscribe, and Err reports
// the outage until they are back.
package redis

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/backplane"
)

// Options configure a Redis backplane.
type Options struct {
	// URL is redis://[user:password@]host:port[/db] (rediss:// for TLS). With Cluster, the
	// address of any node of the cluster (more with ?addr=host:port&addr=…).
	URL string
	// Prefix starts every channel name, e.g. "herald:production:". Required: it is what keeps
	// environments that share a Redis apart. It must not contain '{' or '}'.
	Prefix string
	// Cluster uses a Redis Cluster and sharded pub/sub.
	Cluster bool
	// Shards is the number of hash tags a Cluster's channels are spread over (one subscriber
	// connection each). Default 16.
	Shards int
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// Registerer receives the backplane's metrics (herald_backplane_*); nil registers none.
	Registerer prometheus.Registerer
}

// Backplane is a node's connection to the Redis bus.
type Backplane struct {
	prefix  string
	cluster bool
	shards  int
	log     *slog.Logger
	client  goredis.UniversalClient
	metrics *metrics

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	handlers map[string]backplane.Handler // by Redis channel name
	subs     map[int]*subscriber          // by shard; one (0) without Cluster
}

var _ backplane.Backplane = (*Backplane)(nil)

// New connects to Redis and checks that it answers.
func New(ctx context.Context, opts Options) (*Backplane, error) {
	if opts.Prefix == "" {
		return nil, errors.New("redis backplane: a prefix is required (it keeps environments sharing a Redis apart)")
	}
	if strings.ContainsAny(opts.Prefix, "{}") {
		return nil, fmt.Errorf("redis backplane: prefix %q must not contain '{' or '}'", opts.Prefix)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Shards <= 0 {
		opts.Shards = 16
	}
	client, err := newClient(opts)
	if err != nil {
		return nil, err
	}
	ping, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Ping(ping).Err(); err != nil {
		_ = client.Close() // the ping's error is the one to report
		return nil, fmt.Errorf("redis backplane: %s does not answer: %w", redact(opts.URL), err)
	}
	b := &Backplane{
		prefix:   opts.Prefix,
		cluster:  opts.Cluster,
		shards:   opts.Shards,
		log:      opts.Logger.With("backplane", "redis"),
		client:   client,
		metrics:  newMetrics(opts.Registerer),
		handlers: make(map[string]backplane.Handler),
		subs:     make(map[int]*subscriber),
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	if !b.cluster {
		// One subscriber from the start, so that Err sees an outage even before the first
		// subscription.
		b.subs[0] = b.newSubscriber(client.Subscribe(b.ctx))
	}
	return b, nil
}

func newClient(opts Options) (goredis.UniversalClient, error) {
	if opts.Cluster {
		co, err := goredis.ParseClusterURL(opts.URL)
		if err != nil {
			return nil, fmt.Errorf("redis backplane: %w", err)
		}
		co.DialTimeout, co.ReadTimeout, co.WriteTimeout = 2*time.Second, 2*time.Second, 2*time.Second
		return goredis.NewClusterClient(co), nil
	}
	o, err := goredis.ParseURL(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("redis backplane: %w", err)
	}
	// Fail fast while Redis is away: a send must not hold a hub method for long.
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout = 2*time.Second, 2*time.Second, 2*time.Second
	o.MaxRetries = 1
	return goredis.NewClient(o), nil
}

// redact hides a URL's password for error messages.
func redact(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return url
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = "***@" + rest[at+1:]
	}
	return scheme + "://" + rest
}

// name is channel's Redis channel name. On a Cluster it carries the hash tag of its shard.
func (b *Backplane) name(channel string) (string, int) {
	if !b.cluster {
		return b.prefix + channel, 0
	}
	shard := int(crc32.ChecksumIEEE([]byte(channel)) % uint32(b.shards))
	return b.prefix + "{" + strconv.Itoa(shard) + "}" + channel, shard
}

// Publish implements backplane.Backplane.
func (b *Backplane) Publish(ctx context.Context, channel string, payload []byte) (int, error) {
	if b.isClosed() {
		return 0, ErrClosed
	}
	name, _ := b.name(channel)
	var cmd *goredis.IntCmd
	if b.cluster {
		cmd = b.client.SPublish(ctx, name, payload)
	} else {
		cmd = b.client.Publish(ctx, name, payload)
	}
	n, err := cmd.Result()
	if err != nil {
		b.metrics.publishErrors.Inc()
		return 0, fmt.Errorf("redis backplane: publish: %w", err)
	}
	b.metrics.published.Inc()
	return int(n), nil
}

// ErrClosed is backplane.ErrClosed.
var ErrClosed = backplane.ErrClosed

func (b *Backplane) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// Subscribe implements backplane.Backplane. It returns once Redis has confirmed the subscription.
func (b *Backplane) Subscribe(ctx context.Context, channel string, h backplane.Handler) error {
	name, shard := b.name(channel)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	_, had := b.handlers[name]
	b.handlers[name] = h
	s := b.subs[shard]
	b.mu.Unlock()
	if had {
		return nil
	}
	if s == nil {
		return b.subscribeNewShard(ctx, shard, name)
	}
	return s.subscribe(ctx, name, b.cluster)
}

// subscribeNewShard opens a Cluster shard's subscriber with its first channel: go-redis pins a
// sharded subscriber to the node owning its first channel's slot.
func (b *Backplane) subscribeNewShard(ctx context.Context, shard int, name string) error {
	b.mu.Lock()
	s := b.subs[shard]
	if s == nil {
		s = b.newSubscriber(nil)
		b.subs[shard] = s
	}
	b.mu.Unlock()
	return s.subscribeFirst(ctx, name, func() *goredis.PubSub {
		return b.client.(*goredis.ClusterClient).SSubscribe(b.ctx, name)
	})
}

// Unsubscribe implements backplane.Backplane.
func (b *Backplane) Unsubscribe(ctx context.Context, channel string) error {
	name, shard := b.name(channel)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	_, had := b.handlers[name]
	delete(b.handlers, name)
	s := b.subs[shard]
	b.mu.Unlock()
	if !had || s == nil {
		return nil
	}
	return s.unsubscribe(ctx, name, b.cluster)
}

// Err reports whether the node is cut off from Redis: nil when every subscriber connection is up.
func (b *Backplane) Err() error {
	b.mu.Lock()
	subs := make([]*subscriber, 0, len(b.subs))
	for _, s := range b.subs {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	for _, s := range subs {
		if err := s.err(); err != nil {
			return err
		}
	}
	return nil
}

// Close implements backplane.Backplane.
func (b *Backplane) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	subs := b.subs
	b.subs = nil
	b.handlers = nil
	b.mu.Unlock()
	b.cancel()
	for _, s := range subs {
		s.close()
	}
	b.wg.Wait()
	return b.client.Close()
}

// deliver hands a received message to its channel's handler.
func (b *Backplane) deliver(name, payload string) {
	b.mu.Lock()
	h := b.handlers[name]
	b.mu.Unlock()
	if h == nil {
		return // unsubscribed while the message was on its way
	}
	channel := strings.TrimPrefix(name, b.prefix)
	if b.cluster {
		// Drop the shard's hash tag: "{3}user:alice" is "user:alice".
		if end := strings.IndexByte(channel, '}'); strings.HasPrefix(channel, "{") && end > 0 {
			channel = channel[end+1:]
		}
	}
	b.metrics.received.Inc()
	h(channel, []byte(payload))
}
