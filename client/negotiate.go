package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// maxNegotiateReply bounds the negotiate reply the client reads.
const maxNegotiateReply = 64 << 10

// negotiateReply is the server's answer to negotiate (version 0 or 1), or a redirect, or an error.
type negotiateReply struct {
	ConnectionID        string `json:"connectionId"`
	ConnectionToken     string `json:"connectionToken"`
	NegotiateVersion    int    `json:"negotiateVersion"`
	AvailableTransports []struct {
		Transport       string   `json:"transport"`
		TransferFormats []string `json:"transferFormats"`
	} `json:"availableTransports"`
	URL         string `json:"url"`
	AccessToken string `json:"accessToken"`
	Error       string `json:"error"`
	// ProtocolVersion is only in replies of the older ASP.NET (not Core) SignalR.
	ProtocolVersion string `json:"ProtocolVersion"`
}

// endpoint is where a connection attempt opens its WebSocket, and with what.
type endpoint struct {
	url          *url.URL // the hub URL, with id= once negotiated
	connectionID string   // empty when negotiation was skipped
	token        string   // bearer token for the upgrade
}

// negotiate asks the server for a connection, following one redirect. It returns the endpoint of
// the WebSocket.
func (c *Client) negotiate(ctx context.Context) (endpoint, error) {
	token, err := c.token(ctx)
	if err != nil {
		return endpoint{}, err
	}
	if c.opts.SkipNegotiation {
		return endpoint{url: c.url, token: token}, nil
	}
	base := c.url
	for redirects := 0; ; redirects++ {
		r, err := c.negotiateOnce(ctx, base, &token)
		if err != nil {
			return endpoint{}, err
		}
		if r.URL != "" {
			// A redirect (a hosted service): negotiate again there, with the token it gave.
			if redirects > 0 {
				return endpoint{}, errors.New("client: negotiate: redirected more than once")
			}
			if base, err = parseHubURL(r.URL); err != nil {
				return endpoint{}, fmt.Errorf("client: negotiate: redirect: %w", err)
			}
			if r.AccessToken != "" {
				token = r.AccessToken
			}
			continue
		}
		if err := c.checkTransports(r); err != nil {
			return endpoint{}, err
		}
		id := r.ConnectionToken
		if r.NegotiateVersion < 1 {
			id = r.ConnectionID // version 0: the id doubles as the token
		}
		if id == "" {
			return endpoint{}, errors.New("client: negotiate: the reply has no connection id")
		}
		return endpoint{url: withQuery(base, "id", id), connectionID: r.ConnectionID, token: token}, nil
	}
}

// negotiateOnce posts one negotiate request. On a 401 it asks the token function once more and
// retries, as the official clients do; *token is updated.
func (c *Client) negotiateOnce(ctx context.Context, base *url.URL, token *string) (*negotiateReply, error) {
	u := negotiateURL(base)
	for attempt := 0; ; attempt++ {
		r, status, err := c.postNegotiate(ctx, u, *token)
		if status == http.StatusUnauthorized && attempt == 0 && c.opts.AccessToken != nil && base == c.url {
			if *token, err = c.token(ctx); err != nil {
				return nil, err
			}
			continue
		}
		return r, err
	}
}

func (c *Client) postNegotiate(ctx context.Context, u, token string) (*negotiateReply, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, http.NoBody)
	if err != nil {
		return nil, 0, fmt.Errorf("client: negotiate: %w", err)
	}
	c.setHeaders(req.Header, token)
	// Marked idempotent (the key is not sent), so that a negotiate on a pooled connection that
	// died meanwhile, as after a network failure, is retried on a fresh one. At worst the server
	// makes a connection that nobody uses and drops it after its disconnect timeout.
	req.Header["Idempotency-Key"] = nil
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("client: negotiate: %w", err)
	}
	defer resp.Body.Close() //nolint:errcheck // a response read to its end: closing it has nothing to report
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxNegotiateReply))
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode, &HTTPError{Op: "negotiate", StatusCode: resp.StatusCode, Body: snippet(body)}
	}
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("client: negotiate: read reply: %w", err)
	}
	var r negotiateReply
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, resp.StatusCode, fmt.Errorf("client: negotiate: invalid reply %q: %w", snippet(body), err)
	}
	switch {
	case r.Error != "":
		return nil, resp.StatusCode, &NegotiateError{Message: r.Error}
	case r.ProtocolVersion != "":
		return nil, resp.StatusCode, errors.New("client: negotiate: this is an ASP.NET (not Core) SignalR server, which the client does not support")
	}
	return &r, resp.StatusCode, nil
}

