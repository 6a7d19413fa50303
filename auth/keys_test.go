package auth

import (
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
)

func TestPublicKeyRSA(t *testing.T) {
	t.Parallel()
	key := rsaKey(t)
	path, pemBytes := writePEM(t, &key.PublicKey)
	a := setup(t, Config{PublicKeyFile: path})

	for _, m := range []jwt.SigningMethod{jwt.SigningMethodRS256, jwt.SigningMethodRS384, jwt.SigningMethodRS512} {
		id, err := a.ParseToken(sign(t, m, key, claims("alice")))
		require.NoError(t, err, m.Alg())
		require.Equal(t, "alice", id.UserID)
	}

	t.Run("OtherKey", func(t *testing.T) {
		t.Parallel()
		_, err := a.ParseToken(sign(t, jwt.SigningMethodRS256, rsaKey(t), claims("alice")))
		requireCode(t, err, CodeTokenInvalid)
	})
	t.Run("AlgConfusion", func(t *testing.T) {
		t.Parallel()
		// The classic attack: HS256 keyed with the public key, which the attacker knows.
		_, err := a.ParseToken(signHS(t, string(pemBytes), claims("alice")))
		requireCode(t, err, CodeTokenInvalid)
		der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
		require.NoError(t, err)
		_, err = a.ParseToken(sign(t, jwt.SigningMethodHS256, der, claims("alice")))
		requireCode(t, err, CodeTokenInvalid)
	})
	t.Run("AlgNone", func(t *testing.T) {
		t.Parallel()
		_, err := a.ParseToken(sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims("alice")))
		requireCode(t, err, CodeTokenInvalid)
	})
	t.Run("ECDSAToken", func(t *testing.T) {
		t.Parallel()
		_, err := a.ParseToken(sign(t, jwt.SigningMethodES256, ecKey(t, elliptic.P256()), claims("alice")))
		requireCode(t, err, CodeTokenInvalid)
	})
	t.Run("Expired", func(t *testing.T) {
		t.Parallel()
		_, err := a.ParseToken(sign(t, jwt.SigningMethodRS256, key, claims("alice", "exp", time.Now().Add(-time.Hour).Unix())))
		requireCode(t, err, CodeTokenExpired)
	})
}

func TestPublicKeyRSAFormats(t *testing.T) {
	t.Parallel()
	key := rsaKey(t)
	dir := t.TempDir()
	pkcs1 := filepath.Join(dir, "pkcs1.pem")
	require.NoError(t, os.WriteFile(pkcs1, pem.EncodeToMemory(&pem.Block{
		Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&key.PublicKey),
	}), 0o600))
	a := setup(t, Config{PublicKeyFile: pkcs1})
	_, err := a.ParseToken(sign(t, jwt.SigningMethodRS256, key, claims("alice")))
	require.NoError(t, err)

	private := filepath.Join(dir, "private.pem")
	require.NoError(t, os.WriteFile(private, pem.EncodeToMemory(&pem.Block{
		Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key),
	}), 0o600))
	_, err = New(t.Context(), Config{PublicKeyFile: private})
	require.ErrorContains(t, err, "private key")

	garbage := filepath.Join(dir, "garbage.pem")
	require.NoError(t, os.WriteFile(garbage, []byte("not pem"), 0o600))
	_, err = New(t.Context(), Config{PublicKeyFile: garbage})
	require.ErrorContains(t, err, "no PEM block")
}

func TestPublicKeyECDSA(t *testing.T) {
	t.Parallel()
	key := ecKey(t, elliptic.P256())
	path, pemBytes := writePEM(t, &key.PublicKey)
	a := setup(t, Config{PublicKeyFile: path})

	id, err := a.ParseToken(sign(t, jwt.SigningMethodES256, key, claims("alice")))
	require.NoError(t, err)
	require.Equal(t, "alice", id.UserID)

	// Only the algorithm of the key's curve.
	_, err = a.ParseToken(sign(t, jwt.SigningMethodES384, ecKey(t, elliptic.P384()), claims("alice")))
	requireCode(t, err, CodeTokenInvalid)
	_, err = a.ParseToken(sign(t, jwt.SigningMethodES256, ecKey(t, elliptic.P256()), claims("alice")))
	requireCode(t, err, CodeTokenInvalid)
	_, err = a.ParseToken(signHS(t, string(pemBytes), claims("alice")))
	requireCode(t, err, CodeTokenInvalid)
	_, err = a.ParseToken(sign(t, jwt.SigningMethodRS256, rsaKey(t), claims("alice")))
	requireCode(t, err, CodeTokenInvalid)
}

