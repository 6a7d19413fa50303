package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// The helpers in this file walk JSON text that encoding/json has already validated (json.Valid), so
// they only need to find where values start and end, not to check the grammar. Walking by hand keeps
// property names case-sensitive (as the spec says), keeps every user value as its exact bytes, and
// avoids the allocations of decoding into an intermediate struct.

// jsonSkipSpace returns the index of the first non-whitespace byte of b at or after i.
func jsonSkipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// jsonStringEnd returns the index just past the string literal that starts at b[i] (a quote).
func jsonStringEnd(b []byte, i int) int {
	i++
	for i < len(b) {
		switch b[i] {
		case '\\':
			i += 2
		case '"':
			return i + 1
		default:
			i++
		}
	}
	return len(b)
}

// jsonValueEnd returns the index just past the value that starts at b[i].
func jsonValueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return jsonStringEnd(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = jsonStringEnd(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default:
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// jsonObject checks that rec is exactly one JSON object and returns it without surrounding
// whitespace.
func jsonObject(rec []byte) ([]byte, error) {
	if !json.Valid(rec) {
		msg := "invalid JSON"
		var probe json.RawMessage
		if err := json.Unmarshal(rec, &probe); err != nil {
			msg = err.Error()
		}
		return nil, &Error{Msg: "Error reading JSON: " + msg + "."}
	}
	i := jsonSkipSpace(rec, 0)
	if rec[i] != '{' {
		return nil, &Error{Msg: "Unexpected JSON token. Expected a JSON object."}
	}
	return rec[i:jsonValueEnd(rec, i)], nil
}

// jsonWalkObject calls fn with the raw key (quotes included) and raw value of every member of the
// object obj, which must be a valid JSON object with no surrounding whitespace.
func jsonWalkObject(obj []byte, fn func(key, val []byte) error) error {
	i := 1
	for {
		i = jsonSkipSpace(obj, i)
		if obj[i] == '}' {
			return nil
		}
		if obj[i] == ',' {
			i = jsonSkipSpace(obj, i+1)
		}
		keyEnd := jsonStringEnd(obj, i)
		key := obj[i:keyEnd]
		i = jsonSkipSpace(obj, keyEnd) + 1 // the colon
		i = jsonSkipSpace(obj, i)
		valEnd := jsonValueEnd(obj, i)
		if err := fn(key, obj[i:valEnd]); err != nil {
			return err
		}
		i = valEnd
	}
}

// jsonWalkArray calls fn with every element of the array arr, which must be a valid JSON array with
// no surrounding whitespace.
func jsonWalkArray(arr []byte, fn func(elem []byte) error) error {
	i := 1
	for {
		i = jsonSkipSpace(arr, i)
		if arr[i] == ']' {
			return nil
		}
		if arr[i] == ',' {
			i = jsonSkipSpace(arr, i+1)
		}
		end := jsonValueEnd(arr, i)
		if err := fn(arr[i:end]); err != nil {
			return err
		}
		i = end
	}
}

// jsonUnquote returns the string that the literal lit (quotes included) encodes.
func jsonUnquote(lit []byte) (string, error) {
	inner := lit[1 : len(lit)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), nil
	}
	var s string
	if err := json.Unmarshal(lit, &s); err != nil {
		return "", &Error{Msg: "Invalid JSON string: " + err.Error()}
	}
	return s, nil
}

// jsonKey returns the text of a key (quotes included in key).
func jsonKey(key []byte) string {
	s, err := jsonUnquote(key)
	if err != nil { // cannot happen: the record was validated
		return ""
	}
	return s
}

func jsonIsNull(raw []byte) bool { return len(raw) == 4 && string(raw) == "null" }

func errMissing(name string) error {
	return &Error{Msg: fmt.Sprintf("Missing required property '%s'.", name)}
}

func errType(name, typ string) error {
	return &Error{Msg: fmt.Sprintf("Expected '%s' to be of type %s.", name, typ)}
}

// jsonString decodes a required string property.
func jsonString(raw []byte, name string) (string, error) {
	if raw == nil {
		return "", errMissing(name)
	}
	if raw[0] != '"' {
		return "", errType(name, "String")
	}
	return jsonUnquote(raw)
}

// jsonOptString decodes an optional string property; absent and null give "".
func jsonOptString(raw []byte, name string) (string, error) {
	if raw == nil || jsonIsNull(raw) {
		return "", nil
	}
	return jsonString(raw, name)
}

// jsonNonEmptyString decodes a required string property that must not be empty or null.
func jsonNonEmptyString(raw []byte, name string) (string, error) {
	if raw == nil || jsonIsNull(raw) {
		return "", errMissing(name)
	}
	s, err := jsonString(raw, name)
	if err == nil && s == "" {
		err = &Error{Msg: fmt.Sprintf("Property '%s' must not be empty.", name)}
	}
	return s, err
}

// jsonInt decodes a required integer property. Integral numbers written with a fraction or an
// exponent (1.0, 1e3) are accepted, as a JavaScript peer cannot tell them apart.
func jsonInt(raw []byte, name string) (int64, error) {
	if raw == nil {
		return 0, errMissing(name)
	}
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		return 0, errType(name, "Integer")
	}
	if n, ok := jsonSmallInt(raw); ok {
		return n, nil
	}
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f != float64(int64(f)) || f >= 1<<63 || f < -(1<<63) {
		return 0, errType(name, "Integer")
	}
	return int64(f), nil
}

