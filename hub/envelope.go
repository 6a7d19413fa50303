package hub

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/heraldhq/herald/hub/protocol"
)

// envelopeKind is the first byte of every payload the hub publishes on the backplane.
type envelopeKind byte

const (
	// kindInvoke carries an Invocation encoded once per protocol, and connection ids to skip.
	kindInvoke envelopeKind = 1
	// kindGroupAdd and kindGroupRemove ask the node owning a connection to change its groups.
	kindGroupAdd    envelopeKind = 2
	kindGroupRemove envelopeKind = 3
	// kindClose asks the node owning a connection to close it.
	kindClose envelopeKind = 4
)

// envelope is a decoded backplane payload.
type envelope struct {
	kind    envelopeKind
	exclude []string
	json    []byte // framed JSON record
	msgpack []byte // framed MessagePack record
	connID  string
	arg     string // group name, or the close message
}

var errBadEnvelope = errors.New("hub: malformed backplane payload")

// encodeInvocation frames the invocation in every protocol once, so that delivering it to any
// number of connections only copies bytes.
func encodeInvocation(target string, args []any, exclude []string) ([]byte, error) {
	for _, a := range args {
		if _, raw := a.(protocol.RawValue); raw {
			return nil, errors.New("hub: a protocol.RawValue cannot be sent to other connections: decode it first")
		}
	}
	inv := &protocol.Invocation{Target: target, Arguments: args}
	buf := []byte{byte(kindInvoke)}
	buf = binary.AppendUvarint(buf, uint64(len(exclude)))
	for _, id := range exclude {
		buf = appendString(buf, id)
	}
	for _, p := range []protocol.HubProtocol{protocol.JSON(), protocol.MessagePack()} {
		frame, err := p.AppendMessage(nil, inv)
		if err != nil {
			return nil, fmt.Errorf("encode arguments of %q: %w", target, err)
		}
		buf = appendString(buf, string(frame))
	}
	return buf, nil
}

func encodeCommand(kind envelopeKind, connID, arg string) []byte {
	buf := []byte{byte(kind)}
	buf = appendString(buf, connID)
	return appendString(buf, arg)
}

func decodeEnvelope(b []byte) (envelope, error) {
	var e envelope
	if len(b) == 0 {
		return e, errBadEnvelope
	}
	e.kind, b = envelopeKind(b[0]), b[1:]
	var err error
	switch e.kind {
	case kindInvoke:
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)) {
			return e, errBadEnvelope
		}
		b = b[k:]
		e.exclude = make([]string, 0, n)
		for range n {
			var s []byte
			if s, b, err = readBytes(b); err != nil {
				return e, err
			}
			e.exclude = append(e.exclude, string(s))
		}
		if e.json, b, err = readBytes(b); err != nil {
			return e, err
		}
		e.msgpack, _, err = readBytes(b)
		return e, err
	case kindGroupAdd, kindGroupRemove, kindClose:
		var s []byte
		if s, b, err = readBytes(b); err != nil {
			return e, err
		}
		e.connID = string(s)
		if s, _, err = readBytes(b); err != nil {
			return e, err
		}
		e.arg = string(s)
		return e, nil
	}
	return e, errBadEnvelope
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// readBytes reads one length-prefixed field; the result aliases b.
func readBytes(b []byte) (field, rest []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, errBadEnvelope
	}
	end := k + int(n)
	return b[k:end], b[end:], nil
}
