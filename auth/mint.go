package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrCannotMint is returned by Mint when the authenticator holds no secret: it checks tokens with
// a public key or a JWKS, whose private half lives with the identity provider.
var ErrCannotMint = errors.New("auth: cannot mint tokens: no secret configured (tokens come from the identity provider)")

// Mint signs an HS256 token for user with roles, valid for ttl (Config.TokenTTL when ttl <= 0).
// The token carries the configured user and role claims, iat, exp, and iss and aud when they are
// configured, so that the same authenticator accepts it. It needs Config.Secret or dev mode.
func (a *Authenticator) Mint(user string, roles []string, ttl time.Duration) (string, error) {
	token, _, err := a.mint(user, roles, ttl)
	return token, err
}

func (a *Authenticator) mint(user string, roles []string, ttl time.Duration) (string, time.Time, error) {
	if a.secret == nil {
		return "", time.Time{}, ErrCannotMint
	}
	if err := checkName(user, MaxUserIDLen); err != nil {
		return "", time.Time{}, fmt.Errorf("auth: mint: user id %s", err)
	}
	if err := checkRoles(roles); err != nil {
		return "", time.Time{}, fmt.Errorf("auth: mint: roles %s", err)
	}
	if ttl <= 0 {
		ttl = a.cfg.TokenTTL
	}
	now := time.Now()
	exp := now.Add(ttl).Truncate(time.Second) // exp has second precision on the wire.
	claims := jwt.MapClaims{
		a.cfg.UserClaim: user,
		"iat":           now.Unix(),
		"exp":           exp.Unix(),
	}
	if len(roles) > 0 {
		claims[a.cfg.RoleClaim] = roles
	}
	if a.cfg.Issuer != "" {
		claims["iss"] = a.cfg.Issuer
	}
	if a.cfg.Audience != "" {
		claims["aud"] = a.cfg.Audience
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(a.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: mint: sign: %w", err)
	}
	return signed, exp, nil
}
