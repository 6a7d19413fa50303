// Package api holds Herald's REST handlers for users: their tasks, their notification inbox and the
// demo task kind. Every handler authenticates the request and scopes what it reads or changes to
// the caller; the admin role sees every task.
package api
