package rest

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzManagementRequest sends the API whatever method, path, query and body, with a valid token
// for the URL: it must answer with a status of the API's contract, never a 500 or a panic.
func FuzzManagementRequest(f *testing.F) {
	mux, _ := newTestMux(f)
	const secret = testSecret
	for _, seed := range []struct{ method, path, query, body string }{
		{"POST", "/api/hubs/orders/:send", "api-version=2022-06-01", `{"target":"m","arguments":[1,"a",{"b":null}]}`},
		{"POST", "/api/hubs/orders/users/alice/:send", "", `{"target":"m"}`},
		{"POST", "/api/hubs/orders/groups/g/:send", "excluded=a&excluded=b", `{"target":"","arguments":{}}`},
		{"PUT", "/api/hubs/orders/users/alice/groups/g", "ttl=10", ""},
		{"PUT", "/api/hubs/orders/users/alice/groups/g", "ttl=-1", ""},
		{"DELETE", "/api/hubs/orders/users/alice/groups", "", ""},
		{"HEAD", "/api/hubs/orders/connections/x", "", ""},
		{"POST", "/api/hubs/orders/:closeConnections", "reason=bye", ""},
		{"POST", "/api/v1/hubs/orders/groups/g%2Fh", "", `{"target":"m","arguments":[1e400]}`},
		{"GET", "/api/hubs/Orders/groups/g", "application=app", ""},
	} {
		f.Add(seed.method, seed.path, seed.query, seed.body)
	}
	methods := map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "DELETE": true}
	allowed := map[int]bool{200: true, 202: true, 204: true, 400: true, 401: true, 403: true, 404: true, 405: true, 413: true, 415: true}
	f.Fuzz(func(t *testing.T, method, path, query, body string) {
		if !methods[method] || !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " ?#\r\n\t") {
			return
		}
		u, err := url.Parse("http://herald.test" + path + "?" + query)
		if err != nil {
			return
		}
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"aud": "http://herald.test" + u.EscapedPath(), "exp": time.Now().Add(time.Minute).Unix(),
		}).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequest(method, u.String(), strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if !allowed[rec.Code] && !(rec.Code == 301 || rec.Code == 307 || rec.Code == 308) {
			t.Fatalf("%s %s?%s %q: status %d: %s", method, path, query, body, rec.Code, rec.Body.String())
		}
	})
}
