// Package app is Herald's composition root: it turns a Config into running parts (authentication,
// hubs, HTTP routes, metrics), serves them, and drains them on shutdown. Nothing else in Herald
// knows how the parts are wired together.
package app
