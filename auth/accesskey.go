package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// AccessKey signs the tokens of the management API and of serverless clients, as an access key
// of the hosted SignalR service does: HS256 over the UTF-8 bytes of Value (not decoded).
type AccessKey struct {
	Value string
	// Hubs the key may be used on; empty for every hub.
	Hubs []string
}

// ID names the key without revealing it: the kid Herald's SDK puts in its tokens, and what logs
// show.
func (k AccessKey) ID() string {
	sum := sha256.Sum256([]byte(k.Value))
	return hex.EncodeToString(sum[:4])
}

// Allows reports whether the key may be used on hub.
func (k AccessKey) Allows(hub string) bool {
	return len(k.Hubs) == 0 || slices.ContainsFunc(k.Hubs, func(h string) bool { return strings.EqualFold(h, hub) })
}

// ParseAccessKey reads an --access-key value: the key, optionally followed by "@" and the hubs it
// is allowed on, comma-separated ("k3y…@orders,notifications").
func ParseAccessKey(s string) (AccessKey, error) {
	value, hubs, scoped := strings.Cut(strings.TrimSpace(s), "@")
	k := AccessKey{Value: value}
	if len(value) < MinSecretLen {
		return k, fmt.Errorf("an access key needs at least %d bytes (got %d); `openssl rand -base64 33` makes one", MinSecretLen, len(value))
	}
	if strings.ContainsAny(value, ";\r\n\t ") {
		return k, errors.New("an access key must not contain ';' or white space (it goes in a connection string)")
	}
	if scoped {
		for h := range strings.SplitSeq(hubs, ",") {
			if h = strings.TrimSpace(h); h == "" {
				return k, fmt.Errorf("access key %s: empty hub name after '@'", k.ID())
			}
			k.Hubs = append(k.Hubs, h)
		}
	}
	return k, nil
}

// ReadAccessKey returns the access key kept at path; it never creates one (a command run in the
// wrong directory must not make a key the server does not know).
func ReadAccessKey(path string) (AccessKey, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return AccessKey{}, fmt.Errorf("no access key at %s: run where the server keeps its data (./herald-data), or pass --data-dir, --access-key or a connection string", path)
	}
	if err != nil {
		return AccessKey{}, fmt.Errorf("auth: read access key: %w", err)
	}
	k, err := ParseAccessKey(string(data))
	if err != nil {
		return k, fmt.Errorf("auth: access key file %q: %w", path, err)
	}
	return k, nil
}

// LoadAccessKey returns the access key kept at path, generating it when the file does not exist
// (atomically: a server and a CLI starting together end up with the same key).
func LoadAccessKey(path string) (AccessKey, error) {
	if data, err := os.ReadFile(path); err == nil {
		k, perr := ParseAccessKey(string(data))
		if perr != nil {
			return k, fmt.Errorf("auth: access key file %q: %w; delete it to generate a new one", path, perr)
		}
		return k, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return AccessKey{}, fmt.Errorf("auth: read access key: %w", err)
	}
	raw := make([]byte, 33)
	if _, err := rand.Read(raw); err != nil {
		return AccessKey{}, fmt.Errorf("auth: generate access key: %w", err)
	}
	value := base64.RawURLEncoding.EncodeToString(raw)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return AccessKey{}, fmt.Errorf("auth: create access key directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".access-key-*") // 0600
	if err != nil {
		return AccessKey{}, fmt.Errorf("auth: create access key: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	_, err = tmp.WriteString(value + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return AccessKey{}, fmt.Errorf("auth: write access key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return LoadAccessKey(path)
		}
		return AccessKey{}, fmt.Errorf("auth: create access key: %w", err)
	}
	return AccessKey{Value: value}, nil
}

// AccessKeys checks tokens signed with any of several keys, so that a key can be rotated: add
// the new key, move the backends to it, remove the old one.
type AccessKeys struct {
	keys   []AccessKey
	leeway time.Duration
}

// NewAccessKeys holds keys; it needs at least one.
func NewAccessKeys(keys ...AccessKey) (*AccessKeys, error) {
	if len(keys) == 0 {
		return nil, errors.New("auth: no access key")
	}
	return &AccessKeys{keys: slices.Clone(keys), leeway: DefaultLeeway}, nil
}

// Keys returns the keys, the first being the one to hand out.
func (ks *AccessKeys) Keys() []AccessKey { return slices.Clone(ks.keys) }

// ErrAccessKeyNotAllowed is returned when a token was signed with a key that the hub does not
// allow (HTTP 403).
var ErrAccessKeyNotAllowed = errors.New("auth: the access key is not allowed on this hub")

// Verify checks an access-key token for hub: signed HS256 by one of the keys, unexpired, with an
// audience that audience accepts. It returns the token's claims, an *Error (401) when the token is
// refused, or ErrAccessKeyNotAllowed (403).
func (ks *AccessKeys) Verify(token, hub string, audience func(aud string) bool) (jwt.MapClaims, error) {
	if token == "" {
		return nil, ErrNoToken
	}
	if len(token) > maxTokenLen {
		return nil, invalid("The token is too large.", nil)
	}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithLeeway(ks.leeway))
	var lastErr error
	for _, k := range ks.ordered(token) {
		claims := jwt.MapClaims{}
		_, err := parser.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return []byte(k.Value), nil })
		if errors.Is(err, jwt.ErrTokenSignatureInvalid) {
			lastErr = err
			continue
		}
		if err != nil {
			return nil, classify(err)
		}
		auds, err := claims.GetAudience()
		if err != nil || !slices.ContainsFunc(auds, audience) {
			return nil, invalid("The token's audience is not this URL.", err)
		}
		if !k.Allows(hub) {
			return nil, ErrAccessKeyNotAllowed
		}
		return claims, nil
	}
	return nil, invalid("The token is not signed with an access key of this server.", lastErr)
}

// ordered puts the key the token names (kid) first.
func (ks *AccessKeys) ordered(token string) []AccessKey {
	kid := ""
	if t, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{}); err == nil {
		kid, _ = t.Header["kid"].(string)
	}
	out := slices.Clone(ks.keys)
	slices.SortStableFunc(out, func(a, b AccessKey) int {
		switch {
		case a.ID() == kid && b.ID() != kid:
			return -1
		case b.ID() == kid && a.ID() != kid:
			return 1
		}
		return 0
	})
	return out
}

// UserIDClaims are the claims a serverless client token may carry its user id in, in the order
// they are looked at: the hosted service's nameid (what its SDKs write for
// ClaimTypes.NameIdentifier), its newer asrs.s.uid, the long NameIdentifier URI, then sub.
var UserIDClaims = []string{"nameid", "asrs.s.uid", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier", "sub"}

// ClientIdentity is the identity a serverless client token carries.
func ClientIdentity(claims jwt.MapClaims) (*Identity, error) {
	for _, name := range UserIDClaims {
		if v, ok := claims[name]; ok {
			s, isString := v.(string)
			if !isString || checkName(s, MaxUserIDLen) != nil {
				return nil, invalid(fmt.Sprintf("The token's %s claim is not a valid user id.", name), nil)
			}
			return &Identity{UserID: s, Claims: claims}, nil
		}
	}
	return &Identity{Claims: claims}, nil
}

// MatchAudience reports whether aud names path (r's escaped path for the management API) on r's
// server: the same path (without a trailing slash, in any letter case, as hub names are), and the
// host of the request (the Host header, or
// X-Forwarded-Host behind a proxy) or of publicURL, with or without a port; the scheme and the
// query are not compared (the hosted service's SDKs put ?api-version in their audiences and leave
// the port out). wantQuery, when not empty, must be in aud's query too (the client endpoint's
// hub=…).
func MatchAudience(aud string, r *http.Request, publicURL, path string, wantQuery url.Values) bool {
	u, err := url.Parse(aud)
	if err != nil || u.Host == "" {
		return false
	}
	if !strings.EqualFold(strings.TrimSuffix(u.EscapedPath(), "/"), strings.TrimSuffix(path, "/")) {
		return false
	}
	q := u.Query()
	for k, vs := range wantQuery {
		if !slices.ContainsFunc(vs, func(v string) bool { return strings.EqualFold(q.Get(k), v) }) {
			return false
		}
	}
	host := hostOnly(u.Host)
	hosts := []string{hostOnly(r.Host), hostOnly(r.Header.Get("X-Forwarded-Host"))}
	if p, err := url.Parse(publicURL); err == nil && p.Host != "" {
		hosts = append(hosts, hostOnly(p.Host))
	}
	return slices.ContainsFunc(hosts, func(h string) bool { return h != "" && strings.EqualFold(h, host) })
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return strings.Trim(h, "[]")
	}
	return strings.Trim(hostport, "[]")
}
