package protocol

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRecordLength(t *testing.T) {
	t.Parallel()
	for _, p := range []HubProtocol{JSON(), MessagePack()} {
		first, err := p.AppendMessage(nil, &Invocation{Target: "Echo", Arguments: []any{"hi"}})
		require.NoError(t, err)
		both, err := p.AppendMessage(append([]byte(nil), first...), &Ping{})
		require.NoError(t, err)
		require.Equal(t, len(first), RecordLength(p, both), p.Name())
		require.Equal(t, len(first), RecordLength(p, first), p.Name())
		require.Zero(t, RecordLength(p, first[:len(first)-1]), "%s: an incomplete record", p.Name())
		require.Zero(t, RecordLength(p, nil), p.Name())
		msgs, n, err := p.ParseMessages(both[:RecordLength(p, both)], 0, nil)
		require.NoError(t, err)
		require.Len(t, msgs, 1)
		require.Equal(t, len(first), n)
	}
	require.Zero(t, RecordLength(MessagePack(), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01}), "a bad prefix")
}
