// Package httpx holds the small HTTP helpers every Herald handler shares: the JSON error envelope
// and JSON replies.
package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"
)

// ErrorBody is the JSON envelope of every error reply: {"error":{"code":"…","message":"…"}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is a stable machine code and a message safe to show a user.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Details lists what is wrong, field by field, when there is more than one thing.
	Details any `json:"details,omitempty"`
}

// WriteError writes the JSON error envelope with the given status.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	WriteJSON(w, status, ErrorBody{Error: ErrorDetail{Code: code, Message: message}})
}

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// Not HTML-escaped: a signed link's "&" must stay "&", or a URL copied from the output fails.
	// The replies are application/json with nosniff, never HTML.
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	// The status line is out: a failed write means the client went away; nothing more to do.
	_ = enc.Encode(v)
}

// DescribeJSONError turns an error of encoding/json's Decoder into a sentence for the client that
// sent the body, without the library's wording or Go type names.
func DescribeJSONError(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return "The body is empty."
	case errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &syntax):
		return "The body is not valid JSON."
	case errors.As(err, &tooLarge):
		return fmt.Sprintf("The body is larger than %d bytes.", tooLarge.Limit)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fmt.Sprintf("The body must be %s, not %s.", jsonKind(typ.Type), jsonValue(typ.Value))
		}
		return fmt.Sprintf("%q must be %s, not %s.", typ.Field, jsonKind(typ.Type), jsonValue(typ.Value))
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "Unknown field " + field + "."
	}
	return "The body could not be read as JSON."
}

// jsonValue names what a client sent, from json.UnmarshalTypeError.Value ("string", "number 1.5").
func jsonValue(v string) string {
	if n, ok := strings.CutPrefix(v, "number "); ok {
		return n
	}
	switch v {
	case "bool":
		return "true or false"
	case "array", "object":
		return "an " + v
	}
	return "a " + v
}

// jsonKind names what a Go type looks like in JSON.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another kind of value"
}

// NotFound serves mux, answering what matches no route with the JSON error envelope: 404
// not_found, or 405 method_not_allowed (with its Allow header) for a path that other methods
// serve. The plain-text replies of http.ServeMux are replaced.
func NotFound(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(&jsonRefusal{w: w}, r)
	})
}

// jsonRefusal turns the ServeMux's plain-text 404 or 405 into the JSON envelope.
type jsonRefusal struct {
	w       http.ResponseWriter
	written bool
}

func (j *jsonRefusal) Header() http.Header { return j.w.Header() }

func (j *jsonRefusal) WriteHeader(status int) {
	if j.written {
		return
	}
	j.written = true
	j.w.Header().Del("Content-Type")
	j.w.Header().Del("X-Content-Type-Options")
	if status == http.StatusMethodNotAllowed {
		WriteError(j.w, status, "method_not_allowed", "This endpoint does not take that method; see the Allow header.")
		return
	}
	WriteError(j.w, http.StatusNotFound, "not_found", "No such endpoint.")
}

func (j *jsonRefusal) Write(b []byte) (int, error) {
	if !j.written {
		j.WriteHeader(http.StatusNotFound)
	}
	return len(b), nil // the ServeMux's text is dropped
}

// Deadlines bounds the requests h serves: reading a request (its body) may take read, writing
// the reply write. Requests streaming says are streams (a download) get neither: a read deadline
// that passes while a handler still runs cancels its request's context (net/http's background
// read fails), so a handler must finish within read. A slow client's request then ends instead of
// holding its connection; the server's ReadHeaderTimeout and IdleTimeout bound the rest. A zero
// duration sets no deadline.
func Deadlines(h http.Handler, read, write time.Duration, streaming func(*http.Request) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if streaming == nil || !streaming(r) {
			rc := http.NewResponseController(w)
			now := time.Now()
			// Not every ResponseWriter supports deadlines (a test's recorder): then none are set.
			if read > 0 {
				_ = rc.SetReadDeadline(now.Add(read))
			}
			if write > 0 {
				_ = rc.SetWriteDeadline(now.Add(write))
			}
		}
		h.ServeHTTP(w, r)
	})
}
