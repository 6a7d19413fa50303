package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Defaults applied by [Config.WithDefaults].
const (
	DefaultUserClaim              = "sub"
	DefaultRoleClaim              = "roles"
	DefaultLeeway                 = 30 * time.Second
	DefaultTokenTTL               = 24 * time.Hour
	DefaultJWKSRefreshInterval    = time.Hour
	DefaultJWKSUnknownKIDInterval = time.Minute
	DefaultJWKSTimeout            = 10 * time.Second

	// MinSecretLen is the shortest accepted HS256 secret, in bytes: RFC 7518 §3.2 requires a key
	// at least as long as the hash output.
	MinSecretLen = 32
)

// Config says how tokens are checked and minted. At most one of Secret, PublicKeyFile and JWKSURL
// may be set; with none set the authenticator is in dev mode.
type Config struct {
	// Secret is the HS256 shared secret, at least MinSecretLen bytes. Mint signs with it too.
	Secret string
	// PublicKeyFile is a PEM file holding an RSA or ECDSA public key ("PUBLIC KEY",
	// "RSA PUBLIC KEY" or a "CERTIFICATE"). RSA keys accept RS256/384/512; ECDSA keys accept the ES
	// algorithm of their curve (P-256: ES256, P-384: ES384, P-521: ES512).
	PublicKeyFile string
	// JWKSURL is a JSON Web Key Set endpoint (https, or http on a loopback address). It is fetched
	// once by New (which fails if it cannot be), then every JWKSRefreshInterval, and when a token
	// names an unknown key id, at most once per JWKSUnknownKIDInterval.
	JWKSURL string
	// JWKSRefreshInterval is how often the key set is fetched again. Default 1h.
	JWKSRefreshInterval time.Duration
	// JWKSUnknownKIDInterval is the least time between two fetches caused by unknown key ids, so
	// that tokens with made-up ids cannot hammer the key server. Default 1m.
	JWKSUnknownKIDInterval time.Duration
	// JWKSTimeout bounds one fetch of the key set. Default 10s.
	JWKSTimeout time.Duration
	// HTTPClient fetches the key set. Default: a client of its own, closed by Close.
	HTTPClient *http.Client

	// UserClaim is the claim holding the user id. A name with dots ("ext.user") that is not a
	// top-level claim is looked up in nested objects. Default "sub".
	UserClaim string
	// RoleClaim is the claim holding the roles: a string (one role) or an array of strings.
	// Dotted names work as for UserClaim ("realm_access.roles"). Default "roles", in which case a
	// "role" claim is accepted when there is no "roles".
	RoleClaim string
	// Issuer, when set, must equal the token's iss.
	Issuer string
	// Audience, when set, must be one of the token's aud.
	Audience string
	// Leeway is the clock skew allowed on exp and nbf. Default 30s; negative means none.
	Leeway time.Duration

	// DevSecretFile is where dev mode keeps its generated secret (e.g. ./herald-data/dev-secret).
	// Empty: a random secret held in memory, so tokens die with the process.
	DevSecretFile string
	// TokenTTL is the lifetime of minted tokens when Mint is given none. Default 24h.
	TokenTTL time.Duration

	// Logger receives background JWKS refresh failures. Default slog.Default().
	Logger *slog.Logger
}

// WithDefaults returns a copy of c with every unset field given its default.
func (c Config) WithDefaults() Config {
	if c.UserClaim == "" {
		c.UserClaim = DefaultUserClaim
	}
	if c.RoleClaim == "" {
		c.RoleClaim = DefaultRoleClaim
	}
	if c.Leeway == 0 {
		c.Leeway = DefaultLeeway
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = DefaultTokenTTL
	}
	if c.JWKSRefreshInterval == 0 {
		c.JWKSRefreshInterval = DefaultJWKSRefreshInterval
	}
	if c.JWKSUnknownKIDInterval == 0 {
		c.JWKSUnknownKIDInterval = DefaultJWKSUnknownKIDInterval
	}
	if c.JWKSTimeout == 0 {
		c.JWKSTimeout = DefaultJWKSTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// DevMode reports whether no JWT setting (Secret, PublicKeyFile, JWKSURL) is configured.
func (c Config) DevMode() bool {
	return c.Secret == "" && c.PublicKeyFile == "" && c.JWKSURL == ""
}

// validate checks a config that WithDefaults has completed.
func (c Config) validate() error {
	set := 0
	for _, s := range []string{c.Secret, c.PublicKeyFile, c.JWKSURL} {
		if s != "" {
			set++
		}
	}
	if set > 1 {
		return errors.New("auth: set only one of secret, public key file and JWKS URL")
	}
	if c.Secret != "" && len(c.Secret) < MinSecretLen {
		return fmt.Errorf("auth: secret is %d bytes; it must be at least %d (RFC 7518 §3.2)", len(c.Secret), MinSecretLen)
	}
	if c.JWKSURL != "" {
		if err := validateJWKSURL(c.JWKSURL); err != nil {
			return err
		}
	}
	if c.TokenTTL < 0 {
		return fmt.Errorf("auth: token TTL %s is negative", c.TokenTTL)
	}
	if c.JWKSRefreshInterval < 0 || c.JWKSUnknownKIDInterval < 0 || c.JWKSTimeout < 0 {
		return errors.New("auth: JWKS intervals and timeout must not be negative")
	}
	return nil
}

func validateJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("auth: JWKS URL %q: %w", raw, err)
	}
	switch {
	case u.Scheme == "https" && u.Host != "":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("auth: JWKS URL %q: keys must be fetched over https (http only on loopback)", raw)
	default:
		return fmt.Errorf("auth: JWKS URL %q: not an https URL", raw)
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
