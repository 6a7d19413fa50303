package export

import (
	"fmt"
	"strings"
)

// sqlRef is one :name reference in a dataset's SQL.
type sqlRef struct {
	name       string
	start, end int // byte offsets of ":name"
}

// scanParams finds the :name references of sql. It skips quoted strings
// (single-quoted, a doubled quote escaping one), quoted identifiers ("…" and `…`), comments (-- to
// the end of the line, /* … */), PostgreSQL casts (::type) and
// dollar-quoted strings ($tag$…$tag$), so that a colon inside any of them
// is never taken for a parameter.
func scanParams(sql string) ([]sqlRef, error) {
	var refs []sqlRef
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			j := closeQuote(sql, i+1, c)
			if j < 0 {
				return nil, fmt.Errorf("unterminated %c quote at offset %d", c, i)
			}
			i = j + 1
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			j := strings.IndexByte(sql[i:], '\n')
			if j < 0 {
				return refs, nil
			}
			i += j + 1
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			j := strings.Index(sql[i+2:], "*/")
			if j < 0 {
				return nil, fmt.Errorf("unterminated comment at offset %d", i)
			}
			i += j + 4
		case c == '$':
			i = skipDollarQuote(sql, i)
		case c == ':' && strings.HasPrefix(sql[i:], "::"):
			i += 2
		case c == ':' && i+1 < len(sql) && isIdentStart(sql[i+1]):
			j := i + 1
			for j < len(sql) && isIdentPart(sql[j]) {
				j++
			}
			refs = append(refs, sqlRef{name: sql[i+1 : j], start: i, end: j})
			i = j
		default:
			i++
		}
	}
	return refs, nil
}

// closeQuote returns the index of the quote q that closes a quoted run
// starting at i, treating a doubled quote as an escaped one; -1 if none.
func closeQuote(s string, i int, q byte) int {
	for i < len(s) {
		j := strings.IndexByte(s[i:], q)
		if j < 0 {
			return -1
		}
		i += j
		if i+1 < len(s) && s[i+1] == q {
			i += 2
			continue
		}
		return i
	}
	return -1
}

// skipDollarQuote skips a PostgreSQL dollar-quoted string at i ($$…$$ or
// $tag$…$tag$); a $ that does not open one (as in $1) is skipped alone.
func skipDollarQuote(s string, i int) int {
	j := i + 1
	for j < len(s) && isIdentPart(s[j]) && !(s[j] >= '0' && s[j] <= '9' && j == i+1) {
		j++
	}
	if j >= len(s) || s[j] != '$' {
		return i + 1
	}
	tag := s[i : j+1]
	k := strings.Index(s[j+1:], tag)
	if k < 0 {
		return len(s)
	}
	return j + 1 + k + len(tag)
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentPart(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }
