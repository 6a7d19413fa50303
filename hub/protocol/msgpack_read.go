package protocol

import (
	"encoding/binary"
	"fmt"
	"math"
)

// maxNestingDepth bounds how deeply arrays and maps may nest inside one MessagePack value, as the
// .NET server does for untrusted data (MessagePackSecurity.UntrustedData allows 500). It keeps the
// recursive decoders, ours and the library's, far from exhausting the stack.
const maxNestingDepth = 500

// mpReader reads the MessagePack values of one record. Every length it reads is checked against the
// bytes that remain before anything is allocated for it: a claimed array of n elements needs at least
// n bytes, a map of n entries at least 2n.
type mpReader struct {
	b   []byte
	off int

	// trackExtMaps asks skip to refuse extension values other than timestamps and to note the
	// offsets of timestamps in extMaps (see mpDefuseExtMaps).
	trackExtMaps bool
	extMaps      []int
}

func mpErrf(format string, args ...any) error {
	return &Error{Msg: fmt.Sprintf(format, args...)}
}

func (r *mpReader) remaining() int { return len(r.b) - r.off }

func (r *mpReader) peek() (byte, error) {
	if r.off >= len(r.b) {
		return 0, mpErrf("Unexpected end of MessagePack data.")
	}
	return r.b[r.off], nil
}

