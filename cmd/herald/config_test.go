package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/export"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/jobs"
)

func parse(t *testing.T, yamlText string, env map[string]string, args ...string) *cli {
	t.Helper()
	file := filepath.Join(t.TempDir(), "herald.yaml")
	require.NoError(t, os.WriteFile(file, []byte(yamlText), 0o600))
	for k, v := range env {
		t.Setenv(k, v)
	}
	var c cli
	k, err := kong.New(&c, kong.Configuration(yamlLoader, file), kong.DefaultEnvars("HERALD"), defaults())
	require.NoError(t, err)
	_, err = k.Parse(args)
	require.NoError(t, err)
	return &c
}

func TestConfigFileTopLevelAndCommandSection(t *testing.T) {
	c := parse(t, "addr: 0.0.0.0:9000\njwt-secret: from-file\nserve:\n  conformance-hub: true\n  client-timeout: 45s\n", nil, "serve")
	require.Equal(t, "0.0.0.0:9000", c.Serve.Addr)
	require.Equal(t, "from-file", c.Serve.JWTSecret)
	require.True(t, c.Serve.ConformanceHub)
	require.Equal(t, "45s", c.Serve.ClientTimeout.String())

	tok := parse(t, "jwt-secret: from-file\n", nil, "token", "--user", "alice")
	require.Equal(t, "from-file", tok.Token.JWTSecret)
}

func TestEnvironmentAndFlagsOverrideTheFile(t *testing.T) {
	c := parse(t, "addr: 0.0.0.0:9000\nmax-message-size: 1000\n", map[string]string{"HERALD_ADDR": "127.0.0.1:9001"}, "serve", "--max-message-size", "2000")
	require.Equal(t, "127.0.0.1:9001", c.Serve.Addr)
	require.Equal(t, 2000, c.Serve.MaxMessageSize)
}

func TestConfigFileRefusesUnknownKeys(t *testing.T) {
	for _, text := range []string{"jwt-secert: x\n", "serve:\n  adress: x\n", "serve: 3\n"} {
		file := filepath.Join(t.TempDir(), "herald.yaml")
		require.NoError(t, os.WriteFile(file, []byte(text), 0o600))
		var c cli
		k, err := kong.New(&c, kong.Configuration(yamlLoader, file), kong.DefaultEnvars("HERALD"), defaults())
		if err == nil {
			_, err = k.Parse([]string{"serve"})
		}
		require.ErrorContains(t, err, "config file:", text)
	}
}

// The flags' defaults are the packages' own: a flag left alone configures what the package would
// choose by itself.
func TestFlagDefaultsAreThePackagesDefaults(t *testing.T) {
	c := parse(t, "", nil, "serve")
	require.Equal(t, hub.Options{}.WithDefaults().MaxMessageSize, c.Serve.options().MaxMessageSize)
	got, want := c.Serve.options().WithDefaults(), hub.Options{}.WithDefaults()
	// What is not a flag (and funcs, which do not compare) stays out of the comparison.
	for _, o := range []*hub.Options{&got, &want} {
		o.Backplane, o.Logger, o.ErrorText, o.Challenge = nil, nil, nil, nil
	}
	require.Equal(t, want, got)
	require.Equal(t, jobs.Config{}.WithDefaults(), c.Serve.jobs("", nil).WithDefaults())
	require.Equal(t, export.DefaultLinkTTL, c.Serve.LinkTTL)
	require.Equal(t, export.DefaultRetentionEvery, c.Serve.RetentionEvery)
}

func TestJWTLeewayAndAccessKeys(t *testing.T) {
	c := parse(t, "", map[string]string{"HERALD_ACCESS_KEY": "k3y-0123456789abcdef0123456789abcdef@a,b"},
		"serve", "--jwt-leeway", "5s", "--hub", "orders,billing")
	require.Equal(t, 5*time.Second, c.Serve.config().Leeway)
	require.Equal(t, []string{"k3y-0123456789abcdef0123456789abcdef@a,b"}, c.Serve.AccessKey, "a key's hub list is not split")
	require.Equal(t, []string{"orders", "billing"}, c.Serve.Hubs)
	require.Equal(t, 30*time.Second, parse(t, "", nil, "serve").Serve.config().Leeway)
}

func TestUnknownEnvironmentIsRefused(t *testing.T) {
	var c cli
	k, err := kong.New(&c, kong.DefaultEnvars("HERALD"), defaults())
	require.NoError(t, err)
	require.NoError(t, checkEnviron(k, []string{"HERALD_JWT_SECRET=x", "HERALD_REDIS=y", "HERALD_CONNECTION_STRING=z",
		"HERALD_BIN=/bin/herald", "HERALD_TEST_REDIS=r", "PATH=/bin", "HERALDX=1"}), "flags of any command, and the tooling's")
	err = checkEnviron(k, []string{"HERALD_JWT_SECRETT=x", "HERALD_NOPE=1"})
	require.ErrorContains(t, err, "HERALD_JWT_SECRETT (did you mean HERALD_JWT_SECRET?)")
	require.ErrorContains(t, err, "HERALD_NOPE")
}

// herald send needs exactly one addressee; its usage line no longer reads as if it needed all four.
func TestSendNeedsOneAddressee(t *testing.T) {
	c := parse(t, "", nil, "send", "--target", "announcement")
	require.EqualError(t, c.Send.Run(context.Background()), "say whom to send to: one of --user, --group, --all or --connection")
	var cl cli
	k, err := kong.New(&cl, kong.DefaultEnvars("HERALD"), defaults())
	require.NoError(t, err)
	_, err = k.Parse([]string{"send", "--target", "x", "--all", "--user", "a"})
	require.ErrorContains(t, err, "can't be used together")
}
