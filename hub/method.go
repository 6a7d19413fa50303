package hub

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/heraldhq/herald/hub/protocol"
)

// method is a hub method whose signature was checked once, at registration.
type method struct {
	name string
	fn   reflect.Value
	// params are the types of the arguments after the *Context.
	params []reflect.Type
	// streamParams marks the parameters that are client-to-server streams (<-chan T).
	streamParams []bool
	nStreams     int
	// streaming methods return (<-chan T, error) and answer a StreamInvocation.
	streaming bool
	// hasResult methods return (T, error); others return only error.
	hasResult bool
	// roles the caller must hold: one of each set (RequireRoles).
	roles [][]string
}

var (
	contextType  = reflect.TypeFor[*Context]()
	errorType    = reflect.TypeFor[error]()
	rawValueType = reflect.TypeFor[protocol.RawValue]()
)

// newMethod checks fn's signature. Accepted shapes, where args may include client-to-server
// streams typed <-chan T:
//
//	func(*Context, args...) error
//	func(*Context, args...) (T, error)
//	func(*Context, args...) (<-chan T, error)   // a server-to-client stream
func newMethod(name string, fn any) (*method, error) {
	v := reflect.ValueOf(fn)
	t := v.Type()
	if t.Kind() != reflect.Func {
		return nil, fmt.Errorf("hub: method %q: want a func, got %s", name, t)
	}
	if v.IsNil() {
		return nil, fmt.Errorf("hub: method %q: the func is nil", name)
	}
	if t.IsVariadic() {
		return nil, fmt.Errorf("hub: method %q: variadic methods are not supported", name)
	}
	if t.NumIn() == 0 || t.In(0) != contextType {
		return nil, fmt.Errorf("hub: method %q: the first parameter must be *hub.Context", name)
	}
	m := &method{name: name, fn: v}
	for i := 1; i < t.NumIn(); i++ {
		p := t.In(i)
		isStream := p.Kind() == reflect.Chan && p.ChanDir() == reflect.RecvDir
		if p.Kind() == reflect.Chan && !isStream {
			return nil, fmt.Errorf("hub: method %q: stream parameter %d must be receive-only (<-chan T)", name, i)
		}
		m.params = append(m.params, p)
		m.streamParams = append(m.streamParams, isStream)
		if isStream {
			m.nStreams++
		}
	}
	switch t.NumOut() {
	case 1:
		if t.Out(0) != errorType {
			return nil, fmt.Errorf("hub: method %q: a single result must be error", name)
		}
	case 2:
		if t.Out(1) != errorType {
			return nil, fmt.Errorf("hub: method %q: the last result must be error", name)
		}
		out := t.Out(0)
		if out.Kind() == reflect.Chan {
			if out.ChanDir() != reflect.RecvDir {
				return nil, fmt.Errorf("hub: method %q: a stream result must be <-chan T", name)
			}
			m.streaming = true
		} else {
			m.hasResult = true
		}
	default:
		return nil, fmt.Errorf("hub: method %q: want results error, (T, error) or (<-chan T, error)", name)
	}
	return m, nil
}

// bindArgs decodes the arguments of an invocation into the method's parameter types; stream
// parameters are left for bindStreams. Arguments that do not fit are a *BindingError, as .NET's
// protocol binder reports them.
func (m *method) bindArgs(p protocol.HubProtocol, args []any) ([]reflect.Value, error) {
	if want := len(m.params) - m.nStreams; len(args) != want {
		return nil, &BindingError{Message: fmt.Sprintf("Invocation provides %d argument(s) but target expects %d.", len(args), want)}
	}
	values := make([]reflect.Value, len(m.params))
	next := 0
	for i, pt := range m.params {
		if m.streamParams[i] {
			continue
		}
		raw, ok := args[next].(protocol.RawValue)
		next++
		if !ok {
			return nil, errors.New("hub: argument is not a parsed RawValue")
		}
		if pt == rawValueType {
			values[i] = reflect.ValueOf(raw)
			continue
		}
		ptr := reflect.New(pt)
		if err := p.Unmarshal(raw, ptr.Interface()); err != nil {
			return nil, &BindingError{Message: errBindingTypes}
		}
		values[i] = ptr.Elem()
	}
	return values, nil
}

// bindStreams gives each stream parameter a fresh channel, returned in the order of streamIDs for
// the caller to register before any stream item is read. A stream count that does not fit is a
// *hub.Error, as in .NET's dispatcher.
func (m *method) bindStreams(values []reflect.Value, streamIDs []string, bufSize int) ([]reflect.Value, error) {
	if len(streamIDs) != m.nStreams {
		return nil, &Error{Message: fmt.Sprintf("Client sent %d stream(s), Hub method expects %d.", len(streamIDs), m.nStreams)}
	}
	var streams []reflect.Value
	for i, pt := range m.params {
		if m.streamParams[i] {
			ch := reflect.MakeChan(reflect.ChanOf(reflect.BothDir, pt.Elem()), bufSize)
			values[i] = ch.Convert(pt)
			streams = append(streams, ch)
		}
	}
	return streams, nil
}

// call runs the method. For streaming methods the first result is the stream channel (or invalid).
func (m *method) call(c *Context, args []reflect.Value) (result reflect.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("hub: method %q panicked: %v", m.name, r)
		}
	}()
	in := make([]reflect.Value, 0, len(args)+1)
	in = append(in, reflect.ValueOf(c))
	in = append(in, args...)
	out := m.fn.Call(in)
	if e := out[len(out)-1]; !e.IsNil() {
		return reflect.Value{}, e.Interface().(error)
	}
	if len(out) == 2 {
		return out[0], nil
	}
	return reflect.Value{}, nil
}

func methodKey(name string) string { return strings.ToLower(name) }
