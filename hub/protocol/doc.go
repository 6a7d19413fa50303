// Package protocol encodes and decodes the messages of the ASP.NET Core SignalR hub protocol, in the
// two wire formats the official clients speak: JSON and MessagePack.
//
// The pieces fit like this:
//
//   - message.go defines the hub messages (Invocation, StreamItem, Completion, ...) as plain Go structs,
//     and RawValue, the exact wire bytes of one user value (an argument, a stream item, a result).
//   - protocol.go defines HubProtocol, the seam the hub talks to, and the errors it returns.
//   - JSON() (json*.go) and MessagePack() (msgpack*.go) are the two implementations. Each frames records
//     (a 0x1E separator after every JSON record; a varint length before every MessagePack record),
//     parses them into messages, and appends messages to a caller-owned buffer.
//   - handshake.go handles the first record of a connection, which is always JSON whatever protocol the
//     client then asks for.
//
// Parsing never trusts the peer: every record is bounded by the caller's maxSize before any work is
// done for it, every length the input claims is checked against the bytes that are actually there
// before anything is allocated for it, nesting is bounded, and malformed input gives an *Error, never
// a panic. User values are not decoded while parsing: they stay as RawValue (copied, so the caller may
// reuse its read buffer) until the hub knows the Go type a method wants and calls Unmarshal.
//
// Encoding is on the hot path of broadcasts, so AppendMessage builds the envelope by hand into the
// caller's buffer; only user values that are not already RawValue, string, bool, int, int64, float64
// or nil go through encoding/json or the MessagePack encoder (pooled). Go structs are written with
// their json tag names in both formats, so a client sees the same field names either way.
package protocol
