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
	// kindInvoke carries an Invocation encoded once per protocol, connection ids to skip, and
	// groups whose members to skip (Groups(a, b) reaches a member of both once).
	kindInvoke envelopeKind = 1
	// kindClose asks the nodes to close the connections the channel addresses, but the excluded
	// ones, with a reason.
	kindClose envelopeKind = 4
	// kindRequest asks the node owning a connection for something and waits for its kindReply
	// (cluster.go): a group change, a client result, a forwarded HTTP request, a hand-over.
	kindRequest envelopeKind = 5
	kindReply   envelopeKind = 6
	// kindCancel withdraws a request whose caller has gone.
	kindCancel envelopeKind = 7
	// kindProbe asks nothing: its receiver count tells a waiting caller whether the connection's
	// node is still there.
	kindProbe envelopeKind = 8
	// kindRelay carries a relayed WebSocket's frames between the node that has the client's socket
	// and the connection's node (relay.go).
	kindRelay envelopeKind = 9
)

// envelope is a decoded backplane payload.
type envelope struct {
	kind       envelopeKind
	exclude    []string
	skipGroups []string
	json       []byte   // framed JSON record
	msgpack    []byte   // framed MessagePack record
	arg        string   // the close message
	fields     [][]byte // of requests, replies and cancels; they alias the payload
}

var errBadEnvelope = errors.New("hub: malformed backplane payload")

// invocationFrames frames the invocation in every protocol once, so that delivering it to any
// number of connections only copies bytes.
func invocationFrames(target string, args []any) (json, msgpack []byte, err error) {
	for _, a := range args {
		if _, raw := a.(protocol.RawValue); raw {
			return nil, nil, errors.New("hub: a protocol.RawValue cannot be sent to other connections: decode it first")
		}
	}
	inv := &protocol.Invocation{Target: target, Arguments: args}
	if json, err = protocol.JSON().AppendMessage(nil, inv); err != nil {
		return nil, nil, fmt.Errorf("encode arguments of %q: %w", target, err)
	}
	if msgpack, err = protocol.MessagePack().AppendMessage(nil, inv); err != nil {
		return nil, nil, fmt.Errorf("encode arguments of %q: %w", target, err)
	}
	return json, msgpack, nil
}

// encodeInvocation is the payload of one invocation: the connections in exclude and the members
// of skipGroups do not get it.
func encodeInvocation(json, msgpack []byte, exclude, skipGroups []string) []byte {
	buf := make([]byte, 0, 16+len(json)+len(msgpack))
	buf = append(buf, byte(kindInvoke))
	buf = appendList(buf, exclude)
	buf = appendList(buf, skipGroups)
	buf = appendString(buf, string(json))
	return appendString(buf, string(msgpack))
}

// encodeClose is the payload of a close: the connections in exclude stay.
func encodeClose(exclude []string, reason string) []byte {
	buf := []byte{byte(kindClose)}
	buf = appendList(buf, exclude)
	return appendString(buf, reason)
}

// encodeFields is the payload of a request, a reply or a cancel.
func encodeFields(kind envelopeKind, fields ...[]byte) []byte {
	size := 1 + binary.MaxVarintLen64
	for _, f := range fields {
		size += binary.MaxVarintLen64 + len(f)
	}
	buf := make([]byte, 0, size)
	buf = append(buf, byte(kind))
	buf = binary.AppendUvarint(buf, uint64(len(fields)))
	for _, f := range fields {
		buf = binary.AppendUvarint(buf, uint64(len(f)))
		buf = append(buf, f...)
	}
	return buf
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
		if e.exclude, b, err = readList(b); err != nil {
			return e, err
		}
		if e.skipGroups, b, err = readList(b); err != nil {
			return e, err
		}
		if e.json, b, err = readBytes(b); err != nil {
			return e, err
		}
		e.msgpack, _, err = readBytes(b)
		return e, err
	case kindClose:
		if e.exclude, b, err = readList(b); err != nil {
			return e, err
		}
		var s []byte
		if s, _, err = readBytes(b); err != nil {
			return e, err
		}
		e.arg = string(s)
		return e, nil
	case kindRequest, kindReply, kindCancel, kindProbe, kindRelay:
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)) {
			return e, errBadEnvelope
		}
		b = b[k:]
		e.fields = make([][]byte, 0, n)
		for range n {
			var f []byte
			if f, b, err = readBytes(b); err != nil {
				return e, err
			}
			e.fields = append(e.fields, f)
		}
		return e, nil
	}
	return e, errBadEnvelope
}

func appendList(buf []byte, list []string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(list)))
	for _, s := range list {
		buf = appendString(buf, s)
	}
	return buf
}

func readList(b []byte) ([]string, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, nil, errBadEnvelope
	}
	b = b[k:]
	if n == 0 {
		return nil, b, nil
	}
	list := make([]string, 0, n)
	for range n {
		s, rest, err := readBytes(b)
		if err != nil {
			return nil, nil, err
		}
		list = append(list, string(s))
		b = rest
	}
	return list, b, nil
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
