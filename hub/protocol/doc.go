// Package protocol encodes and decodes the messages of the ASP.NET Core SignalR hub protocol, in the
// two wire formats the official clients speak: JSON and MessagePack.
//
// # Messages and protocols
//
// The hub messages (Invocation, StreamItem, Completion, ...) are plain Go structs; a RawValue is
// the exact wire bytes of one user value (an argument, a stream item, a result). A [HubProtocol]
// frames records (a 0x1E separator after every JSON record, a varint length before every
// MessagePack record), parses them into messages and appends messages to a caller's buffer;
// [JSON] and [MessagePack] are the two:
//
//	p := protocol.ByName("messagepack")
//	msgs, used, err := p.ParseMessages(buf, protocol.DefaultMaxMessageSize, nil)
//	frame, err := p.AppendMessage(nil, &protocol.Completion{InvocationID: "1", HasResult: true, Result: 42})
//
// The first record of a connection is the handshake, always JSON whatever protocol the client then
// asks for ([ParseHandshakeRequest], [AppendHandshakeResponse]).
//
// # Safety
//
// Parsing never trusts the peer: every record is bounded by the caller's maxSize before any work is
// done for it, every length the input claims is checked against the bytes that are actually there
// before anything is allocated for it, nesting is bounded, and malformed input gives an *Error, never
// a panic. User values are not decoded while parsing: they stay as RawValue (copied, so the caller may
// reuse its read buffer) until the hub knows the Go type a method wants and calls Unmarshal.
//
// # Encoding
//
// Encoding is on the hot path of broadcasts, so AppendMessage builds the envelope by hand into the
// caller's buffer; only user values that are not already RawValue, string, bool, int, int64, float64
// or nil go through encoding/json or the MessagePack encoder (pooled). Go structs are written with
// their json tag names in both formats, so a client sees the same field names either way.
package protocol
