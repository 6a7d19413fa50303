package manage

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// APIVersion is the hosted service's API version the client speaks.
const APIVersion = "2022-06-01"

// Options configure a Client. Zero fields take their defaults.
type Options struct {
	// HTTPClient makes the calls. Default: a client with a 30 s timeout.
	HTTPClient *http.Client
	// Retries is how many times a failed call is tried again (connection errors, 429, 502, 503,
	// 504), with exponential backoff from RetryBackoff and jitter; a Retry-After is honoured.
	// Default 3; negative for none.
	Retries int
	// RetryBackoff is the first wait between tries. Default 200 ms.
	RetryBackoff time.Duration
	// TokenLifetime is how long the tokens the client signs are valid. Default 1 h.
	TokenLifetime time.Duration
}

// Client calls one Herald's (or hosted SignalR service's) management API.
type Client struct {
	cs   ConnectionString
	opts Options
	kid  string

	tokens sync.Map // audience → cachedToken
	cached atomic.Int64
}

// New returns a client for the server a connection string names.
func New(connectionString string, opts ...Options) (*Client, error) {
	cs, err := ParseConnectionString(connectionString)
	if err != nil {
		return nil, err
	}
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Retries == 0 {
		o.Retries = 3
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = 200 * time.Millisecond
	}
	if o.TokenLifetime <= 0 {
		o.TokenLifetime = time.Hour
	}
	sum := sha256.Sum256([]byte(cs.AccessKey))
	return &Client{cs: cs, opts: o, kid: hex.EncodeToString(sum[:4])}, nil
}

// ConnectionString is the client's parsed connection string.
func (c *Client) ConnectionString() ConnectionString { return c.cs }

// Hub addresses one hub. Hub names are matched in any letter case; the client lowercases them,
// as the hosted service's SDK does.
func (c *Client) Hub(name string) *Hub { return &Hub{c: c, name: strings.ToLower(name)} }

// Health checks that the server answers (HEAD /api/health; no token needed).
func (c *Client) Health(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodHead, "/api/health", nil, nil, nil, true)
	return err
}

// Error is a call the server refused, or that could not be made.
type Error struct {
	// StatusCode is the HTTP status; 0 when no answer came.
	StatusCode int
	// Code is the server's error code (Herald's "bad_request", "not_found", … or the hosted
	// service's x-ms-error-code); Message its text.
	Code    string
	Message string
	// Err is the cause of a call that got no answer.
	Err error
}

