package storage

import (
	"net/url"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestValidateKey(t *testing.T) {
	t.Parallel()
	good := []string{
		"exports/5f2c9a/01JDX/orders-20261122-153000.csv.gz",
		"a", "A_b-c.d=e", "x/y/z",
	}
	for _, k := range good {
		require.NoError(t, ValidateKey(k), k)
	}
	bad := []string{
		"", "/abs", "trailing/", "a//b", "..", "../x", "a/../b", "a/./b", ".hidden", "a/.b",
		`a\b`, "a b", "a?b", "a#b", "a%2e", "ä", "a\x00b", "x.attrs", "x.csv.1a2b.tmp",
		strings.Repeat("a", maxKeyLen+1),
	}
	for _, k := range bad {
		require.ErrorIs(t, ValidateKey(k), ErrInvalidKey, "%q", k)
	}
}

// FuzzValidateKey checks that every accepted key is clean (path.Clean leaves it alone, it is
// relative, and it needs no escaping in a URL path), which is what keeps links and file paths
// inside the bucket.
func FuzzValidateKey(f *testing.F) {
	for _, s := range []string{"exports/a/b.csv", "../x", "a//b", `a\b`, "a/./b", "%2e%2e", "x.attrs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if ValidateKey(key) != nil {
			return
		}
		if path.Clean(key) != key || path.IsAbs(key) || strings.HasPrefix(key, "..") {
			t.Fatalf("accepted unclean key %q", key)
		}
		if (&url.URL{Path: key}).EscapedPath() != key {
			t.Fatalf("accepted key %q needing URL escaping", key)
		}
	})
}

// FuzzLinkVerify checks that the verifier never accepts a query it did not sign and never
// panics on garbage.
func FuzzLinkVerify(f *testing.F) {
	s := newLinkSigner(testSigningKey)
	good := s.query("exports/a/b.csv", time.Unix(4102444800, 0), "b.csv")
	f.Add("exports/a/b.csv", good)
	f.Add("exports/a/b.csv", "expires=1&sig=AAAA")
	f.Add("x", "")
	f.Fuzz(func(t *testing.T, key, rawQuery string) {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return
		}
		name, err := s.verify(key, q, time.Unix(0, 0))
		if err != nil {
			return
		}
		// Accepted: it must be exactly what the signer would produce for these inputs.
		exp := q.Get(paramExpires)
		want := s.query(key, mustUnix(t, exp), name)
		wq, _ := url.ParseQuery(want)
		require.Equal(t, wq.Get(paramSig), q.Get(paramSig))
	})
}

func mustUnix(t *testing.T, s string) time.Time {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err)
	return time.Unix(n, 0)
}
