package main

import (
	"strconv"
	"time"

	"github.com/alecthomas/kong"

	"github.com/heraldhq/herald/export"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/jobs"
)

// defaults are the flag defaults that packages own: a flag's `default:"${name}"` reads them, so a
// default is changed in its package and nowhere else.
func defaults() kong.Vars {
	d := func(v time.Duration) string { return v.String() }
	i := strconv.Itoa
	return kong.Vars{
		"hub_max_message_size":          i(hub.DefaultMaxMessageSize),
		"hub_max_parallel_invocations":  i(hub.DefaultMaxParallelInvocations),
		"hub_stream_buffer_capacity":    i(hub.DefaultStreamBufferCapacity),
		"hub_send_queue_size":           i(hub.DefaultSendQueueSize),
		"hub_handshake_timeout":         d(hub.DefaultHandshakeTimeout),
		"hub_keep_alive_interval":       d(hub.DefaultKeepAliveInterval),
		"hub_client_timeout":            d(hub.DefaultClientTimeout),
		"hub_write_coalesce":            d(hub.DefaultWriteCoalesce),
		"hub_negotiates_per_minute":     i(hub.DefaultNegotiatesPerMinute),
		"hub_negotiate_burst":           i(hub.DefaultNegotiateBurst),
		"hub_max_connections_per_user":  i(hub.DefaultMaxConnectionsPerUser),
		"hub_disconnect_timeout":        d(hub.DefaultDisconnectTimeout),
		"hub_stateful_reconnect_buffer": i(hub.DefaultStatefulReconnectBufferSize),
		"jobs_data_dir":                 jobs.DefaultDataDir,
		"jobs_schema":                   jobs.DefaultSchema,
		"jobs_rescue_after":             d(jobs.DefaultRescueAfter),
		"jobs_workers":                  i(jobs.DefaultWorkers),
		"jobs_user_tasks_per_minute":    i(jobs.DefaultTasksPerMinute),
		"jobs_user_active_tasks":        i(jobs.DefaultActiveTasks),
		"jobs_user_stored_bytes":        strconv.FormatInt(jobs.DefaultStoredBytes, 10),
		"export_link_ttl":               d(export.DefaultLinkTTL),
		"export_retention_every":        d(export.DefaultRetentionEvery),
	}
}
