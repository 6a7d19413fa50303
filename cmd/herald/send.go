package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/heraldhq/herald/app"
	"github.com/heraldhq/herald/manage"
)

// manageFlags configure the management API, for serve.
type manageFlags struct {
	AccessKey []string `name:"access-key" sep:"none" help:"Access key of the management API and serverless clients: KEY (every hub) or KEY@hub,hub, at least 32 bytes; repeat the flag to accept several (rotation). Default: one generated and kept in the data dir." placeholder:"KEY"`
	Hubs      []string `name:"hub" help:"More hubs to serve for the management API and serverless clients (e.g. orders); comma-separated." placeholder:"NAME"`
}

func (f manageFlags) manage(publicURL string) app.ManageConfig {
	return app.ManageConfig{AccessKeys: f.AccessKey, Hubs: f.Hubs, PublicURL: publicURL}
}

// keysCmd prints the connection strings of the management API.
type keysCmd struct {
	Endpoint  string        `help:"The server's URL as the backends reach it." default:"http://127.0.0.1:8080"`
	Token     string        `help:"Print a bearer token for this management API URL instead (its audience is the URL without the query), for curl." placeholder:"URL"`
	Lifetime  time.Duration `help:"Lifetime of the --token." default:"1h"`
	DataDir   string        `name:"data-dir" help:"Where Herald keeps its embedded state (the generated access key)." default:"${jobs_data_dir}" type:"path"`
	AccessKey []string      `name:"access-key" sep:"none" help:"The server's --access-key values (default: the key generated in the data dir)." placeholder:"KEY"`
}

func (k *keysCmd) Run() error {
	keys, err := app.ReadAccessKeys(app.Config{DataDir: k.DataDir, Manage: app.ManageConfig{AccessKeys: k.AccessKey}})
	if err != nil {
		return err
	}
	for _, key := range keys {
		cs := manage.ConnectionString{Endpoint: strings.TrimRight(k.Endpoint, "/"), AccessKey: key.Value, Version: "1.0"}
		c, err := manage.New(cs.String())
		if err != nil {
			return err
		}
		if k.Token != "" {
			tok, err := c.Token(k.Token, k.Lifetime)
			if err != nil {
				return err
			}
			fmt.Println(tok)
			return nil // signed with the first key: the one to hand out
		}
		fmt.Println(cs.String())
	}
	return nil
}

// sendCmd sends a message through the management API.
type sendCmd struct {
	ConnectionString string        `name:"connection-string" env:"HERALD_CONNECTION_STRING" help:"The server's connection string (herald keys prints it). Default: the local server (--endpoint) with the key in the data dir." placeholder:"STRING"`
	Endpoint         string        `help:"The server's URL when no connection string is given." default:"http://127.0.0.1:8080"`
	DataDir          string        `name:"data-dir" help:"Where the local server keeps its access key, when no connection string is given." default:"${jobs_data_dir}" type:"path"`
	Hub              string        `help:"Hub to send on." default:"notifications"`
	User             string        `help:"(one of --user, --group, --all, --connection) Send to every connection of this user." xor:"to"`
	Group            string        `help:"(one of --user, --group, --all, --connection) Send to every connection in this group." xor:"to"`
	All              bool          `help:"(one of --user, --group, --all, --connection) Send to every connection of the hub." xor:"to"`
	Connection       string        `help:"(one of --user, --group, --all, --connection) Send to one connection." xor:"to"`
	Exclude          []string      `help:"Connection ids that must not get it (with --all or --group)." placeholder:"ID,..."`
	Target           string        `help:"Client method to invoke (e.g. notification, announcement)." required:""`
	Args             string        `help:"Arguments, a JSON array." default:"[]"`
	IdempotencyKey   string        `name:"idempotency-key" help:"Send once per key (for 24 h), however often the command runs." placeholder:"KEY"`
	Timeout          time.Duration `help:"Give up after this long (retries included)." default:"30s"`
}

func (s *sendCmd) Run(ctx context.Context) error {
	if s.User == "" && s.Group == "" && !s.All && s.Connection == "" {
		return errors.New("say whom to send to: one of --user, --group, --all or --connection")
	}
	args, err := decodeArgs(s.Args)
	if err != nil {
		return err
	}
	if len(s.Exclude) > 0 && !s.All && s.Group == "" {
		return errors.New("--exclude goes with --all or --group")
	}
	cs := s.ConnectionString
	if cs == "" {
		keys, err := app.ReadAccessKeys(app.Config{DataDir: s.DataDir})
		if err != nil {
			return err
		}
		cs = manage.ConnectionString{Endpoint: strings.TrimRight(s.Endpoint, "/"), AccessKey: keys[0].Value, Version: "1.0"}.String()
	}
	c, err := manage.New(cs)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	h := c.Hub(s.Hub)
	m := manage.Message{Target: s.Target, Arguments: args}
	var result manage.SendResult
	opts := manage.SendOptions{Excluded: s.Exclude, IdempotencyKey: s.IdempotencyKey, Result: &result}
	switch {
	case s.All:
		err = h.SendToAll(ctx, m, opts)
	case s.Group != "":
		err = h.SendToGroup(ctx, s.Group, m, opts)
	case s.User != "":
		err = h.SendToUser(ctx, s.User, m, opts)
	default:
		err = h.SendToConnection(ctx, s.Connection, m, opts)
	}
	if err != nil {
		return err
	}
	switch {
	case result.Replayed:
		fmt.Fprintln(os.Stderr, "accepted, not sent again: this idempotency key was used before")
	case result.ReceivingNodes == 0:
		fmt.Fprintln(os.Stderr, "sent, but nobody was connected to receive it")
	case result.ReceivingNodes > 0:
		fmt.Fprintf(os.Stderr, "sent to the connections on %s\n", plural(result.ReceivingNodes, "node"))
	default:
		fmt.Fprintln(os.Stderr, "sent")
	}
	return nil
}

// decodeArgs reads --args: a JSON array, numbers kept as written.
func decodeArgs(s string) ([]any, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var args []any
	if err := dec.Decode(&args); err != nil || dec.More() {
		return nil, fmt.Errorf("--args must be a JSON array, e.g. '[{\"title\":\"Hi\"}]'")
	}
	return args, nil
}

// plural writes "1 node", "3 nodes".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
