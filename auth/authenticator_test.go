package auth

import (
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
)

func TestHS256(t *testing.T) {
	t.Parallel()
	a := setup(t, Config{Secret: testSecret})
	require.False(t, a.DevMode())

	t.Run("Valid", func(t *testing.T) {
		t.Parallel()
		id, err := a.ParseToken(signHS(t, testSecret, claims("alice", "roles", []string{"admin", "ops"}, "tenant", "acme")))
		require.NoError(t, err)
		require.Equal(t, "alice", id.UserID)
		require.Equal(t, []string{"admin", "ops"}, id.Roles)
		require.True(t, id.HasRole("admin"))
		require.False(t, id.HasRole("root"))
		require.Equal(t, "acme", id.Claims["tenant"])
		require.Equal(t, "alice", id.Claims["sub"])
	})
	t.Run("Expired", func(t *testing.T) {
		t.Parallel()
		_, err := a.ParseToken(signHS(t, testSecret, claims("alice", "exp", time.Now().Add(-time.Hour).Unix())))
		requireCode(t, err, CodeTokenExpired)
		require.ErrorIs(t, err, ErrTokenExpired)
	})
	t.Run("ExpiredWithinLeeway", func(t *testing.T) {
		t.Parallel()
		_, err := a.ParseToken(signHS(t, testSecret, claims("alice", "exp", time.Now().Add(-10*time.Second).Unix())))
		require.NoError(t, err)
	})
	t.Run("NotYetValid", func(t *testing.T) {
		t.Parallel()
		_, err := a.ParseToken(signHS(t, testSecret, claims("alice", "nbf", time.Now().Add(time.Hour).Unix())))
		requireCode(t, err, CodeTokenNotYetValid)
		require.ErrorIs(t, err, ErrTokenNotYetValid)
	})
	t.Run("NoExp", func(t *testing.T) {
		t.Parallel()
		_, err := a.ParseToken(signHS(t, testSecret, claims("alice", "exp", nil)))
		requireCode(t, err, CodeTokenInvalid)
	})
	t.Run("Forged", func(t *testing.T) {
		t.Parallel()
		_, err := a.ParseToken(signHS(t, strings.Repeat("x", 32), claims("alice")))
		ae := requireCode(t, err, CodeTokenInvalid)
		require.Equal(t, "The token's signature is not valid.", ae.Message)
	})
	t.Run("ForgedAndExpired", func(t *testing.T) {
		t.Parallel()
		// The signature is checked first: a forger learns nothing from the claims.
		_, err := a.ParseToken(signHS(t, strings.Repeat("x", 32), claims("alice", "exp", time.Now().Add(-time.Hour).Unix())))
		requireCode(t, err, CodeTokenInvalid)
	})
	t.Run("AlgNone", func(t *testing.T) {
		t.Parallel()
		tok := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims("alice"))
		_, err := a.ParseToken(tok)
		requireCode(t, err, CodeTokenInvalid)
	})
	t.Run("OtherHMAC", func(t *testing.T) {
		t.Parallel()
		_, err := a.ParseToken(sign(t, jwt.SigningMethodHS512, []byte(testSecret), claims("alice")))
		requireCode(t, err, CodeTokenInvalid)
	})
	t.Run("Malformed", func(t *testing.T) {
		t.Parallel()
		for _, tok := range []string{"x", "a.b.c", "a.b", strings.Repeat("a", maxTokenLen+1)} {
			_, err := a.ParseToken(tok)
			requireCode(t, err, CodeTokenInvalid)
		}
	})
	t.Run("Empty", func(t *testing.T) {
		t.Parallel()
		_, err := a.ParseToken("")
		require.ErrorIs(t, err, ErrNoToken)
	})
	t.Run("MissingUser", func(t *testing.T) {
		t.Parallel()
		_, err := a.ParseToken(signHS(t, testSecret, claims("alice", "sub", nil)))
		ae := requireCode(t, err, CodeTokenInvalid)
		require.Contains(t, ae.Message, `"sub"`)
	})
	t.Run("BadUser", func(t *testing.T) {
		t.Parallel()
		for _, sub := range []any{"", 42, "a\x00b", strings.Repeat("u", MaxUserIDLen+1)} {
			_, err := a.ParseToken(signHS(t, testSecret, claims("alice", "sub", sub)))
			requireCode(t, err, CodeTokenInvalid)
		}
	})
}

