package httpx

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDescribeJSONError(t *testing.T) {
	t.Parallel()
	type body struct {
		Steps int      `json:"steps"`
		Name  string   `json:"name"`
		Tags  []string `json:"tags"`
	}
	for in, want := range map[string]string{
		``:                "The body is empty.",
		`{"steps":`:       "The body is not valid JSON.",
		`{steps: 1}`:      "The body is not valid JSON.",
		`{"steps":"ten"}`: `"steps" must be a whole number, not a string.`,
		`{"steps":1.5}`:   `"steps" must be a whole number, not 1.5.`,
		`{"name":5}`:      `"name" must be a string, not a number.`,
		`{"name":true}`:   `"name" must be a string, not true or false.`,
		`{"tags":"x"}`:    `"tags" must be an array, not a string.`,
		`[1]`:             "The body must be an object, not an array.",
		`{"nope":1}`:      `Unknown field "nope".`,
		`{"name":"` + strings.Repeat("x", 100) + `"}`: "The body is larger than 50 bytes.",
	} {
		rec := httptest.NewRecorder()
		dec := json.NewDecoder(http.MaxBytesReader(rec, readCloser(in), 50))
		dec.DisallowUnknownFields()
		var v body
		err := dec.Decode(&v)
		require.Error(t, err, in)
		got := DescribeJSONError(err)
		require.Equal(t, want, got, in)
		require.NotContains(t, got, "json:", "no library wording")
		require.NotContains(t, got, "httpx.", "no Go type names")
	}
}

type stringBody struct{ *strings.Reader }

func (stringBody) Close() error { return nil }

func readCloser(s string) stringBody { return stringBody{strings.NewReader(s)} }

func TestNotFoundAndMethodNotAllowedAreJSON(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /things/{id}", func(w http.ResponseWriter, _ *http.Request) { WriteJSON(w, 200, map[string]string{"ok": "1"}) })
	h := NotFound(mux)
	for _, c := range []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"GET", "/things/1", 200, "", ""},
		{"GET", "/nothing", 404, "not_found", ""},
		{"DELETE", "/things/1", 405, "method_not_allowed", "GET, HEAD"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		require.Equal(t, c.status, rec.Code, c.path)
		if c.code == "" {
			continue
		}
		require.Equal(t, "application/json; charset=utf-8", rec.Header().Get("Content-Type"))
		var body ErrorBody
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
		require.Equal(t, c.code, body.Error.Code)
		require.Equal(t, c.allow, rec.Header().Get("Allow"))
	}
}

// TestJSONKeepsAmpersands: a signed link in a reply can be copied from curl's output as it is.
func TestJSONKeepsAmpersands(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteJSON(rec, 200, map[string]string{"downloadUrl": "/api/downloads/x?expires=1&name=a<b>&sig=z"})
	require.Equal(t, `{"downloadUrl":"/api/downloads/x?expires=1&name=a<b>&sig=z"}`+"\n", rec.Body.String())
}
