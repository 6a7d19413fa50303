package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/alecthomas/kong"
	"gopkg.in/yaml.v3"
)

// yamlLoader reads the --config file. Its keys are flag names at the top level (`addr:`,
// `jwt-secret:`), shared by every command that has the flag; a section named after a command
// (`serve: {addr: …}`) overrides them for that command. Flags and HERALD_* variables win over the
// file.
func yamlLoader(r io.Reader) (kong.Resolver, error) {
	config := map[string]any{}
	if err := yaml.NewDecoder(r).Decode(&config); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config file: %w", err)
	}
	return &yamlResolver{config: config, resolve: func(_ *kong.Context, parent *kong.Path, flag *kong.Flag) (any, error) {
		// Precedence: flag, then environment, then this file, then the default. Kong consults
		// resolvers before the environment, so defer to a set variable here.
		for _, env := range flag.Envs {
			if _, set := os.LookupEnv(env); set {
				return nil, nil
			}
		}
		for n := parent.Node(); n != nil && n.Type != kong.ApplicationNode; n = n.Parent {
			if section, ok := config[n.Name].(map[string]any); ok {
				if v, ok := section[flag.Name]; ok {
					return v, nil
				}
			}
		}
		return config[flag.Name], nil
	}}, nil
}

// yamlResolver is the --config file: Resolve reads a flag's value, Validate refuses keys that
// name no flag and no command, so a misspelled key (`jwt-secert`) stops Herald instead of being
// ignored (which would start it in dev mode).
type yamlResolver struct {
	config  map[string]any
	resolve kong.ResolverFunc
}

func (y *yamlResolver) Resolve(ctx *kong.Context, parent *kong.Path, flag *kong.Flag) (any, error) {
	return y.resolve(ctx, parent, flag)
}

func (y *yamlResolver) Validate(app *kong.Application) error {
	flags, commands := map[string]bool{}, map[string]bool{}
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, f := range n.Flags {
			flags[f.Name] = true
		}
		for _, c := range n.Children {
			commands[c.Name] = true
			walk(c)
		}
	}
	walk(app.Node)
	var check func(m map[string]any, where string) error
	check = func(m map[string]any, where string) error {
		for k, v := range m {
			switch {
			case commands[k]:
				section, ok := v.(map[string]any)
				if !ok {
					return fmt.Errorf("config file: %s%q is a command: its value must be a section of flags", where, k)
				}
				if err := check(section, where+k+"."); err != nil {
					return err
				}
			case !flags[k]:
				return fmt.Errorf("config file: unknown key %s%q (keys are flag names, like addr or jwt-secret, or command sections)", where, k)
			}
		}
		return nil
	}
	return check(y.config, "")
}
