package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/httpx"
)

// maxDevLoginBody bounds the dev login request body, in bytes.
const maxDevLoginBody = 64 << 10

// DevLoginRequest is the body of POST /api/auth/dev-login.
type DevLoginRequest struct {
	User  string   `json:"user"`
	Roles []string `json:"roles,omitempty"`
}

// DevLoginResponse is the reply to a dev login.
type DevLoginResponse struct {
	Token     string    `json:"token"`
	User      string    `json:"user"`
	Roles     []string  `json:"roles,omitempty"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// DevLoginHandler serves POST /api/auth/dev-login: {"user":"alice","roles":["admin"]} gets
// 200 {"token":"…","user":"alice","expiresAt":"…"}, a token valid for Config.TokenTTL. Outside dev
// mode every request gets 404 (code "not_found"), as if the route did not exist. Other methods
// get 405; a malformed body, an empty user, a user id over 128 characters or with control
// characters, or bad roles get 400; a body over 64 KiB gets 413.
func (a *Authenticator) DevLoginHandler() http.Handler {
	return http.HandlerFunc(a.serveDevLogin)
}

func (a *Authenticator) serveDevLogin(w http.ResponseWriter, r *http.Request) {
	if !a.devMode {
		httpx.WriteError(w, http.StatusNotFound, "not_found", "No such endpoint.")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpx.WriteError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Use POST.")
		return
	}
	req, status, code, msg := decodeDevLogin(w, r)
	if status != 0 {
		httpx.WriteError(w, status, code, msg)
		return
	}
	token, exp, err := a.mint(req.User, req.Roles, 0)
	if err != nil {
		httpx.WriteError(w, http.StatusInternalServerError, "internal", "Something went wrong; it has been logged.")
		return
	}
	w.Header().Set("Cache-Control", "no-store") // A token must not sit in a cache.
	httpx.WriteJSON(w, http.StatusOK, DevLoginResponse{
		Token: token, User: req.User, Roles: req.Roles, ExpiresAt: exp.UTC(),
	})
}

// decodeDevLogin reads and checks the body; a non-zero status says why it was refused.
func decodeDevLogin(w http.ResponseWriter, r *http.Request) (req DevLoginRequest, status int, code, msg string) {
	const want = `The body must be a JSON object like {"user":"alice","roles":["admin"]}.`
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxDevLoginBody))
	err := dec.Decode(&req)
	if err == nil {
		if err = dec.Decode(&struct{}{}); err == io.EOF {
			err = nil
		} else if err == nil {
			err = errors.New("trailing data")
		}
	}
	var (
		tooLarge *http.MaxBytesError
		typeErr  *json.UnmarshalTypeError
	)
	switch {
	case err == nil:
	case errors.As(err, &tooLarge):
		return req, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("The body is larger than %d bytes.", maxDevLoginBody)
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return req, http.StatusBadRequest, "invalid_body", fmt.Sprintf("%q has the wrong type. %s", typeErr.Field, want)
	default:
		return req, http.StatusBadRequest, "invalid_body", want
	}
	if err := checkName(req.User, MaxDevUserIDLen); err != nil {
		return req, http.StatusBadRequest, "invalid_user", `"user" ` + err.Error() + "."
	}
	if err := checkRoles(req.Roles); err != nil {
		return req, http.StatusBadRequest, "invalid_roles", `"roles" ` + err.Error() + "."
	}
	return req, 0, "", ""
}
