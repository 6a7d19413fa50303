package auth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// devLogin posts body to the dev login handler of a and returns the recorded reply.
func devLogin(t *testing.T, a *Authenticator, method, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, "/api/auth/dev-login", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	a.DevLoginHandler().ServeHTTP(w, r)
	return w
}

func errorCode(t *testing.T, w *httptest.ResponseRecorder) (string, string) {
	t.Helper()
	var body struct {
		Error struct{ Code, Message string }
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), w.Body.String())
	return body.Error.Code, body.Error.Message
}

func TestDevLogin(t *testing.T) {
	t.Parallel()
	a := setup(t, Config{})

	w := devLogin(t, a, http.MethodPost, `{"user":"alice","roles":["admin"]}`)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	require.Contains(t, w.Header().Get("Content-Type"), "application/json")
	var resp DevLoginResponse
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &resp))
	require.Equal(t, "alice", resp.User)
	require.Equal(t, []string{"admin"}, resp.Roles)
	require.WithinDuration(t, time.Now().Add(DefaultTokenTTL), resp.ExpiresAt, 5*time.Second)

	id, err := a.ParseToken(resp.Token)
	require.NoError(t, err)
	require.Equal(t, "alice", id.UserID)
	require.True(t, id.HasRole("admin"))

	w = devLogin(t, a, http.MethodPost, `{"user":"bob"}`)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.NotContains(t, w.Body.String(), `"roles"`)
}

func TestDevLoginBadInput(t *testing.T) {
	t.Parallel()
	a := setup(t, Config{})
	for _, tc := range []struct {
		name, method, body string
		status             int
		code               string
	}{
		{"Get", http.MethodGet, "", http.StatusMethodNotAllowed, "method_not_allowed"},
		{"Put", http.MethodPut, `{"user":"alice"}`, http.StatusMethodNotAllowed, "method_not_allowed"},
		{"EmptyBody", http.MethodPost, "", http.StatusBadRequest, "invalid_body"},
		{"NotJSON", http.MethodPost, "user=alice", http.StatusBadRequest, "invalid_body"},
		{"Truncated", http.MethodPost, `{"user":"al`, http.StatusBadRequest, "invalid_body"},
		{"Array", http.MethodPost, `["alice"]`, http.StatusBadRequest, "invalid_body"},
		{"UserNotString", http.MethodPost, `{"user":42}`, http.StatusBadRequest, "invalid_body"},
		{"RolesNotArray", http.MethodPost, `{"user":"alice","roles":"admin"}`, http.StatusBadRequest, "invalid_body"},
		{"Trailing", http.MethodPost, `{"user":"alice"}{"user":"bob"}`, http.StatusBadRequest, "invalid_body"},
		{"NoUser", http.MethodPost, `{}`, http.StatusBadRequest, "invalid_user"},
		{"Null", http.MethodPost, `null`, http.StatusBadRequest, "invalid_user"},
		{"EmptyUser", http.MethodPost, `{"user":""}`, http.StatusBadRequest, "invalid_user"},
		{"SpaceUser", http.MethodPost, `{"user":" alice"}`, http.StatusBadRequest, "invalid_user"},
		{"LongUser", http.MethodPost, `{"user":"` + strings.Repeat("u", MaxDevUserIDLen+1) + `"}`, http.StatusBadRequest, "invalid_user"},
		{"ControlUser", http.MethodPost, `{"user":"al\nice"}`, http.StatusBadRequest, "invalid_user"},
		{"NulUser", http.MethodPost, `{"user":"al\u0000ice"}`, http.StatusBadRequest, "invalid_user"},
		{"BidiUser", http.MethodPost, `{"user":"alice\u202Eecila"}`, http.StatusBadRequest, "invalid_user"},
		{"IsolateUser", http.MethodPost, `{"user":"\u2067bob"}`, http.StatusBadRequest, "invalid_user"},
		{"EmptyRole", http.MethodPost, `{"user":"alice","roles":[""]}`, http.StatusBadRequest, "invalid_roles"},
		{"TooLarge", http.MethodPost, `{"user":"alice","pad":"` + strings.Repeat("x", maxDevLoginBody) + `"}`, http.StatusRequestEntityTooLarge, "body_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := devLogin(t, a, tc.method, tc.body)
			require.Equal(t, tc.status, w.Code, w.Body.String())
			code, msg := errorCode(t, w)
			require.Equal(t, tc.code, code)
			require.NotEmpty(t, msg)
			require.NotContains(t, w.Body.String(), "token\"")
		})
	}

	// 128 characters, multi-byte, is still fine.
	w := devLogin(t, a, http.MethodPost, `{"user":"`+strings.Repeat("é", MaxDevUserIDLen)+`"}`)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
}

func TestDevLoginNotDevMode(t *testing.T) {
	t.Parallel()
	a := setup(t, Config{Secret: testSecret})
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		w := devLogin(t, a, method, `{"user":"alice"}`)
		require.Equal(t, http.StatusNotFound, w.Code)
		code, _ := errorCode(t, w)
		require.Equal(t, "not_found", code)
	}
}
