// Package taskbench measures tasks per second: Herald end to end (a task
// enqueued through the HTTP API, worked, and its completion notification
// received by a connected SignalR client) beside River's own rates on the
// same database in the same run (a burn-down of pre-inserted no-op jobs, and
// no-op jobs inserted one by one while the workers run). `herald bench
// tasks` prints them.
package taskbench
