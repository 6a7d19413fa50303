package api

import (
	_ "embed" // the OpenAPI document
	"net/http"
	"strconv"
)

// openAPI is the OpenAPI 3.1 document of Herald's REST endpoints, written by hand. The app's
// OpenAPI test checks that its operations and the server's routes are the same set.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPIHandler serves the OpenAPI document: GET /api/openapi.json.
func OpenAPIHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Length", strconv.Itoa(len(openAPI)))
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(openAPI) // the status line is out: a failed write means the client went away
	})
}
