package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/hub/protocol"
)

// A hub on several nodes answers for a connection wherever the request about it arrives. Each
// connection's node subscribes to the connection's channel ({hub}:conn:{id}) from negotiate until
// the connection is forgotten, and each node to a channel of its own ({hub}:node:{node id}).
// A node that needs the connection's node publishes a kindRequest on the connection's channel,
// naming its own channel for the kindReply:
//
//	group+ / group-   change the connection's groups (acknowledged, as ASP.NET's Redis backplane)
//	invoke            a client result (Clients().Client(id).Invoke)
//	http              a long poll, a send or a close that the load balancer sent elsewhere
//	take              hand a negotiated connection over to the node its WebSocket or event
//	                  stream reached
//
// The backplane's receiver count tells at once when no node has the connection.

// Request operations.
const (
	opGroupAdd    = "group+"
	opGroupRemove = "group-"
	opInvoke      = "invoke"
	opHTTP        = "http"
	opTake        = "take"
)

// groupAckTimeout bounds a group change on another node when the caller's context has no deadline.
const groupAckTimeout = 10 * time.Second

// errNoOwner: no node holds the connection a request was for.
var errNoOwner = fmt.Errorf("hub: no node has the connection: %w", ErrConnectionClosed)

// rpc is this node's side of requests: the replies it waits for and the requests it serves.
type rpc struct {
	next    atomic.Uint64
	waiting byID[chan [][]byte]
	serving byID[context.CancelFunc] // by requester's id, of requests that may be cancelled
}

// byID is a map under its own lock.
type byID[T any] struct {
	mu sync.Mutex
	m  map[string]T
}

// put adds v under id and returns what removes it.
func (b *byID[T]) put(id string, v T) (remove func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = make(map[string]T)
	}
	b.m[id] = v
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.m, id)
	}
}

// all is every value, in no order.
func (b *byID[T]) all() []T {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]T, 0, len(b.m))
	for _, v := range b.m {
		out = append(out, v)
	}
	return out
}

func (b *byID[T]) get(id string) T {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.m[id]
}

func (h *Hub) nodeChannel() string { return h.channel("node", h.nodeID) }

// call publishes a request about connection connID and waits for its reply's fields. The reply's
// first field is an error text ("" for none).
func (h *Hub) call(ctx context.Context, connID, op string, args ...[]byte) ([][]byte, error) {
	id, reply, n, done, err := h.request(ctx, h.channel("conn", connID), op, 1, args...)
	if err != nil {
		return nil, err
	}
	defer done()
	if n == 0 {
		return nil, errNoOwner
	}
	// A node that dies (SIGKILL) never answers: while waiting long (a poll, a client result), check
	// every probeEvery that the connection's channel still has its node.
	var probe <-chan time.Time
	if op == opHTTP || op == opInvoke {
		t := time.NewTicker(probeEvery)
		defer t.Stop()
		probe = t.C
	}
	for {
		select {
		case r := <-reply:
			return replyFields(r)
		case <-probe:
			n, err := h.bp.Publish(ctx, h.channel("conn", connID), encodeFields(kindProbe))
			if err == nil && n == 0 {
				return nil, errNoOwner
			}
		case <-ctx.Done():
			if op == opHTTP {
				// The caller's client has gone: the owner stops the poll instead of taking messages
				// nobody will read.
				_, _ = h.bp.Publish(context.WithoutCancel(ctx), h.channel("conn", connID), encodeFields(kindCancel, []byte(id)))
			}
			return nil, fmt.Errorf("hub: %s request for connection %s: %w", op, connID, ctx.Err())
		}
	}
}

// request publishes request op on channel, naming this node's channel for the replies, and
// returns the request's id, where its replies arrive (room for replies of them), how many nodes
// received it, and what forgets it.
func (h *Hub) request(ctx context.Context, channel, op string, replies int, args ...[]byte) (id string, reply chan [][]byte, n int, done func(), err error) {
	id = h.nodeID + "." + strconv.FormatUint(h.rpc.next.Add(1), 10)
	reply = make(chan [][]byte, replies)
	done = h.rpc.waiting.put(id, reply)
	fields := append([][]byte{[]byte(id), []byte(h.nodeChannel()), []byte(op)}, args...)
	if n, err = h.bp.Publish(ctx, channel, encodeFields(kindRequest, fields...)); err != nil {
		done()
		h.metrics.publishErrors.Inc()
		return "", nil, 0, nil, fmt.Errorf("hub: %s request: %w", op, err)
	}
	return id, reply, n, done, nil
}

// replyFields are a reply's fields after its error text, or the error it carries.
func replyFields(r [][]byte) ([][]byte, error) {
	if len(r) == 0 {
		return nil, errBadEnvelope
	}
	if len(r[0]) > 0 {
		return nil, remoteError(string(r[0]))
	}
	return r[1:], nil
}

// probeEvery is how often a long wait on another node checks that the node is still there.
var probeEvery = 2 * time.Second

// remoteError turns a reply's error text back into the error it was, as far as callers test it.
func remoteError(text string) error {
	switch text {
	case errNoOwner.Error(), ErrConnectionClosed.Error():
		return fmt.Errorf("hub: connection closed on its node: %w", ErrConnectionClosed)
	}
	if msg, ok := strings.CutPrefix(text, clientErrorPrefix); ok {
		return &ClientError{Message: msg}
	}
	if msg, ok := strings.CutPrefix(text, hubErrorPrefix); ok {
		return &Error{Message: msg}
	}
	return errors.New(text)
}

const (
	clientErrorPrefix = "client:"
	hubErrorPrefix    = "hub:"
)