func TestLeewayNone(t *testing.T) {
	t.Parallel()
	a := setup(t, Config{Secret: testSecret, Leeway: -1})
	_, err := a.ParseToken(signHS(t, testSecret, claims("alice", "exp", time.Now().Add(-10*time.Second).Unix())))
	requireCode(t, err, CodeTokenExpired)
}

func TestRoles(t *testing.T) {
	t.Parallel()
	a := setup(t, Config{Secret: testSecret})
	for _, tc := range []struct {
		name  string
		c     jwt.MapClaims
		want  []string
		error bool
	}{
		{"Array", claims("u", "roles", []string{"a", "b"}), []string{"a", "b"}, false},
		{"String", claims("u", "roles", "admin"), []string{"admin"}, false},
		{"RoleFallback", claims("u", "role", "admin"), []string{"admin"}, false},
		{"RoleFallbackArray", claims("u", "role", []string{"x", "y"}), []string{"x", "y"}, false},
		{"RolesWins", claims("u", "roles", []string{"a"}, "role", "b"), []string{"a"}, false},
		{"None", claims("u"), nil, false},
		{"Number", claims("u", "roles", 3), nil, true},
		{"MixedArray", claims("u", "roles", []any{"a", 1}), nil, true},
		{"EmptyRole", claims("u", "roles", []string{""}), nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id, err := a.ParseToken(signHS(t, testSecret, tc.c))
			if tc.error {
				requireCode(t, err, CodeTokenInvalid)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, id.Roles)
		})
	}
}

func TestCustomClaims(t *testing.T) {
	t.Parallel()
	a := setup(t, Config{Secret: testSecret, UserClaim: "uid", RoleClaim: "realm_access.roles"})

	id, err := a.ParseToken(signHS(t, testSecret, claims("ignored", "uid", "bob",
		"realm_access", map[string]any{"roles": []string{"editor"}}, "roles", []string{"notme"})))
	require.NoError(t, err)
	require.Equal(t, "bob", id.UserID)
	require.Equal(t, []string{"editor"}, id.Roles, "a custom role claim does not fall back")

	_, err = a.ParseToken(signHS(t, testSecret, claims("bob")))
	ae := requireCode(t, err, CodeTokenInvalid)
	require.Contains(t, ae.Message, `"uid"`)

	// Minted tokens use the configured claims, so they round-trip.
	tok, err := a.Mint("carol", []string{"viewer"}, time.Minute)
	require.NoError(t, err)
	id, err = a.ParseToken(tok)
	require.NoError(t, err)
	require.Equal(t, "carol", id.UserID)
	require.Equal(t, []string{"viewer"}, id.Roles)
}

func TestIssuerAudience(t *testing.T) {
	t.Parallel()
	a := setup(t, Config{Secret: testSecret, Issuer: "https://idp.example", Audience: "herald"})
	for _, tc := range []struct {
		name string
		c    jwt.MapClaims
		ok   bool
		says string // what the refusal's message names
	}{
		{"Match", claims("u", "iss", "https://idp.example", "aud", "herald"), true, ""},
		{"AudArray", claims("u", "iss", "https://idp.example", "aud", []string{"other", "herald"}), true, ""},
		{"WrongIssuer", claims("u", "iss", "https://evil.example", "aud", "herald"), false, "issuer (iss)"},
		{"NoIssuer", claims("u", "aud", "herald"), false, "no issuer (iss)"},
		{"WrongAudience", claims("u", "iss", "https://idp.example", "aud", "other"), false, "audience (aud)"},
		{"NoAudience", claims("u", "iss", "https://idp.example"), false, "no audience (aud)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := a.ParseToken(signHS(t, testSecret, tc.c))
			if tc.ok {
				require.NoError(t, err)
				return
			}
			requireCode(t, err, CodeTokenInvalid)
			var ae *Error
			require.ErrorAs(t, err, &ae)
			require.Contains(t, ae.Message, tc.says, "a token missing iss or aud is not told about exp")
		})
	}

	tok, err := a.Mint("u", nil, 0)
	require.NoError(t, err)
	_, err = a.ParseToken(tok)
	require.NoError(t, err, "minted tokens carry the configured iss and aud")
}

func TestToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, target, header, want string
	}{
		{"Header", "/hub", "Bearer abc", "abc"},
		{"HeaderCaseInsensitive", "/hub", "bearer abc", "abc"},
		{"Query", "/hub?access_token=q.r.s", "", "q.r.s"},
		{"HeaderFirst", "/hub?access_token=q", "Bearer h", "h"},
		{"OtherScheme", "/hub?access_token=q", "Basic dXNlcjpwYXNz", "q"},
		{"EmptyBearer", "/hub", "Bearer ", ""},
		{"None", "/hub", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, tc.target, nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			require.Equal(t, tc.want, Token(r))
		})
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	a := setup(t, Config{Secret: testSecret})
	tok := signHS(t, testSecret, claims("alice"))

	r := httptest.NewRequest(http.MethodGet, "/api/tasks", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	id, err := a.Authenticate(r)
	require.NoError(t, err)
	require.Equal(t, "alice", id.UserID)

	r = httptest.NewRequest(http.MethodGet, "/hubs/notifications?access_token="+tok, nil)
	id, err = a.Authenticate(r)
	require.NoError(t, err)
	require.Equal(t, "alice", id.UserID)

	_, err = a.Authenticate(httptest.NewRequest(http.MethodGet, "/api/tasks", nil))
	require.ErrorIs(t, err, ErrNoToken)
	require.NotErrorIs(t, err, ErrTokenInvalid)
}

func TestWriteError(t *testing.T) {
	t.Parallel()
	a := setup(t, Config{Secret: testSecret})
	_, err := a.ParseToken(signHS(t, testSecret, claims("alice", "exp", time.Now().Add(-time.Hour).Unix())))

	w := httptest.NewRecorder()
	WriteError(w, err)
	require.Equal(t, http.StatusUnauthorized, w.Code)
	require.Contains(t, w.Header().Get("WWW-Authenticate"), `error="invalid_token"`)
	var body struct {
		Error struct{ Code, Message string }
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	require.Equal(t, CodeTokenExpired, body.Error.Code)
	require.Equal(t, "The token has expired; get a new one.", body.Error.Message)

	w = httptest.NewRecorder()
	WriteError(w, ErrNoToken)
	require.Equal(t, http.StatusUnauthorized, w.Code)
	require.Equal(t, "Bearer", w.Header().Get("WWW-Authenticate"))

	w = httptest.NewRecorder()
	WriteError(w, errors.New("secret detail"))
	require.Equal(t, http.StatusInternalServerError, w.Code)
	require.NotContains(t, w.Body.String(), "secret detail")
}

func TestMint(t *testing.T) {
	t.Parallel()
	a := setup(t, Config{Secret: testSecret, TokenTTL: time.Hour})

	tok, err := a.Mint("alice", []string{"admin"}, 0)
	require.NoError(t, err)
	id, err := a.ParseToken(tok)
	require.NoError(t, err)
	require.Equal(t, "alice", id.UserID)
	require.Equal(t, []string{"admin"}, id.Roles)
	exp, err := jwt.MapClaims(id.Claims).GetExpirationTime()
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(time.Hour), exp.Time, 5*time.Second)

	_, err = a.Mint("", nil, 0)
	require.Error(t, err)
	_, err = a.Mint("alice", []string{"a\nb"}, 0)
	require.Error(t, err)

	path, _ := writePEM(t, &ecKey(t, elliptic.P256()).PublicKey)
	pk := setup(t, Config{PublicKeyFile: path})
	_, err = pk.Mint("alice", nil, 0)
	require.ErrorIs(t, err, ErrCannotMint)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"TwoKeys", Config{Secret: testSecret, JWKSURL: "https://idp.example/jwks"}, "only one"},
		{"ShortSecret", Config{Secret: "secret"}, "at least 32"},
		{"PlainHTTPJWKS", Config{JWKSURL: "http://idp.example/jwks"}, "https"},
		{"NotURL", Config{JWKSURL: "idp.example/jwks"}, "https"},
		{"NegativeTTL", Config{Secret: testSecret, TokenTTL: -time.Hour}, "negative"},
		{"MissingKeyFile", Config{PublicKeyFile: "/nonexistent/key.pem"}, "read public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(t.Context(), tc.cfg)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c := Config{}.WithDefaults()
	require.Equal(t, "sub", c.UserClaim)
	require.Equal(t, "roles", c.RoleClaim)
	require.Equal(t, 30*time.Second, c.Leeway)
	require.Equal(t, 24*time.Hour, c.TokenTTL)
	require.True(t, c.DevMode())
	require.False(t, Config{Secret: testSecret}.DevMode())
	require.False(t, Config{PublicKeyFile: "k.pem"}.DevMode())
	require.False(t, Config{JWKSURL: "https://x"}.DevMode())
}
