package redis

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	published     prometheus.Counter
	publishErrors prometheus.Counter
	received      prometheus.Counter
	reconnects    prometheus.Counter
	up            prometheus.Gauge
}

// newMetrics makes the backplane's collectors, registered with reg when it is not nil. Every
// backplane of a process may share reg: the collectors of the second one are the first's.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_backplane_published_total", Help: "Messages published on the Redis backplane.",
		}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_backplane_publish_errors_total", Help: "Messages that could not be published on the Redis backplane (Redis unreachable).",
		}),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_backplane_received_total", Help: "Messages received from the Redis backplane.",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_backplane_reconnects_total", Help: "Times a subscriber connection came back after Redis was unreachable.",
		}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_backplane_up", Help: "1 while every subscriber connection to Redis is up.",
		}),
	}
	m.up.Set(1)
	if reg != nil {
		m.published = register(reg, m.published)
		m.publishErrors = register(reg, m.publishErrors)
		m.received = register(reg, m.received)
		m.reconnects = register(reg, m.reconnects)
		m.up = register(reg, m.up)
	}
	return m
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}