func errorText(err error) string {
	if err == nil {
		return ""
	}
	var ce *ClientError
	if errors.As(err, &ce) {
		return clientErrorPrefix + ce.Message
	}
	var he *Error
	if errors.As(err, &he) {
		return hubErrorPrefix + he.Message
	}
	if errors.Is(err, ErrConnectionClosed) {
		return ErrConnectionClosed.Error()
	}
	return err.Error()
}

// complete hands a reply to the call waiting for it; a reply nobody waits for (it came too late)
// is dropped.
func (h *Hub) complete(fields [][]byte) {
	if len(fields) == 0 {
		return
	}
	reply := h.rpc.waiting.get(string(fields[0]))
	if reply == nil {
		return
	}
	// The fields alias the backplane's payload, which the caller may keep: copy nothing.
	select {
	case reply <- fields[1:]:
	default:
	}
}

// cancel withdraws a request this node serves.
func (h *Hub) cancelRequest(fields [][]byte) {
	if len(fields) != 1 {
		return
	}
	if cancel := h.rpc.serving.get(string(fields[0])); cancel != nil {
		cancel()
	}
}

// serveRequest answers a request about one of this node's connections. It runs on its own
// goroutine: a client result or a poll takes time.
func (h *Hub) serveRequest(connID string, fields [][]byte) {
	if len(fields) < 3 {
		h.metrics.malformed.Inc()
		return
	}
	id, replyTo, op, args := string(fields[0]), string(fields[1]), string(fields[2]), fields[3:]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if op == opHTTP {
		defer h.rpc.serving.put(id, cancel)()
	}
	var (
		out [][]byte
		err error
	)
	switch op {
	case opGroupAdd, opGroupRemove:
		err = h.serveGroupChange(ctx, connID, op, args)
	case opInvoke:
		out, err = h.serveInvoke(ctx, connID, args)
	case opHTTP:
		out, err = h.serveForwarded(ctx, connID, args)
	case opTake:
		out, err = h.serveTake(connID, args)
	case opRelay:
		out, err = h.serveRelay(connID, args)
	case opExists:
		exists := ""
		if h.reg.conn(connID) != nil {
			exists = "1"
		}
		out = [][]byte{[]byte(exists)}
	case opGroupRemoveAll:
		if c := h.reg.conn(connID); c != nil {
			c.leaveAll()
		} else {
			err = ErrConnectionClosed
		}
	default:
		h.metrics.malformed.Inc()
		h.log.Warn("drop backplane request", "op", op)
		return
	}
	h.reply(replyTo, id, op, err, out)
}

// reply answers request id of the node whose channel is replyTo.
func (h *Hub) reply(replyTo, id, op string, err error, out [][]byte) {
	reply := append([][]byte{[]byte(id), []byte(errorText(err))}, out...)
	pub, cancelPub := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelPub()
	if _, perr := h.bp.Publish(pub, replyTo, encodeFields(kindReply, reply...)); perr != nil {
		h.metrics.publishErrors.Inc()
		h.log.Warn("backplane reply", "op", op, "err", perr)
	}
}

func (h *Hub) serveGroupChange(ctx context.Context, connID, op string, args [][]byte) error {
	if len(args) != 1 {
		return errBadEnvelope
	}
	c := h.reg.conn(connID)
	if c == nil {
		return ErrConnectionClosed
	}
	ctx, cancel := context.WithTimeout(ctx, groupAckTimeout)
	defer cancel()
	if op == opGroupAdd {
		return c.join(ctx, string(args[0]))
	}
	c.leave(string(args[0]))
	return nil
}

// invokeRemote asks the node of connection id for a client result. The arguments travel as JSON
// and are decoded there into plain values (numbers as int64 or float64) for the connection's
// protocol.
func (h *Hub) invokeRemote(ctx context.Context, id, method string, args []any) (Result, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.opts.ClientResultTimeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	encoded, err := json.Marshal(args)
	if err != nil {
		return Result{}, fmt.Errorf("hub: encode arguments of %q: %w", method, err)
	}
	wait := strconv.FormatInt(time.Until(deadline).Milliseconds(), 10)
	out, err := h.call(ctx, id, opInvoke, []byte(method), encoded, []byte(wait))
	if err != nil {
		return Result{}, err
	}
	if len(out) != 3 {
		return Result{}, errBadEnvelope
	}
	ref := protocolRefs[string(out[0])]
	if ref == nil {
		return Result{}, errBadEnvelope
	}
	return Result{raw: protocol.RawValue(out[1]), proto: ref.p, has: len(out[2]) > 0}, nil
}

func (h *Hub) serveInvoke(ctx context.Context, connID string, args [][]byte) ([][]byte, error) {
	if len(args) != 3 {
		return nil, errBadEnvelope
	}
	c := h.reg.conn(connID)
	if c == nil {
		return nil, ErrConnectionClosed
	}
	ms, err := strconv.ParseInt(string(args[2]), 10, 64)
	if err != nil {
		return nil, errBadEnvelope
	}
	dec := json.NewDecoder(bytes.NewReader(args[1]))
	dec.UseNumber()
	var values []any
	if err := dec.Decode(&values); err != nil {
		return nil, errBadEnvelope
	}
	for i, v := range values {
		values[i] = plainNumbers(v)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
	defer cancel()
	res, err := c.invokeClient(ctx, string(args[0]), values)
	if err != nil {
		return nil, err
	}
	has := []byte(nil)
	if res.has {
		has = []byte{1}
	}
	return [][]byte{[]byte(res.proto.Name()), res.raw, has}, nil
}

// plainNumbers turns the json.Numbers of a decoded value into int64 where they are whole, float64
// elsewhere: what a value encoded on this node would have held.
func plainNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = plainNumbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = plainNumbers(x[k])
		}
	}
	return v
}
