package hub_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/hub/protocol"
)

// A WebSocket frame over max(1 MiB, 4*MaxMessageSize) is refused by the WebSocket library (gws)
// with close code 1009 before the hub sees a byte of it; the hub writes a SignalR Close message
// naming the limit just before that close frame, as the .NET server (which streams frames) sends
// one. Records inside smaller frames get the Close message with the message size limit.
// Bad input gets the protocol's answer, never crashes the server, and never disturbs another
// connection: every case ends by checking that two healthy connections (JSON and MessagePack) on
// the same hub still answer.
func TestBadInput(t *testing.T) {
	t.Parallel()
	f := setup(t, hub.Options{MaxMessageSize: 1024})
	healthyJSON := f.connect(t, "json", "")
	healthyMsgPack := f.connect(t, "messagepack", "")
	healthy := func(t *testing.T) {
		t.Helper()
		healthyJSON.echo(t)
		healthyMsgPack.echo(t)
	}

	t.Run("handshake", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name string
			typ  websocket.MessageType
			send []byte // nil: send nothing
			want string // the handshake error, or its start when it ends with "*"
		}{
			{"malformed JSON", websocket.MessageText, []byte(`{"protocol":"json","version":1` + "\x1e"), "Invalid handshake request*"},
			{"not an object", websocket.MessageText, []byte("[1,2]\x1e"), "Invalid handshake request*"},
			{"binary garbage", websocket.MessageBinary, []byte("\xff\x00\x91\x1e"), "Invalid handshake request*"},
			{"missing version", websocket.MessageText, []byte(`{"protocol":"json"}` + "\x1e"), "Invalid handshake request*"},
			{"version as string", websocket.MessageText, []byte(`{"protocol":"json","version":"1"}` + "\x1e"), "Invalid handshake request*"},
			{"unknown protocol", websocket.MessageText, []byte(`{"protocol":"xml","version":1}` + "\x1e"), "The protocol 'xml' is not supported."},
			{"version 99", websocket.MessageText, []byte(`{"protocol":"json","version":99}` + "\x1e"), "The server does not support version 99 of the 'json' protocol."},
			{"version 0", websocket.MessageText, []byte(`{"protocol":"messagepack","version":0}` + "\x1e"), "The server does not support version 0 of the 'messagepack' protocol."},
			{"too large", websocket.MessageText, bytes.Repeat([]byte(" "), 2000), "Invalid handshake request: too large."},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				c := f.dialWS(t, "json", "")
				c.sendRaw(t, tc.typ, tc.send)
				got := c.handshakeResponse(t)
				if prefix, ok := strings.CutSuffix(tc.want, "*"); ok {
					require.True(t, strings.HasPrefix(got, prefix), "handshake error %q", got)
				} else {
					require.Equal(t, tc.want, got)
				}
				require.Equal(t, websocket.StatusInternalError, c.closeStatus(t), "an error closes with 1011")
				healthy(t)
			})
		}
	})

	// A handshake that never comes is answered with an error when HandshakeTimeout ends, on a hub
	// of its own with a short timeout.
	t.Run("handshake never sent", func(t *testing.T) {
		t.Parallel()
		g := setup(t, hub.Options{HandshakeTimeout: 200 * time.Millisecond})
		other := connectPatiently(t, g, "messagepack")
		c := g.dialWS(t, "json", "")
		require.Equal(t, "Handshake was canceled.", c.handshakeResponse(t))
		c.waitClosed(t)
		other.echo(t)

		// On long polling the next poll fetches the error.
		lp := g.longPoll(t, "")
		code, _ := lp.poll(t)
		require.Equal(t, http.StatusOK, code)
		code, body := lp.poll(t)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, `{"error":"Handshake was canceled."}`+"\x1e", string(body))
		code, _ = lp.poll(t)
		require.Contains(t, []int{http.StatusNoContent, http.StatusNotFound}, code)
		other.echo(t)
		healthy(t)
	})

	// Input after a valid handshake that is a protocol error: the server sends a Close with an
	// error, then closes the socket.
	t.Run("fatal", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name   string
			proto  string
			frames [][]byte // each a WebSocket message
			// fragmented sends frames as the fragments of one WebSocket message.
			fragmented bool
			want       string // in the Close's error
			// frameTooBig marks frames over the WebSocket library's limit: a Close message, then 1009.
			frameTooBig bool
		}{
			{name: "JSON garbage", proto: "json", frames: [][]byte{[]byte("not json\x1e")}, want: "invalid message"},
			{name: "JSON binary garbage", proto: "json", frames: [][]byte{[]byte("\xff\xfe\x00\x1e")}, want: "invalid message"},
			{name: "JSON type not a number", proto: "json", frames: [][]byte{[]byte(`{"type":"one"}` + "\x1e")}, want: "invalid message"},
			{name: "JSON invocation without target", proto: "json", frames: [][]byte{[]byte(`{"type":1,"invocationId":"1","arguments":[]}` + "\x1e")}, want: "invalid message"},
			{name: "JSON arguments not an array", proto: "json", frames: [][]byte{[]byte(`{"type":1,"invocationId":"1","target":"Echo","arguments":{}}` + "\x1e")}, want: "invalid message"},
			{name: "MessagePack garbage", proto: "messagepack", frames: [][]byte{[]byte("\x03\xc1\xc1\xc1")}, want: "invalid message"},
			{name: "MessagePack not an array", proto: "messagepack", frames: [][]byte{[]byte("\x01\x05")}, want: "invalid message"},
			{name: "MessagePack six-byte length prefix", proto: "messagepack", frames: [][]byte{[]byte("\xff\xff\xff\xff\xff\x01")}, want: "invalid message"},
			{name: "MessagePack invocation of the wrong shape", proto: "messagepack", frames: [][]byte{[]byte("\x03\x92\x01\x80")}, want: "invalid message"},
			{name: "JSON too large", proto: "json", frames: [][]byte{append(bytes.Repeat([]byte("a"), 2000), 0x1e)}, want: "maximum message size of 1024 bytes"},
			{name: "JSON too large across messages", proto: "json", frames: [][]byte{
				[]byte(`{"type":1,"target":"Echo","arguments":["` + strings.Repeat("a", 400)),
				[]byte(strings.Repeat("a", 400)),
				[]byte(strings.Repeat("a", 400)),
			}, want: "maximum message size of 1024 bytes"},
			{name: "JSON too large across fragments", proto: "json", fragmented: true, frames: [][]byte{
				[]byte(`{"type":1,"target":"Echo","arguments":["` + strings.Repeat("a", 400)),
				[]byte(strings.Repeat("a", 400)),
				[]byte(strings.Repeat("a", 400)),
			}, want: "maximum message size of 1024 bytes"},
			{name: "JSON 2 MB frame", proto: "json", frames: [][]byte{bytes.Repeat([]byte("a"), 2<<20)}, frameTooBig: true},
			{name: "MessagePack 2 MB frame", proto: "messagepack", frames: [][]byte{append([]byte("\x80\x80\x80\x01"), bytes.Repeat([]byte("a"), 2<<20)...)}, frameTooBig: true},
			{name: "MessagePack 2 GB length prefix", proto: "messagepack", frames: [][]byte{[]byte("\x80\x80\x80\x80\x08\x96\x01")}, want: "maximum message size of 1024 bytes"},
			{name: "MessagePack too large across messages", proto: "messagepack", frames: [][]byte{
				[]byte("\xd0\x0f\x96\x01\x80\xc0\xa4Echo\x91\xda\x07\xc0"), // a 2000-byte record begins
				bytes.Repeat([]byte("a"), 500),
				bytes.Repeat([]byte("a"), 500),
			}, want: "maximum message size of 1024 bytes"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				c := f.connect(t, tc.proto, "")
				if tc.fragmented {
					ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
					defer cancel()
					w, err := c.ws.Writer(ctx, c.frameType())
					require.NoError(t, err)
					for _, fr := range tc.frames {
						_, err := w.Write(fr)
						require.NoError(t, err)
					}
					// The server may close before the message ends: the last write or the close
					// can fail.
					_ = w.Close()
				} else {
					for _, fr := range tc.frames {
						ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
						err := c.ws.Write(ctx, c.frameType(), fr)
						cancel()
						if err != nil {
							break // the server closed first
						}
					}
				}
				if tc.frameTooBig {
					cl, ok := c.next(t).(*protocol.Close)
					require.True(t, ok, "a Close message before the WebSocket close")
					require.Equal(t, "Connection closed with an error: a WebSocket frame exceeded the maximum of 1048576 bytes.", cl.Error)
					require.False(t, cl.AllowReconnect)
					require.Equal(t, websocket.StatusMessageTooBig, c.closeStatus(t))
					healthy(t)
					return
				}
				cl := c.expectClose(t)
				require.Contains(t, cl.Error, tc.want)
				require.True(t, strings.HasPrefix(cl.Error, "Connection closed with an error"), cl.Error)
				require.False(t, cl.AllowReconnect)
				require.Equal(t, websocket.StatusInternalError, c.closeStatus(t), "an error closes with 1011")
				healthy(t)
			})
		}
	})

	// Input after a valid handshake that the server answers (or ignores) while the connection
	// stays up: after each, Echo's Completion must be the very next message on the same
	// connection, so nothing else was sent.
	t.Run("answered", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name    string
			raw     map[string][]byte // by protocol; nil: use msg
			msg     protocol.Message
			wantErr string // the error Completion of invocation "x"; "" means no reply at all
			result  string // a successful result of invocation "x"
		}{
			{name: "unknown message type", raw: map[string][]byte{
				"json":        []byte(`{"type":99,"invocationId":"x","foo":[1,{"a":2}]}` + "\x1e"),
				"messagepack": []byte("\x03\x92\x63\x80"),
			}},
			{name: "unknown JSON fields", raw: map[string][]byte{
				"json": []byte(`{"type":1,"invocationId":"x","target":"Echo","arguments":["hi"],"extra":{"a":[1,2]},"more":null}` + "\x1e"),
			}, result: "hi"},
			// ASP.NET Core's texts, to the letter (without detailed errors; TestDetailedErrorTexts has them).
			{name: "wrong argument types", msg: &protocol.Invocation{InvocationID: "x", Target: "Add", Arguments: []any{"one", "two"}},
				wantErr: "Failed to invoke 'Add' due to an error on the server."},
			{name: "too few arguments", msg: &protocol.Invocation{InvocationID: "x", Target: "Add", Arguments: []any{1}},
				wantErr: "Failed to invoke 'Add' due to an error on the server."},
			{name: "too many arguments", msg: &protocol.Invocation{InvocationID: "x", Target: "Add", Arguments: []any{1, 2, 3}},
				wantErr: "Failed to invoke 'Add' due to an error on the server."},
			{name: "unexpected stream", msg: &protocol.Invocation{InvocationID: "x", Target: "Echo", Arguments: []any{"a"}, StreamIDs: []string{"s"}},
				wantErr: "An unexpected error occurred invoking 'Echo' on the server. HubException: Client sent 1 stream(s), Hub method expects 0."},
			{name: "unknown method", msg: &protocol.Invocation{InvocationID: "x", Target: "Nope", Arguments: []any{}},
				wantErr: "Failed to invoke 'Nope' due to an error on the server. HubException: Method does not exist."},
			{name: "method name as the client spelled it", msg: &protocol.Invocation{InvocationID: "x", Target: "ADD", Arguments: []any{1}},
				wantErr: "Failed to invoke 'ADD' due to an error on the server."},
			{name: "streaming invocation of a plain method", msg: &protocol.StreamInvocation{InvocationID: "x", Target: "Echo", Arguments: []any{"a"}},
				wantErr: "The client attempted to invoke the non-streaming 'Echo' method with a streaming invocation."},
			{name: "fire-and-forget to an unknown method", msg: &protocol.Invocation{Target: "Nope", Arguments: []any{1}}},
			{name: "fire-and-forget with wrong arguments", msg: &protocol.Invocation{Target: "Add", Arguments: []any{"a"}}},
			{name: "stream item for an unknown stream", msg: &protocol.StreamItem{InvocationID: "nope", Item: 1}},
			{name: "completion for an unknown invocation", msg: &protocol.Completion{InvocationID: "nope", HasResult: true, Result: 1}},
			{name: "error completion for an unknown invocation", msg: &protocol.Completion{InvocationID: "s1", Error: "boom"}},
			{name: "cancel of an unknown invocation", msg: &protocol.CancelInvocation{InvocationID: "nope"}},
			{name: "ack", msg: &protocol.Ack{SequenceID: 5}},
			{name: "sequence", msg: &protocol.Sequence{SequenceID: 5}},
			{name: "ping", msg: &protocol.Ping{}},
		} {
			for _, protoName := range []string{"json", "messagepack"} {
				if tc.raw != nil && tc.raw[protoName] == nil {
					continue
				}
				t.Run(tc.name+"/"+protoName, func(t *testing.T) {
					t.Parallel()
					c := f.connect(t, protoName, "")
					if tc.raw != nil {
						c.sendRaw(t, c.frameType(), tc.raw[protoName])
					} else {
						c.send(t, tc.msg)
					}
					switch {
					case tc.wantErr != "":
						comp := c.completion(t, "x")
						require.Equal(t, tc.wantErr, comp.Error)
					case tc.result != "":
						require.Equal(t, tc.result, result[string](t, c, c.completion(t, "x")))
					}
					c.echo(t)
					healthy(t)
				})
			}
		}
	})

	// A record split across several WebSocket messages is reassembled when it is within bounds.
	t.Run("split record", func(t *testing.T) {
		t.Parallel()
		for _, protoName := range []string{"json", "messagepack"} {
			c := f.connect(t, protoName, "")
			rec := c.encode(t, &protocol.Invocation{InvocationID: "x", Target: "Echo", Arguments: []any{strings.Repeat("b", 900)}})
			require.Less(t, len(rec), 1024)
			third := len(rec) / 3
			for _, part := range [][]byte{rec[:1], rec[1:third], rec[third : 2*third], rec[2*third:]} {
				c.sendRaw(t, c.frameType(), part)
			}
			require.Equal(t, strings.Repeat("b", 900), result[string](t, c, c.completion(t, "x")))
			c.echo(t)
		}
		healthy(t)
	})

	// Several records and the handshake in one message, as the JS client batches them.
	t.Run("batched", func(t *testing.T) {
		t.Parallel()
		for _, protoName := range []string{"json", "messagepack"} {
			c := f.dialWS(t, protoName, "")
			batch := protocol.AppendHandshakeRequest(nil, protocol.HandshakeRequest{Protocol: protoName, Version: 1})
			batch = append(batch, c.encode(t, &protocol.Ping{})...)
			batch = append(batch, c.encode(t, &protocol.Invocation{InvocationID: "a", Target: "Add", Arguments: []any{1, 2}})...)
			batch = append(batch, c.encode(t, &protocol.Invocation{InvocationID: "b", Target: "Echo", Arguments: []any{"z"}})...)
			c.sendRaw(t, c.frameType(), batch)
			require.Empty(t, c.handshakeResponse(t))
			require.Equal(t, 3, result[int](t, c, c.completion(t, "a")))
			require.Equal(t, "z", result[string](t, c, c.completion(t, "b")))
		}
		healthy(t)
	})
}
