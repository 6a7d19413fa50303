package hub

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/url"
	"reflect"
	"sync"
)

// Context is what a hub method and the connection hooks get: a context.Context that ends when the
// invocation is cancelled or the connection goes, and the connection's identity and state.
type Context struct {
	context.Context
	conn *conn
	call *call // nil in the connection hooks
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

// Request is the HTTP request that opened the connection (.NET's Context.GetHttpContext()).
func (c *Context) Request() *Request { return c.conn.request() }

// Transport is the connection's transport (.NET's IHttpTransportFeature).
func (c *Context) Transport() Transport { return c.conn.transportName() }

// Protocol is the connection's hub protocol: "json" or "messagepack" (.NET's Context.Protocol).
func (c *Context) Protocol() string {
	if p := c.conn.protocol(); p != nil {
		return p.Name()
	}
	return ""
}

// ClientStreamErr tells a method why the client ended one of its client-to-server streams: the
// stream is the channel the method received, and the result is a *ClientStreamError carrying
// the client's error text, or nil when the client ended it normally (or it is still open). A
// method that asks handles the error itself; one that does not fails with it once it returns, as
// a .NET method whose stream reader throws.
func (c *Context) ClientStreamErr(stream any) error {
	if c.call == nil {
		return nil
	}
	v := reflect.ValueOf(stream)
	if v.Kind() != reflect.Chan {
		return nil
	}
	c.call.mu.Lock()
	defer c.call.mu.Unlock()
	for _, s := range c.call.streams {
		if s.ch.Pointer() == v.Pointer() {
			s.seen = true
			if s.err != nil {
				return s.err
			}
			return nil
		}
	}
	return nil
}

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

// Request is the HTTP request that opened a connection, captured when its transport attached (the
// WebSocket upgrade, the Server-Sent Events request, or the first long poll; later polls and
// sends are not seen). It is read-only. The access_token query parameter is not kept: the
// identity it carried is the connection's User.
type Request struct {
	Method     string
	URL        *url.URL
	Host       string
	RemoteAddr string
	Header     http.Header
	TLS        *tls.ConnectionState
}

// Cookie returns the named cookie, or http.ErrNoCookie.
func (r *Request) Cookie(name string) (*http.Cookie, error) {
	return (&http.Request{Header: r.Header}).Cookie(name)
}

// Cookies returns the request's cookies.
func (r *Request) Cookies() []*http.Cookie { return (&http.Request{Header: r.Header}).Cookies() }

// Query returns the URL's query parameters.
func (r *Request) Query() url.Values { return r.URL.Query() }

// captureRequest copies what a connection keeps of the request its transport attached with.
func captureRequest(r *http.Request) *Request {
	u := *r.URL
	if q := u.Query(); q.Has("access_token") {
		q.Del("access_token")
		u.RawQuery = q.Encode()
	}
	return &Request{
		Method: r.Method, URL: &u, Host: r.Host, RemoteAddr: r.RemoteAddr,
		Header: r.Header.Clone(), TLS: r.TLS,
	}
}
