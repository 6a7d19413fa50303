package rest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// BenchmarkSendToUser is the server's cost of one REST send (token check, body, publish) with no
// receiver, beside the same send through the hub's Clients API.
func BenchmarkSendToUser(b *testing.B) {
	mux, h := newTestMux(b)
	const secret = testSecret
	url := "http://herald.test/api/hubs/orders/users/alice/:send"
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"aud": url, "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(secret))
	body := `{"target":"m","arguments":["` + strings.Repeat("x", 100) + `"]}`
	b.Run("rest", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest("POST", url+"?api-version=2022-06-01", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code != http.StatusAccepted {
				b.Fatal(rec.Code, rec.Body.String())
			}
		}
	})
	b.Run("hub", func(b *testing.B) {
		b.ReportAllocs()
		arg := strings.Repeat("x", 100)
		for b.Loop() {
			if err := h.Clients().User("alice").Send(b.Context(), "m", arg); err != nil {
				b.Fatal(err)
			}
		}
	})
}
