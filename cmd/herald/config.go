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
	return kong.ResolverFunc(func(_ *kong.Context, parent *kong.Path, flag *kong.Flag) (any, error) {
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
	}), nil
}
