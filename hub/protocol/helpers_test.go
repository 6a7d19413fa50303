package protocol

import (
	"encoding/hex"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// protocols lists both implementations, for tests that hold for each.
var protocols = []HubProtocol{JSON(), MessagePack()}

// unhex decodes a hex string written with optional spaces.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	require.NoError(t, err)
	return b
}

// encode appends m with p and fails the test on error.
func encode(t testing.TB, p HubProtocol, m Message) []byte {
	t.Helper()
	b, err := p.AppendMessage(nil, m)
	require.NoError(t, err)
	return b
}

// parseAll parses data that must hold only complete records.
func parseAll(t testing.TB, p HubProtocol, data []byte) []Message {
	t.Helper()
	msgs, n, err := p.ParseMessages(data, DefaultMaxMessageSize, nil)
	require.NoError(t, err)
	require.Equal(t, len(data), n, "consumed")
	return msgs
}

// parseOne parses data that must hold exactly one record.
func parseOne(t testing.TB, p HubProtocol, data []byte) Message {
	t.Helper()
	msgs := parseAll(t, p, data)
	require.Len(t, msgs, 1)
	return msgs[0]
}

// splitValues returns the user values of m and a copy of m without them.
func splitValues(m Message) ([]any, Message) {
	switch m := m.(type) {
	case *Invocation:
		c := *m
		c.Arguments = nil
		return m.Arguments, &c
	case *StreamInvocation:
		c := *m
		c.Arguments = nil
		return m.Arguments, &c
	case *StreamItem:
		c := *m
		c.Item = nil
		return []any{m.Item}, &c
	case *Completion:
		c := *m
		c.Result = nil
		if !m.HasResult || m.Error != "" {
			return nil, &c
		}
		return []any{m.Result}, &c
	}
	return nil, m
}

// requireSameMessage checks that got, parsed by p, carries the message want was built as: the same
// fields, and user values that decode back to want's values (RawValues must match byte for byte).
func requireSameMessage(t testing.TB, p HubProtocol, want, got Message) {
	t.Helper()
	wantVals, wantRest := splitValues(want)
	gotVals, gotRest := splitValues(got)
	require.Equal(t, wantRest, gotRest)
	require.Len(t, gotVals, len(wantVals))
	for i, w := range wantVals {
		raw, ok := gotVals[i].(RawValue)
		require.True(t, ok, "value %d is %T, want RawValue", i, gotVals[i])
		if w == nil {
			var v any = "not nil"
			require.NoError(t, p.Unmarshal(raw, &v))
			require.Nil(t, v, "value %d", i)
			continue
		}
		if rv, ok := w.(RawValue); ok {
			require.Equal(t, rv, raw, "value %d", i)
			continue
		}
		ptr := reflect.New(reflect.TypeOf(w))
		require.NoError(t, p.Unmarshal(raw, ptr.Interface()))
		require.Equal(t, w, ptr.Elem().Interface(), "value %d", i)
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}
