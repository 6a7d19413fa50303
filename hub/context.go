package hub

import (
	"context"
	"sync"
)

// Context is what a hub method and the connection hooks get: a context.Context that ends when the
// invocation is cancelled or the connection goes, and the connection's identity and state.
type Context struct {
	context.Context
	conn *conn
}

// ConnectionID is the connection's public id.
func (c *Context) ConnectionID() string { return c.conn.id }

// UserID is the authenticated user's id, "" for an anonymous connection.
func (c *Context) UserID() string { return c.conn.userID() }

// User is the authenticated identity, nil for an anonymous connection.
func (c *Context) User() *Principal { return c.conn.principal }

// Items holds values that live as long as the connection.
func (c *Context) Items() *sync.Map { return &c.conn.items }

// Hub is the hub serving the connection.
func (c *Context) Hub() *Hub { return c.conn.h }

// Clients addresses clients, including the caller.
func (c *Context) Clients() *CallerClients {
	return &CallerClients{callerBase: Clients{h: c.conn.h}, caller: c.conn}
}

// Groups adds and removes connections to and from groups.
func (c *Context) Groups() *Groups { return &Groups{h: c.conn.h} }

// Abort closes the caller's connection.
func (c *Context) Abort() {
	c.conn.close(closeReason{message: "Connection closed by the server."})
}
