package protocol

// MessageType is the numeric "type" of a hub message on the wire.
type MessageType int

// The hub message types of the SignalR hub protocol.
const (
	TypeInvocation       MessageType = 1
	TypeStreamItem       MessageType = 2
	TypeCompletion       MessageType = 3
	TypeStreamInvocation MessageType = 4
	TypeCancelInvocation MessageType = 5
	TypePing             MessageType = 6
	TypeClose            MessageType = 7
	TypeAck              MessageType = 8
	TypeSequence         MessageType = 9
)

// String names the message type for logs and errors.
func (t MessageType) String() string {
	switch t {
	case TypeInvocation:
		return "Invocation"
	case TypeStreamItem:
		return "StreamItem"
	case TypeCompletion:
		return "Completion"
	case TypeStreamInvocation:
		return "StreamInvocation"
	case TypeCancelInvocation:
		return "CancelInvocation"
	case TypePing:
		return "Ping"
	case TypeClose:
		return "Close"
	case TypeAck:
		return "Ack"
	case TypeSequence:
		return "Sequence"
	}
	return "Unknown"
}

// Message is one hub message. The concrete types are the pointer types below.
type Message interface {
	Type() MessageType
}

// RawValue is a value exactly as one protocol encoded it on the wire (JSON text for the JSON protocol,
// MessagePack bytes for the MessagePack protocol). Parsers put a RawValue wherever the message carries
// a user value (arguments, items, results); decode it with the same protocol's Unmarshal. When a
// RawValue is written back by the protocol that produced it, its bytes are copied verbatim.
type RawValue []byte

// Invocation asks the receiver to run a method. An empty InvocationID means fire-and-forget.
// Parsed messages hold RawValue arguments; outgoing ones may hold any encodable Go value.
type Invocation struct {
	Headers      map[string]string
	InvocationID string
	Target       string
	Arguments    []any
	StreamIDs    []string
}

// StreamInvocation asks the receiver to run a streaming method.
type StreamInvocation struct {
	Headers      map[string]string
	InvocationID string
	Target       string
	Arguments    []any
	StreamIDs    []string
}

// StreamItem is one item of a stream.
type StreamItem struct {
	Headers      map[string]string
	InvocationID string
	Item         any
}

// Completion ends an invocation or a stream. Error, when not empty, wins over the result.
// HasResult distinguishes a void completion from a result of null.
type Completion struct {
	Headers      map[string]string
	InvocationID string
	Error        string
	HasResult    bool
	Result       any
}

// CancelInvocation asks the receiver to stop a stream.
type CancelInvocation struct {
	Headers      map[string]string
	InvocationID string
}

// Ping keeps a connection alive.
type Ping struct{}

// Close ends a connection, optionally with an error and a hint that the client may reconnect.
type Close struct {
	Error          string
	AllowReconnect bool
}

// Ack acknowledges messages up to SequenceID (stateful reconnect).
type Ack struct {
	SequenceID int64
}

// Sequence announces the first sequence id the sender will (re)send (stateful reconnect).
type Sequence struct {
	SequenceID int64
}

// Type implements Message.
func (*Invocation) Type() MessageType { return TypeInvocation }

// Type implements Message.
func (*StreamInvocation) Type() MessageType { return TypeStreamInvocation }

// Type implements Message.
func (*StreamItem) Type() MessageType { return TypeStreamItem }

// Type implements Message.
func (*Completion) Type() MessageType { return TypeCompletion }

// Type implements Message.
func (*CancelInvocation) Type() MessageType { return TypeCancelInvocation }

// Type implements Message.
func (*Ping) Type() MessageType { return TypePing }

// Type implements Message.
func (*Close) Type() MessageType { return TypeClose }

// Type implements Message.
func (*Ack) Type() MessageType { return TypeAck }

// Type implements Message.
func (*Sequence) Type() MessageType { return TypeSequence }
