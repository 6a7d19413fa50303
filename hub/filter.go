package hub

import (
	"reflect"
	"slices"
)

// Filter runs code around every invocation of a hub's methods and around the start and end of its
// connections, as .NET's IHubFilter: authorization, logging, metrics and rate limits are filters.
// Filters run in the order of Options.Filters, the first outermost; each calls next to go on, or
// returns without calling it to refuse. Embed FilterBase to implement only what a filter needs.
type Filter interface {
	// InvokeMethod wraps one invocation. Its result is the method's (for a streaming method, the
	// channel); an error fails the invocation with Options.ErrorText's text (a *hub.Error is
	// shown to the client as a HubException).
	InvokeMethod(ic *InvocationContext, next InvokeFunc) (any, error)
	// OnConnected wraps Options.OnConnected. An error closes the connection with a Close message
	// ("Connection closed with an error.").
	OnConnected(c *Context, next func(*Context) error) error
	// OnDisconnected wraps Options.OnDisconnected; err is why the connection ended.
	OnDisconnected(c *Context, err error, next func(*Context, error))
}

// InvokeFunc invokes a method, or the next filter around it.
type InvokeFunc func(ic *InvocationContext) (any, error)

// InvocationContext is one invocation as filters see it.
type InvocationContext struct {
	*Context
	// Method is the method's name as registered.
	Method string
	// Args are the decoded arguments, client-to-server streams as their channels. A filter may
	// replace one with a value of the same type.
	Args []any

	method *method
}

// FilterBase is a Filter that only passes everything on: embed it and override what you need.
type FilterBase struct{}

// InvokeMethod calls next.
func (FilterBase) InvokeMethod(ic *InvocationContext, next InvokeFunc) (any, error) { return next(ic) }

// OnConnected calls next.
func (FilterBase) OnConnected(c *Context, next func(*Context) error) error { return next(c) }

// OnDisconnected calls next.
func (FilterBase) OnDisconnected(c *Context, err error, next func(*Context, error)) { next(c, err) }

var _ Filter = FilterBase{}

// MethodOption configures a method at registration (see On).
type MethodOption func(*method)

// RequireRoles lets only callers holding at least one of roles invoke the method, as .NET's
// [Authorize(Roles = "a,b")]; each RequireRoles given to On adds a requirement that must hold
// too. Others get .NET's "Failed to invoke 'M' because user is unauthorized".
func RequireRoles(roles ...string) MethodOption {
	return func(m *method) { m.roles = append(m.roles, slices.Clone(roles)) }
}

// allows reports whether p holds the method's roles.
func (m *method) allows(p *Principal) bool {
	for _, anyOf := range m.roles {
		if p == nil || !slices.ContainsFunc(anyOf, func(r string) bool { return slices.Contains(p.Roles, r) }) {
			return false
		}
	}
	return true
}

// buildFilters composes the hub's filters once, at start.
func (h *Hub) buildFilters() {
	if len(h.opts.Filters) == 0 {
		return
	}
	invoke := InvokeFunc(func(ic *InvocationContext) (any, error) {
		args := make([]reflect.Value, len(ic.Args))
		for i, a := range ic.Args {
			if a == nil {
				args[i] = reflect.Zero(ic.method.params[i])
				continue
			}
			args[i] = reflect.ValueOf(a)
		}
		result, err := ic.method.call(ic.Context, args)
		if err != nil || !result.IsValid() {
			return nil, err
		}
		return result.Interface(), nil
	})
	connected := func(c *Context) error { return h.onConnected(c) }
	disconnected := func(c *Context, err error) { h.onDisconnected(c, err) }
	for _, f := range slices.Backward(h.opts.Filters) {
		nextInvoke, nextConnected, nextDisconnected := invoke, connected, disconnected
		invoke = func(ic *InvocationContext) (any, error) { return f.InvokeMethod(ic, nextInvoke) }
		connected = func(c *Context) error { return f.OnConnected(c, nextConnected) }
		disconnected = func(c *Context, err error) { f.OnDisconnected(c, err, nextDisconnected) }
	}
	h.filtered = &filterChain{invoke: invoke, connected: connected, disconnected: disconnected}
}

// filterChain is the hub's filters composed around the method call and the connection hooks.
type filterChain struct {
	invoke       InvokeFunc
	connected    func(*Context) error
	disconnected func(*Context, error)
}

// invokeMethod calls m through the filters. For streaming methods the result is the stream
// channel (or invalid).
func (h *Hub) invokeMethod(c *Context, m *method, args []reflect.Value) (reflect.Value, error) {
	if h.filtered == nil {
		return m.call(c, args)
	}
	ic := &InvocationContext{Context: c, Method: m.name, Args: make([]any, len(args)), method: m}
	for i, a := range args {
		ic.Args[i] = a.Interface()
	}
	result, err := h.filtered.invoke(ic)
	if err != nil || result == nil {
		return reflect.Value{}, err
	}
	return reflect.ValueOf(result), nil
}

// connected runs OnConnected through the filters.
func (h *Hub) connected(c *Context) error {
	if h.filtered == nil {
		return h.onConnected(c)
	}
	return h.filtered.connected(c)
}

// disconnected runs OnDisconnected through the filters.
func (h *Hub) disconnected(c *Context, err error) {
	if h.filtered == nil {
		h.onDisconnected(c, err)
		return
	}
	h.filtered.disconnected(c, err)
}

func (h *Hub) onConnected(c *Context) error {
	if h.opts.OnConnected == nil {
		return nil
	}
	return h.opts.OnConnected(c)
}

func (h *Hub) onDisconnected(c *Context, err error) {
	if h.opts.OnDisconnected != nil {
		h.opts.OnDisconnected(c, err)
	}
}
