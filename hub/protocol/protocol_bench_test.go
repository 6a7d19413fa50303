package protocol

import (
	"encoding/json"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// benchInvocation is a typical broadcast: a method name and a few string and int arguments.
var benchInvocation = &Invocation{Target: "ReceiveMessage", Arguments: []any{"alice", "hello, world", 42}}

func BenchmarkJSONAppendInvocation(b *testing.B) {
	benchmarkAppend(b, JSON())
}

func BenchmarkMessagePackAppendInvocation(b *testing.B) {
	benchmarkAppend(b, MessagePack())
}

func benchmarkAppend(b *testing.B, p HubProtocol) {
	b.ReportAllocs()
	dst := make([]byte, 0, 256)
	for b.Loop() {
		var err error
		if dst, err = p.AppendMessage(dst[:0], benchInvocation); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(dst)))
}

// The baselines encode the same invocation the obvious way: a struct marshalled whole.

type jsonInvocationEnvelope struct {
	Type         int    `json:"type"`
	InvocationID string `json:"invocationId,omitempty"`
	Target       string `json:"target"`
	Arguments    []any  `json:"arguments"`
}

func BenchmarkJSONAppendInvocationBaseline(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		out, err := json.Marshal(jsonInvocationEnvelope{Type: 1, Target: benchInvocation.Target, Arguments: benchInvocation.Arguments})
		if err != nil {
			b.Fatal(err)
		}
		_ = append(out, RecordSeparator)
	}
}

func BenchmarkMessagePackAppendInvocationBaseline(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := msgpack.Marshal([]any{1, map[string]string{}, nil, benchInvocation.Target, benchInvocation.Arguments}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONParse(b *testing.B) {
	benchmarkParse(b, JSON())
}

func BenchmarkMessagePackParse(b *testing.B) {
	benchmarkParse(b, MessagePack())
}

func benchmarkParse(b *testing.B, p HubProtocol) {
	b.ReportAllocs()
	data, err := p.AppendMessage(nil, &Invocation{InvocationID: "1", Target: "SendMessage", Arguments: []any{"alice", "hello, world", 42}})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	dst := make([]Message, 0, 1)
	for b.Loop() {
		msgs, _, err := p.ParseMessages(data, DefaultMaxMessageSize, dst[:0])
		if err != nil || len(msgs) != 1 {
			b.Fatal(err)
		}
	}
}
