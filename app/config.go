package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/jobs"
)

// Config is everything `herald serve` can be told. The zero value of a field means its default.
type Config struct {
	// Addr is the listen address. Default 127.0.0.1:8080.
	Addr string
	// DataDir holds Herald's embedded state. Default ./herald-data.
	DataDir string
	// Jobs configures the task store and runner (see jobs.Config): DatabaseURL "" is SQLite at
	// DataDir/herald.db, or a postgres:// URL. Its DataDir and Logger default to the ones above.
	Jobs jobs.Config
	// NoWorkers serves the API and hubs without running tasks (another process runs them).
	NoWorkers bool
	// ConformanceHub serves /hubs/conformance, the hub the protocol interop tests use.
	ConformanceHub bool
	// Auth configures JWT validation. With no secret, key or JWKS URL Herald runs in dev mode.
	Auth auth.Config
	// DemoTasks serves POST /api/demo/tasks (a development aid, on in dev mode anyway).
	DemoTasks bool
	// Dev allows dev mode on an address that is not loopback (dev mode gives anyone who can
	// reach Herald a token for any user).
	Dev bool
	// CORSOrigins are the browser origins allowed to call Herald (patterns; "*" for any).
	CORSOrigins []string
	// LoginURL is where the web app sends a person to sign in (outside dev mode); that page comes
	// back to Herald's page with #access_token=… in the URL. Empty: the page asks for a token.
	LoginURL string
	// Hub holds the limits and timers of every hub (see hub.Options; zero fields take the hub's
	// defaults). The app sets Authenticate, RequireAuth, Backplane, Metrics, Logger and
	// AllowedOrigins itself.
	Hub hub.Options
	// Exports configures datasets, export storage and download links.
	Exports ExportsConfig
	// Cluster joins the node to a cluster on Redis; zero runs it alone.
	Cluster ClusterConfig
	// Manage configures the management API and the serverless clients.
	Manage ManageConfig
	// MetricsAddr, when set, serves /metrics on this address of its own (a private port) instead
	// of the public listener.
	MetricsAddr string
	// HTTP bounds the HTTP requests of the REST API (the hubs' transports keep their own timers).
	HTTP HTTPTimeouts
	// Readiness tunes /readyz's probe that the task database takes writes.
	Readiness ReadinessConfig
	// ShutdownTimeout bounds the drain on SIGINT/SIGTERM. Default 10 s.
	ShutdownTimeout time.Duration
	// Monitor tunes the live trace and counts of the operators' routes (hub.MonitorOptions;
	// Backplane and Logger are the app's). NodeID defaults to the host name and a random suffix.
	Monitor hub.MonitorOptions
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// ExportsConfig configures exports; zero values mean the defaults.
type ExportsConfig struct {
	// DatasetsFile is a YAML file of datasets; "" means the built-in demo dataset orders.
	DatasetsFile string
	// StorageURL is where export files go: "" (DataDir/files), file://, azblob:// or s3://
	// (see storage.Config.URL).
	StorageURL string
	// PublicURL is Herald's public origin (https://herald.example.com), which file storage's
	// download links start with. Default "": links are relative to the API.
	PublicURL string
	// SigningKey signs file storage's download links (at least 32 bytes), the same on every
	// node. Default: a random key kept in DataDir/signing-key.
	SigningKey string
	// LinkTTL is how long download links work; files are deleted after it. Default 24 h.
	LinkTTL time.Duration
	// RetentionEvery is how often expired files are deleted. Default 10 min.
	RetentionEvery time.Duration
	// DownloadAuth is who may use a download link: DownloadAuthLink ("" or "link", the default)
	// anyone holding it until it expires (a link is a capability, like a presigned S3 URL);
	// DownloadAuthOwner only its task's owner, with their token in the Authorization header as
	// well (file storage only: Herald must serve the downloads to check).
	DownloadAuth string
}

// Who may download a finished export's file (ExportsConfig.DownloadAuth).
const (
	DownloadAuthLink  = "link"
	DownloadAuthOwner = "owner"
)

// HTTPTimeouts bound what a slow or idle client holds. Zero fields take the defaults.
type HTTPTimeouts struct {
	// Read bounds reading a REST request, its body included. Default 30 s.
	Read time.Duration
	// Write bounds writing a REST reply (not a download, which streams). Default 60 s.
	Write time.Duration
	// Idle bounds a keep-alive connection between requests. Default 120 s.
	Idle time.Duration
}

// ManageConfig configures the management API (/api/hubs/…, /api/v1/hubs/…) and the serverless
// client endpoint (/client/?hub=…).
type ManageConfig struct {
	// AccessKeys sign the tokens of the management API and of serverless clients: "KEY" (every
	// hub) or "KEY@hub,hub", each at least 32 bytes; several at once for rotation. Default: one
	// generated and kept in DataDir/access-key.
	AccessKeys []string
	// Hubs are more hubs to serve, for the management API and serverless clients only (they have
	// no hub methods), e.g. "orders".
	Hubs []string
	// PublicURL is accepted as the host of token audiences besides each request's own Host.
	// Default: Exports.PublicURL.
	PublicURL string
}

// LoadAccessKeys returns the configured access keys, or the one kept in the data dir (generated
// on first use) when none is configured.
func LoadAccessKeys(cfg Config) ([]auth.AccessKey, error) {
	cfg = cfg.WithDefaults()
	if len(cfg.Manage.AccessKeys) == 0 {
		k, err := auth.LoadAccessKey(filepath.Join(cfg.DataDir, "access-key"))
		if err != nil {
			return nil, err
		}
		return []auth.AccessKey{k}, nil
	}
	keys := make([]auth.AccessKey, 0, len(cfg.Manage.AccessKeys))
	for i, s := range cfg.Manage.AccessKeys {
		k, err := auth.ParseAccessKey(s)
		if err != nil {
			return nil, fmt.Errorf("access key %d: %w", i+1, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// ReadAccessKeys is LoadAccessKeys for the commands that talk to a server (herald keys, herald
// send): without configured keys it reads the data dir's key and never generates one.
func ReadAccessKeys(cfg Config) ([]auth.AccessKey, error) {
	cfg = cfg.WithDefaults()
	if len(cfg.Manage.AccessKeys) > 0 {
		return LoadAccessKeys(cfg)
	}
	k, err := auth.ReadAccessKey(filepath.Join(cfg.DataDir, "access-key"))
	if err != nil {
		return nil, err
	}
	return []auth.AccessKey{k}, nil
}

// WithDefaults fills in the defaults.
func (c Config) WithDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.DataDir == "" {
		c.DataDir = "herald-data"
	}
	if c.HTTP.Read == 0 {
		c.HTTP.Read = 30 * time.Second
	}
	if c.HTTP.Write == 0 {
		c.HTTP.Write = 60 * time.Second
	}
	if c.HTTP.Idle == 0 {
		c.HTTP.Idle = 120 * time.Second
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	c.Readiness = c.Readiness.WithDefaults()
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Manage.PublicURL == "" {
		c.Manage.PublicURL = c.Exports.PublicURL
	}
	if c.Jobs.DataDir == "" {
		c.Jobs.DataDir = c.DataDir
	}
	if c.Jobs.Logger == nil {
		c.Jobs.Logger = c.Logger
	}
	if c.Auth.DevMode() && c.Auth.DevSecretFile == "" {
		c.Auth.DevSecretFile = filepath.Join(c.DataDir, "dev-secret")
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if err := c.Hub.WithDefaults().Validate(); err != nil {
		errs = append(errs, err)
	}
	switch c.Exports.DownloadAuth {
	case "", DownloadAuthLink, DownloadAuthOwner:
	default:
		errs = append(errs, fmt.Errorf("download auth must be %q or %q, got %q", DownloadAuthLink, DownloadAuthOwner, c.Exports.DownloadAuth))
	}
	if c.LoginURL != "" {
		if u, err := url.Parse(c.LoginURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" {
			errs = append(errs, fmt.Errorf("--login-url %q: give an absolute http(s) URL without a #fragment", c.LoginURL))
		}
	}
	if c.ShutdownTimeout < 0 {
		errs = append(errs, fmt.Errorf("shutdown timeout must not be negative, got %s", c.ShutdownTimeout))
	}
	if err := c.Cluster.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Readiness.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Auth.DevMode() && !c.Dev && !loopback(c.Addr) {
		errs = append(errs, fmt.Errorf("dev mode (no --jwt-secret, --jwt-public-key-file or --jwks-url) gives anyone who reaches %s a token for any user: on an address that is not loopback it needs --dev", c.Addr))
	}
	for _, h := range c.Manage.Hubs {
		if !hubName.MatchString(h) || strings.EqualFold(h, NotificationsHub) || strings.EqualFold(h, "conformance") {
			errs = append(errs, fmt.Errorf("--hub %q: a hub name is a letter, then up to 127 letters, digits or _ (and not notifications or conformance, which Herald serves itself)", h))
		}
	}
	return errors.Join(errs...)
}

var hubName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,127}$`)

// loopback reports whether a listen address only takes this machine's connections.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
