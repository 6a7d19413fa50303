package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"golang.org/x/time/rate"
)

// Algorithms accepted per kind of key. A token's alg must be in the list of the configured key.
var (
	hmacMethods  = []string{"HS256"}
	rsaMethods   = []string{"RS256", "RS384", "RS512"}
	ecdsaMethods = []string{"ES256", "ES384", "ES512"}
	// jwksMethods are the asymmetric algorithms; the JWK's own type and alg narrow them further.
	jwksMethods = append(append([]string{}, rsaMethods...), ecdsaMethods...)
)

// devSecretLen is the size of a generated dev secret, in bytes.
const devSecretLen = 32

// loadPublicKey reads a PEM public key and returns it with the algorithms it may verify.
func loadPublicKey(path string) (any, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("auth: read public key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, nil, fmt.Errorf("auth: public key %q: no PEM block found", path)
	}
	var key any
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		if strings.Contains(block.Type, "PRIVATE KEY") {
			return nil, nil, fmt.Errorf("auth: public key %q holds a private key; give Herald only the public key", path)
		}
		return nil, nil, fmt.Errorf("auth: public key %q: unsupported PEM block %q", path, block.Type)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("auth: public key %q: %w", path, err)
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		return k, rsaMethods, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return k, []string{"ES256"}, nil
		case elliptic.P384():
			return k, []string{"ES384"}, nil
		case elliptic.P521():
			return k, []string{"ES512"}, nil
		}
		return nil, nil, fmt.Errorf("auth: public key %q: unsupported ECDSA curve %s", path, k.Curve.Params().Name)
	default:
		return nil, nil, fmt.Errorf("auth: public key %q: unsupported key type %T (want RSA or ECDSA)", path, key)
	}
}

// loadDevSecret returns the dev secret kept at path, creating it if it does not exist. Creation
// is atomic (write a temporary file, then hard-link it into place), so a CLI and a server
// starting together end up with the same secret.
func loadDevSecret(path string) ([]byte, error) {
	secret, err := readDevSecret(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return secret, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: create dev secret directory: %w", err)
	}
	secret = make([]byte, devSecretLen)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("auth: generate dev secret: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".dev-secret-*") // CreateTemp makes it 0600.
	if err != nil {
		return nil, fmt.Errorf("auth: create dev secret: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // Only the temporary name; the link stays.
	_, err = tmp.WriteString(hex.EncodeToString(secret) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("auth: write dev secret: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readDevSecret(path) // Another process created it first: use theirs.
		}
		return nil, fmt.Errorf("auth: create dev secret: %w", err)
	}
	return secret, nil
}

func readDevSecret(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("auth: read dev secret: %w", err)
	}
	secret, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(secret) < devSecretLen {
		return nil, fmt.Errorf("auth: dev secret %q is corrupt (want %d hex-encoded bytes); delete it to generate a new one", path, devSecretLen)
	}
	return secret, nil
}

// newJWKS fetches the key set once (failing if it cannot, or if it holds no usable key) and
// starts the background refresh, which lives until bg is cancelled.
func newJWKS(bg context.Context, cfg Config, client *http.Client) (keyfunc.Keyfunc, error) {
	noErrorFirst := false
	logger := cfg.Logger
	kf, err := keyfunc.NewDefaultOverrideCtx(bg, []string{cfg.JWKSURL}, keyfunc.Override{
		Client:                    client,
		HTTPTimeout:               cfg.JWKSTimeout,
		NoErrorReturnFirstHTTPReq: &noErrorFirst,
		// Bounds the wait for the limiter and the fetch together: past it, an unknown kid fails
		// at once rather than holding the request.
		RateLimitWaitMax: cfg.JWKSTimeout,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				if bg.Err() != nil {
					return // Closed: a cancelled fetch is not worth a log line.
				}
				logger.WarnContext(ctx, "auth: refresh JWKS failed; keeping the keys we have", "url", u, "error", err)
			}
		},
		RefreshInterval:   cfg.JWKSRefreshInterval,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(cfg.JWKSUnknownKIDInterval), 1),
	})
	if err != nil {
		return nil, fmt.Errorf("auth: fetch JWKS %q: %w", cfg.JWKSURL, err)
	}
	keys, err := kf.Storage().KeyReadAll(bg)
	if err != nil {
		return nil, fmt.Errorf("auth: read JWKS %q: %w", cfg.JWKSURL, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("auth: JWKS %q holds no usable key", cfg.JWKSURL)
	}
	// Keys marked for encryption never verify signatures; keys with no "use" may.
	return keyfunc.New(keyfunc.Options{
		Ctx:          bg,
		Storage:      kf.Storage(),
		UseWhitelist: []jwkset.USE{jwkset.UseSig, ""},
	})
}
