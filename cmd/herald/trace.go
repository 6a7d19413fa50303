package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// traceCmd prints the live trace of a running server, one JSON event per line.
type traceCmd struct {
	URL        string   `name:"url" help:"The server's URL." default:"http://127.0.0.1:8080"`
	Token      string   `help:"A token with the admin role (herald token --user you --roles admin). Default: one from the server's dev login, in dev mode." placeholder:"JWT"`
	Hub        string   `help:"Only this hub's events." placeholder:"NAME"`
	User       string   `help:"Only the events of this user's connections and the sends addressed to the user." placeholder:"ID"`
	Connection string   `help:"Only the events of this connection and the sends addressed to it." placeholder:"ID"`
	Type       []string `help:"Only these event types: connected, disconnected, invocation, send (comma-separated)." placeholder:"TYPE,..."`
	Payload    bool     `help:"Include the messages' arguments."`
}

// Run streams GET /api/admin/trace to standard output until interrupted.
func (c *traceCmd) Run(ctx context.Context) error {
	base := strings.TrimRight(c.URL, "/")
	token := c.Token
	if token == "" {
		var err error
		if token, err = devAdminToken(ctx, base); err != nil {
			return err
		}
	}
	q := url.Values{}
	for k, v := range map[string]string{"hub": c.Hub, "user": c.User, "connection": c.Connection, "type": strings.Join(c.Type, ",")} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if c.Payload {
		q.Set("payload", "true")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/admin/trace?"+q.Encode(), nil)
	if err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	defer func() { _ = resp.Body.Close() }() // a read body: nothing to report
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("trace: %s", serverError(resp))
	}
	fmt.Fprintln(os.Stderr, "tracing; Ctrl-C stops")
	err = copyEvents(os.Stdout, resp.Body)
	if ctx.Err() != nil {
		return nil // interrupted: the normal end
	}
	if err == nil {
		err = errors.New("the server ended the stream")
	}
	return fmt.Errorf("trace: %w", err)
}

// copyEvents writes the data of each server-sent event of r to w, one line each (JSON Lines);
// comments (pings) are skipped.
func copyEvents(w io.Writer, r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	out := bufio.NewWriter(w)
	for sc.Scan() {
		data, ok := bytes.CutPrefix(sc.Bytes(), []byte("data:"))
		if !ok {
			continue
		}
		// bufio.Writer keeps its first error for Flush, which is checked.
		_, _ = out.Write(bytes.TrimSpace(data))
		_ = out.WriteByte('\n')
		if err := out.Flush(); err != nil {
			return err
		}
	}
	return sc.Err()
}

// devAdminToken asks a dev-mode server's dev login for an admin token.
func devAdminToken(ctx context.Context, base string) (string, error) {
	body := strings.NewReader(`{"user":"herald-cli","roles":["admin"]}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/auth/dev-login", body)
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("reach %s: %w", base, err)
	}
	defer func() { _ = resp.Body.Close() }() // a read body: nothing to report
	if resp.StatusCode == http.StatusNotFound {
		return "", errors.New("the server is not in dev mode: pass --token (or HERALD_TOKEN) with a token that has the admin role, e.g. from `herald token --user you --roles admin` with the server's JWT settings")
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("dev login: %s", serverError(resp))
	}
	var login struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&login); err != nil || login.Token == "" {
		return "", errors.New("dev login: no token in the answer")
	}
	return login.Token, nil
}

// serverError is the JSON error of a refused request, or its status.
func serverError(resp *http.Response) string {
	var e struct {
		Error struct{ Code, Message string }
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
		return fmt.Sprintf("%s (%s, %s)", e.Error.Message, resp.Status, e.Error.Code)
	}
	return resp.Status
}
