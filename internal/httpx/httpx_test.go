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
