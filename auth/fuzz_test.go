package auth

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzParseToken checks that no input panics and every refusal is a coded *Error.
func FuzzParseToken(f *testing.F) {
	a, err := New(f.Context(), Config{Secret: testSecret})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(a.Close)
	valid, err := a.Mint("alice", []string{"admin"}, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "x"}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{valid, none, "", ".", "..", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.", valid + "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		id, err := a.ParseToken(token)
		if err == nil {
			if id == nil || id.UserID == "" {
				t.Fatalf("accepted %q without a user", token)
			}
			return
		}
		var ae *Error
		if !errors.As(err, &ae) || ae.Code == "" || ae.Message == "" {
			t.Fatalf("ParseToken(%q) = %v, want a coded *Error", token, err)
		}
	})
}