func TestPublicKeyES384(t *testing.T) {
	t.Parallel()
	key := ecKey(t, elliptic.P384())
	path, _ := writePEM(t, &key.PublicKey)
	a := setup(t, Config{PublicKeyFile: path})
	_, err := a.ParseToken(sign(t, jwt.SigningMethodES384, key, claims("alice")))
	require.NoError(t, err)
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	rk, ek := rsaKey(t), ecKey(t, elliptic.P256())
	srv := newJWKSServer(t, rsaJWK("rsa-1", &rk.PublicKey), ecJWK(t, "ec-1", &ek.PublicKey))
	a := setup(t, Config{JWKSURL: srv.URL})
	require.False(t, a.DevMode())

	id, err := a.ParseToken(sign(t, jwt.SigningMethodRS256, rk, claims("alice"), "kid", "rsa-1"))
	require.NoError(t, err)
	require.Equal(t, "alice", id.UserID)
	id, err = a.ParseToken(sign(t, jwt.SigningMethodES256, ek, claims("bob"), "kid", "ec-1"))
	require.NoError(t, err)
	require.Equal(t, "bob", id.UserID)

	// No kid: every key is tried.
	_, err = a.ParseToken(sign(t, jwt.SigningMethodES256, ek, claims("bob")))
	require.NoError(t, err)

	// A known kid with another key's signature.
	_, err = a.ParseToken(sign(t, jwt.SigningMethodRS256, rsaKey(t), claims("alice"), "kid", "rsa-1"))
	requireCode(t, err, CodeTokenInvalid)
	// The kid of an RSA key with an ECDSA algorithm.
	_, err = a.ParseToken(sign(t, jwt.SigningMethodES256, ek, claims("alice"), "kid", "rsa-1"))
	requireCode(t, err, CodeTokenInvalid)
	// HMAC is never accepted from a key set.
	_, err = a.ParseToken(sign(t, jwt.SigningMethodHS256, []byte(testSecret), claims("alice"), "kid", "rsa-1"))
	requireCode(t, err, CodeTokenInvalid)
	_, err = a.ParseToken(sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims("alice"), "kid", "rsa-1"))
	requireCode(t, err, CodeTokenInvalid)
}

func TestJWKSRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := rsaKey(t), ecKey(t, elliptic.P256())
	srv := newJWKSServer(t, rsaJWK("old", &oldKey.PublicKey))
	a := setup(t, Config{JWKSURL: srv.URL})
	require.EqualValues(t, 1, srv.fetches.Load())

	_, err := a.ParseToken(sign(t, jwt.SigningMethodRS256, oldKey, claims("alice"), "kid", "old"))
	require.NoError(t, err)

	// The provider rotates: a token with the new kid makes Herald fetch the set again.
	srv.set(ecJWK(t, "new", &newKey.PublicKey))
	id, err := a.ParseToken(sign(t, jwt.SigningMethodES256, newKey, claims("bob"), "kid", "new"))
	require.NoError(t, err)
	require.Equal(t, "bob", id.UserID)
	require.EqualValues(t, 2, srv.fetches.Load())

	// The old key is gone from the set; the rate limit keeps unknown kids from refetching.
	_, err = a.ParseToken(sign(t, jwt.SigningMethodRS256, oldKey, claims("alice"), "kid", "old"))
	ae := requireCode(t, err, CodeTokenInvalid)
	require.Equal(t, "The token is signed with an unknown key.", ae.Message)
	_, err = a.ParseToken(sign(t, jwt.SigningMethodRS256, oldKey, claims("alice"), "kid", "made-up"))
	requireCode(t, err, CodeTokenInvalid)
	require.EqualValues(t, 2, srv.fetches.Load())
}

