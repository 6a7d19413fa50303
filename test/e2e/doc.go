// Package e2e runs the real herald binary as users and operators do: killed with SIGKILL in the
// middle of a task, restarted, and checked for what survived.
package e2e