func (e *Error) Error() string {
	if e.StatusCode == 0 {
		return fmt.Sprintf("manage: %s", e.Err)
	}
	if e.Code != "" {
		return fmt.Sprintf("manage: %d %s: %s", e.StatusCode, e.Code, e.Message)
	}
	return fmt.Sprintf("manage: %d %s", e.StatusCode, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinels below by status.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.StatusCode != 0 && t.StatusCode == e.StatusCode && t.Code == ""
}

// Sentinels for errors.Is, by HTTP status.
var (
	ErrBadRequest   = &Error{StatusCode: http.StatusBadRequest}   // malformed body, bad name
	ErrUnauthorized = &Error{StatusCode: http.StatusUnauthorized} // wrong key or token
	ErrForbidden    = &Error{StatusCode: http.StatusForbidden}    // key not allowed on the hub
	ErrNotFound     = &Error{StatusCode: http.StatusNotFound}     // unknown hub or connection
	ErrTooLarge     = &Error{StatusCode: http.StatusRequestEntityTooLarge}
	ErrRateLimited  = &Error{StatusCode: http.StatusTooManyRequests}
)

// token signs a token for audience.
func (c *Client) token(audience string, claims jwt.MapClaims, lifetime time.Duration) (string, error) {
	now := time.Now()
	if claims == nil {
		claims = jwt.MapClaims{}
	}
	claims["aud"] = audience
	claims["iat"] = now.Unix()
	claims["nbf"] = now.Unix()
	claims["exp"] = now.Add(lifetime).Unix()
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	t.Header["kid"] = c.kid
	return t.SignedString([]byte(c.cs.AccessKey))
}

// requestToken is a token for a request to audience: one signed earlier for the same URL while
// more than half of its lifetime is left (signing is most of a small call's client-side cost).
func (c *Client) requestToken(audience string) (string, error) {
	now := time.Now()
	if v, ok := c.tokens.Load(audience); ok {
		if t := v.(cachedToken); now.Before(t.renew) {
			return t.token, nil
		}
	}
	tok, err := c.token(audience, nil, c.opts.TokenLifetime)
	if err != nil {
		return "", err
	}
	if c.cached.Add(1) > maxCachedTokens {
		c.tokens.Clear() // many URLs (a send per user): start over rather than grow
		c.cached.Store(1)
	}
	c.tokens.Store(audience, cachedToken{token: tok, renew: now.Add(c.opts.TokenLifetime / 2)})
	return tok, nil
}

const maxCachedTokens = 10000

type cachedToken struct {
	token string
	renew time.Time
}

// do makes one call with retries; body is JSON-encoded when not nil. It returns the response's
// headers (the body read and closed) or an *Error.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, header http.Header, body any, retry bool) (http.Header, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, &Error{Err: fmt.Errorf("encode body: %w", err)}
		}
	}
	q := url.Values{"api-version": {APIVersion}}
	for k, vs := range query {
		q[k] = vs
	}
	target := c.cs.Endpoint + path
	full := target + "?" + q.Encode()
	attempts := 1
	if retry && c.opts.Retries > 0 {
		attempts += c.opts.Retries
	}
	var last error
	for attempt := range attempts {
		got, wait, err := c.once(ctx, method, full, target, header, payload)
		if err == nil {
			return got, nil
		}
		last = err
		var e *Error
		if !errors.As(err, &e) || !retryable(e) || attempt == attempts-1 {
			break
		}
		if wait <= 0 {
			backoff := c.opts.RetryBackoff << attempt
			wait = backoff/2 + rand.N(backoff/2+1)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, &Error{Err: ctx.Err()}
		}
	}
	return nil, last
}

func retryable(e *Error) bool {
	switch e.StatusCode {
	case 0:
		return !errors.Is(e.Err, context.Canceled) && !errors.Is(e.Err, context.DeadlineExceeded)
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

func (c *Client) once(ctx context.Context, method, full, audience string, header http.Header, payload []byte) (http.Header, time.Duration, error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, full, body)
	if err != nil {
		return nil, 0, &Error{Err: err}
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	tok, err := c.requestToken(audience)
	if err != nil {
		return nil, 0, &Error{Err: fmt.Errorf("sign token: %w", err)}
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, 0, &Error{Err: err}
	}
	defer func() { _ = resp.Body.Close() }()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 400 {
		return resp.Header, 0, nil
	}
	e := &Error{StatusCode: resp.StatusCode, Code: resp.Header.Get("x-ms-error-code"), Message: http.StatusText(resp.StatusCode)}
	var env struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if json.Unmarshal(data, &env) == nil && env.Error.Message != "" {
		e.Code, e.Message = env.Error.Code, env.Error.Message
	} else if s := strings.TrimSpace(string(data)); s != "" && len(s) < 1024 {
		e.Message = s
	}
	var wait time.Duration
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		wait = time.Duration(s) * time.Second
	}
	return nil, wait, e
}

// Token signs a token for a management API call to url made without the SDK (curl, another
// language): its audience is url without its query. `herald keys --token URL` prints one.
func (c *Client) Token(url string, lifetime time.Duration) (string, error) {
	if lifetime <= 0 {
		lifetime = c.opts.TokenLifetime
	}
	aud, _, _ := strings.Cut(url, "?")
	return c.token(strings.TrimSuffix(aud, "/"), nil, lifetime)
}

// randomKey is an idempotency key for a send that was given none.
func randomKey() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}
