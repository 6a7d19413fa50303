package storage

import (
	"path"
	"strings"
	"unicode/utf8"
)

// attachment builds a Content-Disposition value for downloading as name, per RFC 6266: an
// ASCII filename= fallback for old clients, plus filename*= (RFC 5987/8187 UTF-8
// percent-encoding) when the name is not plain ASCII. Browsers prefer filename*.
func attachment(name string) string {
	name = sanitizeName(name)
	fallback, exact := asciiFallback(name)
	v := `attachment; filename="` + fallback + `"`
	if !exact {
		v += "; filename*=UTF-8''" + encode5987(name)
	}
	return v
}

// sanitizeName strips directories and characters no file name should carry; an empty
// result becomes "download".
func sanitizeName(name string) string {
	name = strings.ToValidUTF8(name, "_")
	name = strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || r == 0x7f:
			return -1
		case r == '/' || r == '\\':
			return '_'
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if name == "" || name == "." || name == ".." {
		return "download"
	}
	return name
}

// asciiFallback replaces what cannot go in a quoted-string ASCII filename with '_' and says
// whether nothing had to be replaced.
func asciiFallback(name string) (string, bool) {
	var b strings.Builder
	exact := true
	for _, r := range name {
		if r >= 0x20 && r < 0x7f && r != '"' && r != '\\' && r != '%' {
			b.WriteRune(r)
			continue
		}
		exact = false
		b.WriteByte('_')
	}
	return b.String(), exact
}

// encode5987 percent-encodes name's UTF-8 bytes except RFC 5987 attr-char.
func encode5987(name string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if attrChar(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

func attrChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}

// defaultName is the download name when the caller gives none: the key's last segment.
func defaultName(key, name string) string {
	if name != "" && utf8.ValidString(name) {
		return name
	}
	return path.Base(key)
}