// jsonSmallInt parses a plain integer of up to 18 digits without allocating.
func jsonSmallInt(raw []byte) (int64, bool) {
	digits, neg := raw, false
	if len(digits) > 0 && digits[0] == '-' {
		digits, neg = digits[1:], true
	}
	if len(digits) == 0 || len(digits) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// jsonOptBool decodes an optional boolean property; absent and null give false.
func jsonOptBool(raw []byte, name string) (bool, error) {
	switch string(raw) {
	case "", "null", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, errType(name, "Boolean")
}

// jsonHeaders decodes the optional headers object. An empty object gives a nil map.
func jsonHeaders(raw []byte) (map[string]string, error) {
	if raw == nil || jsonIsNull(raw) {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, errType("headers", "Object")
	}
	var h map[string]string
	err := jsonWalkObject(raw, func(key, val []byte) error {
		k := jsonKey(key)
		if val[0] != '"' {
			return &Error{Msg: fmt.Sprintf("Expected header %q to be of type String.", k)}
		}
		v, err := jsonUnquote(val)
		if err != nil {
			return err
		}
		if h == nil {
			h = make(map[string]string)
		}
		h[k] = v
		return nil
	})
	return h, err
}

// jsonArguments decodes the required arguments array into RawValues that share one copied buffer.
// The result is never nil.
func jsonArguments(raw []byte) ([]any, error) {
	if raw == nil {
		return nil, errMissing("arguments")
	}
	if raw[0] != '[' {
		return nil, errType("arguments", "Array")
	}
	n := 0
	_ = jsonWalkArray(raw, func([]byte) error { n++; return nil })
	args := make([]any, 0, n)
	if n == 0 {
		return args, nil
	}
	buf := bytes.Clone(raw)
	_ = jsonWalkArray(buf, func(elem []byte) error {
		args = append(args, RawValue(elem[:len(elem):len(elem)]))
		return nil
	})
	return args, nil
}

// jsonStreamIDs decodes the optional streamIds array. An empty array gives nil.
func jsonStreamIDs(raw []byte) ([]string, error) {
	if raw == nil || jsonIsNull(raw) {
		return nil, nil
	}
	if raw[0] != '[' {
		return nil, errType("streamIds", "Array")
	}
	var ids []string
	err := jsonWalkArray(raw, func(elem []byte) error {
		if elem[0] != '"' {
			return errType("streamIds", "Array of String")
		}
		id, err := jsonUnquote(elem)
		ids = append(ids, id)
		return err
	})
	return ids, err
}

// jsonRaw copies a user value.
func jsonRaw(raw []byte) RawValue {
	return RawValue(bytes.Clone(raw))
}
