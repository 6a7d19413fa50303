package auth

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/heraldhq/herald/internal/httpx"
)

// Stable codes of authentication failures, sent to clients in the JSON error envelope.
const (
	// CodeTokenMissing: the request carries no bearer token.
	CodeTokenMissing = "token_missing"
	// CodeTokenExpired: the token's exp has passed; the client should get a new token.
	CodeTokenExpired = "token_expired"
	// CodeTokenNotYetValid: the token's nbf is in the future.
	CodeTokenNotYetValid = "token_not_yet_valid"
	// CodeTokenInvalid: anything else: malformed, bad signature, refused algorithm, unknown key id,
	// wrong issuer or audience, missing or malformed user or role claim.
	CodeTokenInvalid = "token_invalid"
)

// Error is an authentication failure. Code is one of the Code* constants; Message is safe to show
// the client. Err, when set, is the underlying cause, for logs only.
type Error struct {
	Code    string
	Message string
	Err     error
}

// Sentinels for errors.Is: an *Error matches the sentinel with the same Code.
var (
	// ErrNoToken is returned by [Authenticator.Authenticate] when the request carries no token.
	ErrNoToken = &Error{Code: CodeTokenMissing, Message: "No bearer token was sent."}
	// ErrTokenExpired matches errors for expired tokens.
	ErrTokenExpired = &Error{Code: CodeTokenExpired, Message: "The token has expired; get a new one."}
	// ErrTokenNotYetValid matches errors for tokens used before their nbf.
	ErrTokenNotYetValid = &Error{Code: CodeTokenNotYetValid, Message: "The token is not valid yet (nbf)."}
	// ErrTokenInvalid matches every other token failure.
	ErrTokenInvalid = &Error{Code: CodeTokenInvalid, Message: "The token is not valid."}
)

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("auth: %s: %v", e.Message, e.Err)
	}
	return "auth: " + e.Message
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func invalid(message string, cause error) *Error {
	return &Error{Code: CodeTokenInvalid, Message: message, Err: cause}
}

// WriteError replies to a failed [Authenticator.Authenticate]: 401 with the JSON error envelope
// and a WWW-Authenticate challenge (RFC 6750) for an *Error, 500 for anything else (whose text is
// not shown).
func WriteError(w http.ResponseWriter, err error) {
	var ae *Error
	if !errors.As(err, &ae) {
		httpx.WriteError(w, http.StatusInternalServerError, "internal", "Something went wrong; it has been logged.")
		return
	}
	w.Header().Set("WWW-Authenticate", Challenge(ae))
	httpx.WriteError(w, http.StatusUnauthorized, ae.Code, ae.Message)
}

// Challenge is the WWW-Authenticate value (RFC 6750) for a failed authentication: "Bearer" when
// no token was sent, with error="invalid_token" and the user-safe message otherwise.
func Challenge(ae *Error) string {
	if ae.Code == CodeTokenMissing {
		return "Bearer"
	}
	// Messages are ours and hold no quotes or backslashes; %q would escape them anyway.
	return fmt.Sprintf(`Bearer error="invalid_token", error_description=%q`, ae.Message)
}
