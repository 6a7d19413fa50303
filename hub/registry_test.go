package hub

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func registryConn(id, user string) *conn {
	c := &conn{id: id, token: "token-" + id}
	if user != "" {
		c.principal = &Principal{UserID: user}
	}
	return c
}

func collect(each func(func(*conn))) []string {
	var ids []string
	each(func(c *conn) { ids = append(ids, c.id) })
	slices.Sort(ids)
	return ids
}

func TestRegistryIndexes(t *testing.T) {
	t.Parallel()
	r := newRegistry()
	a, b, anon := registryConn("a", "alice"), registryConn("b", "alice"), registryConn("x", "")
	for _, c := range []*conn{a, b, anon} {
		r.addToken(c)
		require.True(t, r.add(c, nil, func() bool { return true }))
	}
	require.False(t, r.add(registryConn("refused", "bob"), nil, func() bool { return false }))
	require.Equal(t, 3, r.count())
	require.Same(t, a, r.conn("a"))
	require.Same(t, a, r.byTokenOf("token-a"))
	require.Equal(t, []string{"a", "b"}, collect(func(fn func(*conn)) { r.forUser("alice", fn) }))
	require.Equal(t, []string{"a", "b", "x"}, collect(r.forAll))
	require.Empty(t, collect(func(fn func(*conn)) { r.forUser("bob", fn) }))

	added, ok := r.join(a, "g")
	require.True(t, added)
	require.True(t, ok)
	added, ok = r.join(a, "g")
	require.False(t, added, "joining twice is one membership")
	require.True(t, ok)
	r.join(anon, "g")
	r.join(a, "h")
	require.Equal(t, 2, r.groupSize("g"))
	require.True(t, r.isMember(a, "h"))
	require.Equal(t, []string{"a", "x"}, collect(func(fn func(*conn)) { r.forGroup("g", fn) }))

	require.True(t, r.leave(anon, "g"))
	require.False(t, r.leave(anon, "g"))
	require.Equal(t, 1, r.groupSize("g"))

	groups, ok := r.remove(a)
	require.True(t, ok)
	slices.Sort(groups)
	require.Equal(t, []string{"g", "h"}, groups, "remove returns the groups to unsubscribe from")
	require.Zero(t, r.groupSize("g"))
	require.Zero(t, r.groupSize("h"))
	require.Nil(t, r.conn("a"))
	require.Equal(t, []string{"b"}, collect(func(fn func(*conn)) { r.forUser("alice", fn) }))
	_, ok = r.remove(a)
	require.False(t, ok, "removing twice is a no-op")
	_, ok = r.join(a, "g")
	require.False(t, ok, "a removed connection cannot join a group")
	require.Same(t, a, r.byTokenOf("token-a"), "the token outlives the indexes until forgotten")
	r.forget(a)
	require.Nil(t, r.byTokenOf("token-a"))
	require.Len(t, r.tokens(), 2)
}
