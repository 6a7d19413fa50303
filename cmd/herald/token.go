package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/heraldhq/herald/auth"
)

type tokenCmd struct {
	User  string   `help:"User id to put in the token." required:""`
	Roles []string `help:"Roles to put in the token (comma-separated)."`
	authFlags
}

func (t *tokenCmd) Run(ctx context.Context) error {
	cfg := t.config()
	if cfg.DevMode() {
		// The same secret file a dev-mode server in this data dir uses.
		cfg.DevSecretFile = filepath.Join(t.DataDir, "dev-secret")
	}
	a, err := auth.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	token, err := a.Mint(t.User, t.Roles, t.TokenTTL)
	if err != nil {
		return err
	}
	fmt.Println(token)
	return nil
}