func (r *mpReader) next(n int) ([]byte, error) {
	if n < 0 || n > r.remaining() {
		return nil, mpErrf("Unexpected end of MessagePack data.")
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p, nil
}

// uintN reads a big-endian unsigned integer of size bytes (1, 2, 4 or 8).
func (r *mpReader) uintN(size int) (uint64, error) {
	p, err := r.next(size)
	if err != nil {
		return 0, err
	}
	switch size {
	case 1:
		return uint64(p[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(p)), nil
	}
	return binary.BigEndian.Uint64(p), nil
}

// containerLen reads an array (isMap false) or map header. nil gives -1 when allowNil is set.
func (r *mpReader) containerLen(field string, isMap, allowNil bool) (int, error) {
	c, err := r.peek()
	if err != nil {
		return 0, err
	}
	r.off++
	var n uint64
	kind := "Array"
	if isMap {
		kind = "Map"
	}
	switch {
	case c == 0xc0 && allowNil:
		return -1, nil
	case !isMap && c >= 0x90 && c <= 0x9f:
		n = uint64(c & 0x0f)
	case isMap && c >= 0x80 && c <= 0x8f:
		n = uint64(c & 0x0f)
	case !isMap && c == 0xdc, isMap && c == 0xde:
		n, err = r.uintN(2)
	case !isMap && c == 0xdd, isMap && c == 0xdf:
		n, err = r.uintN(4)
	default:
		return 0, mpErrf("Reading '%s' as %s failed: unexpected MessagePack code 0x%02x.", field, kind, c)
	}
	if err != nil {
		return 0, err
	}
	need := n
	if isMap {
		need = 2 * n
	}
	if need > uint64(r.remaining()) {
		return 0, mpErrf("Reading '%s' as %s failed: it claims %d elements but only %d bytes remain.", field, kind, n, r.remaining())
	}
	return int(n), nil
}

// str reads a string; nil gives isNil when allowNil is set.
func (r *mpReader) str(field string, allowNil bool) (s string, isNil bool, err error) {
	c, err := r.peek()
	if err != nil {
		return "", false, err
	}
	r.off++
	var n uint64
	switch {
	case c >= 0xa0 && c <= 0xbf:
		n = uint64(c & 0x1f)
	case c == 0xd9:
		n, err = r.uintN(1)
	case c == 0xda:
		n, err = r.uintN(2)
	case c == 0xdb:
		n, err = r.uintN(4)
	case c == 0xc0 && allowNil:
		return "", true, nil
	default:
		return "", false, mpErrf("Reading '%s' as String failed: unexpected MessagePack code 0x%02x.", field, c)
	}
	if err != nil {
		return "", false, err
	}
	if n > uint64(r.remaining()) {
		return "", false, mpErrf("Reading '%s' as String failed: unexpected end of data.", field)
	}
	p, _ := r.next(int(n))
	return string(p), false, nil
}

// integer reads any MessagePack integer that fits in an int64.
func (r *mpReader) integer(field string) (int64, error) {
	c, err := r.peek()
	if err != nil {
		return 0, err
	}
	r.off++
	switch {
	case c <= 0x7f:
		return int64(c), nil
	case c >= 0xe0:
		return int64(int8(c)), nil
	}
	var u uint64
	switch c {
	case 0xcc, 0xd0:
		u, err = r.uintN(1)
	case 0xcd, 0xd1:
		u, err = r.uintN(2)
	case 0xce, 0xd2:
		u, err = r.uintN(4)
	case 0xcf, 0xd3:
		u, err = r.uintN(8)
	default:
		return 0, mpErrf("Reading '%s' as Integer failed: unexpected MessagePack code 0x%02x.", field, c)
	}
	if err != nil {
		return 0, err
	}
	switch c {
	case 0xd0:
		return int64(int8(u)), nil
	case 0xd1:
		return int64(int16(u)), nil
	case 0xd2:
		return int64(int32(u)), nil
	case 0xd3:
		return int64(u), nil
	}
	if u > math.MaxInt64 {
		return 0, mpErrf("Reading '%s' as Integer failed: %d is too large.", field, u)
	}
	return int64(u), nil
}

// optBool reads a boolean; nil reads as false.
func (r *mpReader) optBool(field string) (bool, error) {
	c, err := r.peek()
	if err != nil {
		return false, err
	}
	r.off++
	switch c {
	case 0xc0, 0xc2:
		return false, nil
	case 0xc3:
		return true, nil
	}
	return false, mpErrf("Reading '%s' as Boolean failed: unexpected MessagePack code 0x%02x.", field, c)
}

// skip steps over one complete value, checking every length and the nesting depth.
func (r *mpReader) skip(depth int) error {
	start := r.off
	c, err := r.peek()
	if err != nil {
		return err
	}
	r.off++
	switch {
	case c <= 0x7f || c >= 0xe0: // positive and negative fixint
		return nil
	case c <= 0x8f: // fixmap
		return r.skipElems(2*int(c&0x0f), depth)
	case c <= 0x9f: // fixarray
		return r.skipElems(int(c&0x0f), depth)
	case c <= 0xbf: // fixstr
		_, err = r.next(int(c & 0x1f))
		return err
	}
	var n uint64
	switch c {
	case 0xc0, 0xc2, 0xc3: // nil, false, true
		return nil
	case 0xc4, 0xd9: // bin8, str8
		n, err = r.uintN(1)
	case 0xc5, 0xda: // bin16, str16
		n, err = r.uintN(2)
	case 0xc6, 0xdb: // bin32, str32
		n, err = r.uintN(4)
	case 0xc7, 0xc8, 0xc9: // ext8, ext16, ext32: length, then a type byte and the data
		n, err = r.uintN(1 << (c - 0xc7))
		n++
	case 0xcc, 0xd0:
		n = 1
	case 0xcd, 0xd1:
		n = 2
	case 0xca, 0xce, 0xd2:
		n = 4
	case 0xcb, 0xcf, 0xd3:
		n = 8
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16, plus the type byte
		n = 1<<(c-0xd4) + 1
	case 0xdc, 0xde: // array16, map16
		n, err = r.uintN(2)
		if err == nil && c == 0xde {
			n *= 2
		}
		if err != nil {
			return err
		}
		return r.skipElems64(n, depth)
	case 0xdd, 0xdf: // array32, map32
		n, err = r.uintN(4)
		if err == nil && c == 0xdf {
			n *= 2
		}
		if err != nil {
			return err
		}
		return r.skipElems64(n, depth)
	default: // 0xc1 is never used
		return mpErrf("Invalid MessagePack code 0x%02x.", c)
	}
	if err != nil {
		return err
	}
	if n > uint64(r.remaining()) {
		return mpErrf("Unexpected end of MessagePack data.")
	}
	if r.trackExtMaps && (c >= 0xc7 && c <= 0xc9 || c >= 0xd4 && c <= 0xd8) {
		// The decoder reads an extension's data as a value when the target is not a time, and
		// trusts any length that data claims. The hub protocol knows one extension, the timestamp
		// (type -1): others are refused, timestamps are rewritten to a form whose data claims
		// nothing (see mpDefuseExtMaps).
		if t := r.b[r.off]; t != 0xff { // r.b[r.off] is the extension type
			return mpErrf("Unsupported MessagePack extension type %d.", int8(t))
		}
		r.extMaps = append(r.extMaps, start)
	}
	r.off += int(n)
	return nil
}

func (r *mpReader) skipElems64(n uint64, depth int) error {
	if n > uint64(r.remaining()) {
		return mpErrf("A MessagePack container claims %d elements but only %d bytes remain.", n, r.remaining())
	}
	return r.skipElems(int(n), depth)
}

func (r *mpReader) skipElems(n, depth int) error {
	if n == 0 {
		return nil
	}
	if depth >= maxNestingDepth {
		return mpErrf("MessagePack values nest deeper than %d levels.", maxNestingDepth)
	}
	if n > r.remaining() {
		return mpErrf("A MessagePack container claims %d elements but only %d bytes remain.", n, r.remaining())
	}
	for range n {
		if err := r.skip(depth + 1); err != nil {
			return err
		}
	}
	return nil
}

// raw reads one user value as a copied RawValue.
func (r *mpReader) raw(field string) (RawValue, error) {
	start := r.off
	if err := r.skip(0); err != nil {
		return nil, mpErrf("Reading '%s' failed: %v", field, err)
	}
	return RawValue(append([]byte(nil), r.b[start:r.off]...)), nil
}

// headers reads the headers map. nil and an empty map give a nil map.
func (r *mpReader) headers() (map[string]string, error) {
	n, err := r.containerLen("headers", true, true)
	if err != nil || n <= 0 {
		return nil, err
	}
	h := make(map[string]string, n)
	for range n {
		k, _, err := r.str("header key", false)
		if err != nil {
			return nil, err
		}
		v, _, err := r.str("header value", false)
		if err != nil {
			return nil, err
		}
		h[k] = v
	}
	return h, nil
}

// arguments reads the arguments array as RawValues sharing one copied buffer. It is never nil.
func (r *mpReader) arguments() ([]any, error) {
	n, err := r.containerLen("arguments", false, false)
	if err != nil {
		return nil, err
	}
	args := make([]any, 0, n)
	if n == 0 {
		return args, nil
	}
	start := r.off
	for range n {
		if err := r.skip(1); err != nil {
			return nil, mpErrf("Reading 'arguments' failed: %v", err)
		}
	}
	buf := append([]byte(nil), r.b[start:r.off]...)
	sub := mpReader{b: buf}
	for range n {
		s := sub.off
		_ = sub.skip(1) // already checked above
		args = append(args, RawValue(buf[s:sub.off:sub.off]))
	}
	return args, nil
}

// streamIDs reads the stream ids array (nil allowed). An empty array gives nil.
func (r *mpReader) streamIDs() ([]string, error) {
	n, err := r.containerLen("streamIds", false, true)
	if err != nil || n <= 0 {
		return nil, err
	}
	ids := make([]string, 0, n)
	for range n {
		s, _, err := r.str("streamIds", false)
		if err != nil {
			return nil, err
		}
		ids = append(ids, s)
	}
	return ids, nil
}

// invocationID reads a required, non-empty invocation id.
func (r *mpReader) invocationID() (string, error) {
	id, _, err := r.str("invocationId", false)
	if err == nil && id == "" {
		err = mpErrf("Property 'invocationId' must not be empty.")
	}
	return id, err
}