func TestJWKSUnknownKID(t *testing.T) {
	t.Parallel()
	k := rsaKey(t)
	srv := newJWKSServer(t, rsaJWK("a", &k.PublicKey))
	a := setup(t, Config{JWKSURL: srv.URL})

	// The refresh finds nothing new: the token is refused cleanly.
	_, err := a.ParseToken(sign(t, jwt.SigningMethodRS256, k, claims("alice"), "kid", "b"))
	ae := requireCode(t, err, CodeTokenInvalid)
	require.Equal(t, "The token is signed with an unknown key.", ae.Message)
	require.EqualValues(t, 2, srv.fetches.Load())

	// Known keys still work.
	_, err = a.ParseToken(sign(t, jwt.SigningMethodRS256, k, claims("alice"), "kid", "a"))
	require.NoError(t, err)
}

func TestJWKSBackgroundRefresh(t *testing.T) {
	t.Parallel()
	k := rsaKey(t)
	srv := newJWKSServer(t, rsaJWK("a", &k.PublicKey))
	a := setup(t, Config{JWKSURL: srv.URL, JWKSRefreshInterval: 10 * time.Millisecond})
	require.Eventually(t, func() bool { return srv.fetches.Load() >= 3 }, 10*time.Second, 5*time.Millisecond)
	a.Close()
	a.Close() // Idempotent.
}

func TestJWKSStartupFailures(t *testing.T) {
	t.Parallel()
	empty := newJWKSServer(t)
	_, err := New(t.Context(), Config{JWKSURL: empty.URL})
	require.ErrorContains(t, err, "no usable key")

	down := newJWKSServer(t)
	down.Close()
	_, err = New(t.Context(), Config{JWKSURL: down.URL})
	require.ErrorContains(t, err, "fetch JWKS")
}

func TestDevSecretFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald-data", "dev-secret")

	a := setup(t, Config{DevSecretFile: path})
	require.True(t, a.DevMode())
	info, err := os.Stat(path)
	require.NoError(t, err)
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	if runtime.GOOS != "windows" {
		require.Equal(t, fs.FileMode(0o600), info.Mode().Perm())
		dir, err := os.Stat(filepath.Dir(path))
		require.NoError(t, err)
		require.Equal(t, fs.FileMode(0o700), dir.Mode().Perm())
	}

	tok, err := a.Mint("alice", nil, 0)
	require.NoError(t, err)

	// A second process (herald token, a restarted server) reuses the secret.
	b := setup(t, Config{DevSecretFile: path})
	id, err := b.ParseToken(tok)
	require.NoError(t, err)
	require.Equal(t, "alice", id.UserID)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, before, after)

	// Only the secret file is left behind.
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, entries, 1)

	// A dev-mode authenticator rejects tokens of another secret.
	_, err = b.ParseToken(signHS(t, testSecret, claims("alice")))
	requireCode(t, err, CodeTokenInvalid)
}

func TestDevSecretFileConcurrent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "dev-secret")
	auths := make([]*Authenticator, 8)
	var wg sync.WaitGroup
	for i := range auths {
		wg.Go(func() {
			a, err := New(t.Context(), Config{DevSecretFile: path})
			if err != nil {
				t.Errorf("New: %v", err)
				return
			}
			auths[i] = a
		})
	}
	wg.Wait()
	require.False(t, t.Failed())
	tok, err := auths[0].Mint("alice", nil, 0)
	require.NoError(t, err)
	for _, a := range auths {
		_, err := a.ParseToken(tok)
		require.NoError(t, err, "every racer ends up with the same secret")
		a.Close()
	}
}

func TestDevSecretCorrupt(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "dev-secret")
	require.NoError(t, os.WriteFile(path, []byte("short"), 0o600))
	_, err := New(t.Context(), Config{DevSecretFile: path})
	require.ErrorContains(t, err, "corrupt")
}

func TestDevInMemorySecret(t *testing.T) {
	t.Parallel()
	a := setup(t, Config{})
	b := setup(t, Config{})
	require.True(t, a.DevMode())
	tok, err := a.Mint("alice", nil, 0)
	require.NoError(t, err)
	_, err = a.ParseToken(tok)
	require.NoError(t, err)
	_, err = b.ParseToken(tok)
	requireCode(t, err, CodeTokenInvalid)
}
