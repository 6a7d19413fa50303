package storage

import (
	"fmt"
	"strings"
)

// maxKeyLen leaves room under every provider's limit (S3 1,024 bytes, Azure 1,024 characters)
// and under common file name limits once split into path segments.
const maxKeyLen = 512

// ValidateKey reports whether key is safe to use as an object key: 1 to 512 bytes of segments
// separated by "/", each segment made of ASCII letters, digits, '.', '_', '-' and '=', not
// starting with '.', and the key not ending in ".attrs" or ".tmp" (names fileblob uses for
// its own files). So no "..", no absolute paths, no backslashes, no empty segments, and no
// character any provider escapes, which keeps file, Azure and S3 names identical and lets
// keys travel in URL paths unescaped. The error wraps ErrInvalidKey.
func ValidateKey(key string) error {
	if key == "" || len(key) > maxKeyLen {
		return fmt.Errorf("%w: length %d not in 1..%d", ErrInvalidKey, len(key), maxKeyLen)
	}
	if strings.HasSuffix(key, ".attrs") || strings.HasSuffix(key, ".tmp") {
		return fmt.Errorf("%w: %q ends in a reserved suffix", ErrInvalidKey, key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" {
			return fmt.Errorf("%w: %q has an empty path segment", ErrInvalidKey, key)
		}
		if seg[0] == '.' {
			return fmt.Errorf("%w: %q has a segment starting with '.'", ErrInvalidKey, key)
		}
		for i := 0; i < len(seg); i++ {
			if !keyByte(seg[i]) {
				return fmt.Errorf("%w: %q has a disallowed character %q", ErrInvalidKey, key, seg[i])
			}
		}
	}
	return nil
}

func keyByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	case c == '.', c == '_', c == '-', c == '=':
		return true
	}
	return false
}

// validatePrefix checks a List prefix: "" or a key prefix whose complete segments are valid.
// A trailing partial segment is allowed ("exports/ab" matches "exports/abc/…").
func validatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	// Checking prefix+"x" accepts a trailing "/" and a partial last segment while rejecting
	// everything ValidateKey rejects inside the prefix.
	if err := ValidateKey(prefix + "x"); err != nil {
		return fmt.Errorf("prefix %q: %w", prefix, err)
	}
	return nil
}
