// Package admin serves the operators' REST API under /api/admin, for tokens with the admin role:
//
//   - GET /api/admin/stats: the cluster's live counts (connections per hub and node, users
//     online, tasks by state, running exports and their throughput, sends per second), gathered
//     from every node's hub.Monitor and the task store.
//   - GET /api/admin/trace: the live trace as server-sent events, one JSON event per "data:"
//     line, filtered by the query (hub, user, connection, type, payload); ": ping" every 15 s.
//   - POST /api/admin/announcements: {"message":"…","level":"info|warning"} sent as
//     announcement(message, level) to every connection of the notifications hub.
//
// Tracing costs nothing while nobody watches: a watch announces itself to every node (see
// hub.Monitor), and its end withdraws it.
package admin
