package auth

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzAccessKeyToken checks access-key tokens and audiences from the network: never a panic, and
// nothing but a token signed with the key for this URL passes.
func FuzzAccessKeyToken(f *testing.F) {
	const secret = "fuzz-access-key-0123456789abcdef0123456789"
	keys, err := NewAccessKeys(AccessKey{Value: secret})
	if err != nil {
		f.Fatal(err)
	}
	good, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"aud": "http://h.test/api/hubs/x", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(secret))
	f.Add(good, "http://h.test/api/hubs/x?api-version=2022-06-01")
	f.Add("eyJhbGciOiJub25lIn0.eyJhdWQiOiJ4In0.", "http://[::1]:80/client/?hub=a")
	f.Add("a.b.c", "%zz")
	f.Fuzz(func(t *testing.T, token, aud string) {
		r := httptest.NewRequest("POST", "http://h.test/api/hubs/x", nil)
		_ = MatchAudience(aud, r, "https://public.test", "/api/hubs/x", nil)
		claims, err := keys.Verify(token, "x", func(a string) bool { return MatchAudience(a, r, "", "/api/hubs/x", nil) })
		if err == nil {
			// Only a token really signed with the key gets here.
			if _, perr := jwt.Parse(token, func(*jwt.Token) (any, error) { return []byte(secret), nil }, jwt.WithValidMethods([]string{"HS256"})); perr != nil {
				t.Fatalf("accepted a token the key did not sign: %v (%v)", claims, perr)
			}
		}
		_, _ = ParseAccessKey(token)
	})
}
