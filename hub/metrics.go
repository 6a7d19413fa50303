package hub

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the hub's Prometheus collectors. One Metrics may serve several hubs: every series
// carries the hub's name.
type Metrics struct {
	connections     *prometheus.GaugeVec
	messagesIn      *prometheus.CounterVec
	messagesOut     *prometheus.CounterVec
	bytesIn         *prometheus.CounterVec
	bytesOut        *prometheus.CounterVec
	invocationErrs  *prometheus.CounterVec
	slowConsumers   *prometheus.CounterVec
	closedWithError *prometheus.CounterVec
	publishErrors   *prometheus.CounterVec
	malformed       *prometheus.CounterVec
	detached        *prometheus.CounterVec
	resumed         *prometheus.CounterVec
	relayed         *prometheus.CounterVec
	limited         *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herald_hub_connections", Help: "Open hub connections (handshake completed).",
		}, []string{"hub", "transport", "protocol"}),
		messagesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_hub_messages_received_total", Help: "Hub messages received from clients.",
		}, []string{"hub"}),
		messagesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_hub_messages_sent_total", Help: "Hub messages queued to clients.",
		}, []string{"hub"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_hub_received_bytes_total", Help: "Bytes received from clients.",
		}, []string{"hub", "transport"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_hub_sent_bytes_total", Help: "Bytes written to clients.",
		}, []string{"hub", "transport"}),
		invocationErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_hub_invocation_errors_total", Help: "Invocations that ended in an error (unknown method, bad arguments, method error).",
		}, []string{"hub"}),
		slowConsumers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_hub_slow_consumer_disconnects_total", Help: "Connections closed because their send queue overflowed.",
		}, []string{"hub"}),
		closedWithError: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_hub_connections_closed_with_error_total", Help: "Connections closed because of a protocol error, a timeout or a transport failure.",
		}, []string{"hub"}),
		publishErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_hub_backplane_publish_errors_total", Help: "Sends and cluster requests that could not be published on the backplane.",
		}, []string{"hub"}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_hub_backplane_malformed_total", Help: "Backplane payloads dropped because they were not the hub's.",
		}, []string{"hub"}),
		detached: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_hub_stateful_detached_total", Help: "Stateful-reconnect connections whose transport dropped, kept for the client to resume.",
		}, []string{"hub"}),
		resumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_hub_stateful_resumed_total", Help: "Stateful-reconnect connections resumed on a new WebSocket, what the client missed replayed.",
		}, []string{"hub"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_hub_connections_limited_total", Help: "New connections refused with 429: a user over the negotiate rate or the connections per user.",
		}, []string{"hub"}),
		relayed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_hub_stateful_relayed_total", Help: "Stateful-reconnect connections resumed through another node, which relays the client's WebSocket.",
		}, []string{"hub"}),
	}
	reg.MustRegister(m.connections, m.messagesIn, m.messagesOut, m.bytesIn, m.bytesOut,
		m.invocationErrs, m.slowConsumers, m.closedWithError, m.publishErrors, m.malformed,
		m.detached, m.resumed, m.relayed, m.limited)
	return m
}

// hubMetrics are one hub's series, resolved once so that the hot path does no label lookups.
type hubMetrics struct {
	m               *Metrics
	hub             string
	messagesIn      prometheus.Counter
	messagesOut     prometheus.Counter
	invocationErrs  prometheus.Counter
	slowConsumers   prometheus.Counter
	closedWithError prometheus.Counter
	publishErrors   prometheus.Counter
	malformed       prometheus.Counter
	detached        prometheus.Counter
	resumed         prometheus.Counter
	relayed         prometheus.Counter
	limited         prometheus.Counter
	bytesIn         map[Transport]prometheus.Counter
	bytesOut        map[Transport]prometheus.Counter
}

func newHubMetrics(m *Metrics, hub string) *hubMetrics {
	if m == nil {
		m = NewMetrics(prometheus.NewRegistry())
	}
	hm := &hubMetrics{
		m: m, hub: hub,
		messagesIn:      m.messagesIn.WithLabelValues(hub),
		messagesOut:     m.messagesOut.WithLabelValues(hub),
		invocationErrs:  m.invocationErrs.WithLabelValues(hub),
		slowConsumers:   m.slowConsumers.WithLabelValues(hub),
		closedWithError: m.closedWithError.WithLabelValues(hub),
		publishErrors:   m.publishErrors.WithLabelValues(hub),
		malformed:       m.malformed.WithLabelValues(hub),
		detached:        m.detached.WithLabelValues(hub),
		resumed:         m.resumed.WithLabelValues(hub),
		relayed:         m.relayed.WithLabelValues(hub),
		limited:         m.limited.WithLabelValues(hub),
		bytesIn:         map[Transport]prometheus.Counter{},
		bytesOut:        map[Transport]prometheus.Counter{},
	}
	for _, t := range []Transport{WebSockets, ServerSentEvents, LongPolling} {
		hm.bytesIn[t] = m.bytesIn.WithLabelValues(hub, string(t))
		hm.bytesOut[t] = m.bytesOut.WithLabelValues(hub, string(t))
	}
	return hm
}

func (hm *hubMetrics) connection(t Transport, protocol string) prometheus.Gauge {
	return hm.m.connections.WithLabelValues(hm.hub, string(t), protocol)
}