// checkTransports checks that the server offers WebSockets with the protocol's transfer format.
func (c *Client) checkTransports(r *negotiateReply) error {
	format := "Text"
	if c.proto.Binary() {
		format = "Binary"
	}
	for _, t := range r.AvailableTransports {
		if t.Transport != "WebSockets" {
			continue
		}
		for _, f := range t.TransferFormats {
			if f == format {
				return nil
			}
		}
		return fmt.Errorf("client: negotiate: the server's WebSockets transport does not carry %s frames", format)
	}
	return errors.New("client: negotiate: the server does not offer the WebSockets transport")
}

// token asks the token function, if any.
func (c *Client) token(ctx context.Context) (string, error) {
	if c.opts.AccessToken == nil {
		return "", nil
	}
	t, err := c.opts.AccessToken(ctx)
	if err != nil {
		return "", fmt.Errorf("client: access token: %w", err)
	}
	return t, nil
}

// setHeaders sets the user's headers and the bearer token on a request.
func (c *Client) setHeaders(h http.Header, token string) {
	for k, v := range c.opts.Header {
		h[k] = v
	}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
}

// parseHubURL parses a hub URL: http, https, ws or wss.
func parseHubURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "http", "https", "ws", "wss":
	default:
		return nil, fmt.Errorf("hub URL %q: the scheme must be http, https, ws or wss", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("hub URL %q has no host", raw)
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// negotiateURL is {hub}/negotiate with the hub URL's query and negotiateVersion=1 (unless the
// query already names a version).
func negotiateURL(base *url.URL) string {
	u := *base
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/negotiate"
	if u.RawPath != "" {
		u.RawPath = strings.TrimSuffix(u.RawPath, "/") + "/negotiate"
	}
	if !u.Query().Has("negotiateVersion") {
		return withQuery(&u, "negotiateVersion", "1").String()
	}
	return u.String()
}

// withQuery returns a copy of u with key=value appended to its query, keeping the rest as is.
func withQuery(u *url.URL, key, value string) *url.URL {
	v := *u
	kv := url.QueryEscape(key) + "=" + url.QueryEscape(value)
	if v.RawQuery == "" {
		v.RawQuery = kv
	} else {
		v.RawQuery += "&" + kv
	}
	return &v
}

// snippet is the start of a reply body, for error messages.
func snippet(b []byte) string {
	const max = 256
	if len(b) > max {
		b = b[:max]
		for len(b) > 0 && !utf8.Valid(b) {
			b = b[:len(b)-1]
		}
	}
	return strings.TrimSpace(string(b))
}

// sharedClients holds the HTTP clients made for a Dialer or a LocalAddr: Clients that dial alike
// share one, and with it one pool of negotiate connections.
var sharedClients struct {
	mu     sync.Mutex
	byKey  map[any]*http.Client
	direct []*http.Transport // every transport made, for CloseIdleConnections
}

// httpClient returns the HTTP client o asks for.
func httpClient(o *Options) *http.Client {
	if o.HTTPClient != nil {
		return o.HTTPClient
	}
	var key any
	var d *net.Dialer
	switch {
	case o.Dialer != nil:
		key, d = o.Dialer, o.Dialer
	case o.LocalAddr != nil:
		key = "local:" + o.LocalAddr.String()
		d = &net.Dialer{LocalAddr: o.LocalAddr, Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	default:
		return http.DefaultClient
	}
	sharedClients.mu.Lock()
	defer sharedClients.mu.Unlock()
	if hc := sharedClients.byKey[key]; hc != nil {
		return hc
	}
	var t *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t = dt.Clone()
	} else {
		t = &http.Transport{Proxy: http.ProxyFromEnvironment, IdleConnTimeout: 90 * time.Second}
	}
	t.DialContext = d.DialContext
	// Many clients negotiate at once in a load test: keep more than the default 2 idle
	// connections per host, so that negotiates reuse them instead of leaving TIME_WAIT sockets.
	t.MaxIdleConnsPerHost = 64
	hc := &http.Client{Transport: t}
	if sharedClients.byKey == nil {
		sharedClients.byKey = make(map[any]*http.Client)
	}
	sharedClients.byKey[key] = hc
	sharedClients.direct = append(sharedClients.direct, t)
	return hc
}

// CloseIdleConnections closes the idle keep-alive connections of the HTTP clients the package made
// for the Dialer and LocalAddr options (negotiate requests reuse them). A load generator may call
// it once its clients are connected; tests call it to leave no goroutine behind.
func CloseIdleConnections() {
	sharedClients.mu.Lock()
	defer sharedClients.mu.Unlock()
	for _, t := range sharedClients.direct {
		t.CloseIdleConnections()
	}
}
