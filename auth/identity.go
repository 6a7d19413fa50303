package auth

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// AdminRole is the operators' role: it reads and cancels every user's tasks (api) and reaches the
// operators' routes (admin). One name, so that the two cannot drift apart.
const AdminRole = "admin"

// Identity is who made a request.
type Identity struct {
	// UserID is the value of the configured user claim.
	UserID string
	// Roles are the values of the configured role claim; nil when there is none.
	Roles []string
	// Claims holds every claim of the token, as decoded from JSON.
	Claims map[string]any
}

// HasRole reports whether the identity has the role. A nil identity has none.
func (i *Identity) HasRole(role string) bool {
	return i != nil && slices.Contains(i.Roles, role)
}

// Bounds on what a token or a dev login may carry; ids go into group names and logs.
const (
	// MaxUserIDLen bounds user ids in tokens, in characters (OpenID Connect allows sub up to 255).
	MaxUserIDLen = 255
	// MaxDevUserIDLen bounds user ids given to the dev login, in characters.
	MaxDevUserIDLen = 128
	// MaxRoles bounds how many roles an identity may have.
	MaxRoles = 64
	// MaxRoleLen bounds one role, in characters.
	MaxRoleLen = 128
)

// identityFromClaims builds the identity of a verified token.
func identityFromClaims(claims map[string]any, userClaim, roleClaim string) (*Identity, error) {
	rawUser, ok := lookupClaim(claims, userClaim)
	if !ok {
		return nil, invalid(fmt.Sprintf("The token has no %q claim.", userClaim), nil)
	}
	user, ok := rawUser.(string)
	if !ok {
		return nil, invalid(fmt.Sprintf("The token's %q claim must be a string.", userClaim), nil)
	}
	if err := checkName(user, MaxUserIDLen); err != nil {
		return nil, invalid(fmt.Sprintf("The token's %q claim %s.", userClaim, err), nil)
	}

	rawRoles, ok := lookupClaim(claims, roleClaim)
	if !ok && roleClaim == DefaultRoleClaim {
		rawRoles, ok = lookupClaim(claims, "role")
	}
	var roles []string
	if ok {
		var err error
		if roles, err = parseRoles(rawRoles); err != nil {
			return nil, invalid(fmt.Sprintf("The token's role claim %s.", err), nil)
		}
	}
	return &Identity{UserID: user, Roles: roles, Claims: claims}, nil
}

// lookupClaim finds name at the top level, or else, if it has dots, as a path through nested
// objects.
func lookupClaim(claims map[string]any, name string) (any, bool) {
	if v, ok := claims[name]; ok && v != nil {
		return v, true
	}
	if !strings.Contains(name, ".") {
		return nil, false
	}
	var cur any = claims
	for part := range strings.SplitSeq(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok || cur == nil {
			return nil, false
		}
	}
	return cur, true
}

func parseRoles(v any) ([]string, error) {
	var roles []string
	switch v := v.(type) {
	case string:
		roles = []string{v}
	case []any:
		if len(v) > MaxRoles {
			return nil, fmt.Errorf("has more than %d entries", MaxRoles)
		}
		roles = make([]string, 0, len(v))
		for _, r := range v {
			s, ok := r.(string)
			if !ok {
				return nil, fmt.Errorf("must be a string or an array of strings")
			}
			roles = append(roles, s)
		}
	default:
		return nil, fmt.Errorf("must be a string or an array of strings")
	}
	return roles, checkRoles(roles)
}

func checkRoles(roles []string) error {
	if len(roles) > MaxRoles {
		return fmt.Errorf("has more than %d entries", MaxRoles)
	}
	for i, r := range roles {
		if err := checkName(r, MaxRoleLen); err != nil {
			return fmt.Errorf("entry %d %s", i, err)
		}
	}
	return nil
}

// checkName returns why s is not a usable user id or role, or nil: it must be non-empty valid
// UTF-8 of at most max characters, without control characters or surrounding spaces.
func checkName(s string, max int) error {
	switch {
	case s == "":
		return fmt.Errorf("is empty")
	case !utf8.ValidString(s):
		return fmt.Errorf("is not valid UTF-8")
	case utf8.RuneCountInString(s) > max:
		return fmt.Errorf("is longer than %d characters", max)
	case strings.ContainsFunc(s, unicode.IsControl):
		return fmt.Errorf("contains control characters")
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Bidi_Control, r) }):
		// U+202E and its kin reorder what a page or a log shows: "alice‮ecila" reads as
		// another user's name.
		return fmt.Errorf("contains bidirectional control characters")
	case strings.TrimSpace(s) != s:
		return fmt.Errorf("starts or ends with white space")
	}
	return nil
}
