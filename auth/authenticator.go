package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// maxTokenLen bounds the tokens we try to parse, in bytes; real tokens are a few hundred.
const maxTokenLen = 16 << 10

// Authenticator checks bearer tokens and, with a secret or in dev mode, mints them. It is safe for
// concurrent use. Close it to stop the background JWKS refresh.
type Authenticator struct {
	cfg     Config
	devMode bool

	secret    []byte // HS256 key: Config.Secret or the dev secret; nil for public keys and JWKS.
	publicKey any    // *rsa.PublicKey or *ecdsa.PublicKey from PublicKeyFile.
	jwks      keyfunc.Keyfunc
	methods   []string // accepted algorithms, fixed by the kind of key

	bg        context.Context    // lives until Close; bounds JWKS fetches made for ParseToken
	cancel    context.CancelFunc // stops the JWKS refresh
	ownClient *http.Client       // the JWKS client we made, closed by Close; nil if given
	closeOnce sync.Once
}

// New validates cfg (completed with WithDefaults) and loads its key: reads the public key file,
// fetches the JWKS (bounded by ctx; the background refresh then runs until Close), or in dev mode
// loads or creates the dev secret.
func New(ctx context.Context, cfg Config) (*Authenticator, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := &Authenticator{cfg: cfg, devMode: cfg.DevMode()}
	var err error
	switch {
	case cfg.Secret != "":
		a.secret, a.methods = []byte(cfg.Secret), hmacMethods
	case cfg.PublicKeyFile != "":
		a.publicKey, a.methods, err = loadPublicKey(cfg.PublicKeyFile)
	case cfg.JWKSURL != "":
		err = a.startJWKS(ctx)
	case cfg.DevSecretFile != "":
		a.methods = hmacMethods
		a.secret, err = loadDevSecret(cfg.DevSecretFile)
	default:
		a.methods = hmacMethods
		a.secret = make([]byte, devSecretLen)
		_, err = rand.Read(a.secret)
	}
	if err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func (a *Authenticator) startJWKS(ctx context.Context) error {
	// The refresh must outlive ctx, which only bounds the first fetch.
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.bg, a.cancel = bg, cancel
	stop := context.AfterFunc(ctx, cancel)
	defer stop()

	client := a.cfg.HTTPClient
	if client == nil {
		a.ownClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		client = a.ownClient
	}
	a.methods = jwksMethods
	var err error
	a.jwks, err = newJWKS(bg, a.cfg, client)
	return err
}

// DevMode reports whether the authenticator runs with a dev secret and serves the dev login.
func (a *Authenticator) DevMode() bool { return a.devMode }

// Close stops the background JWKS refresh. It is safe to call more than once.
func (a *Authenticator) Close() {
	a.closeOnce.Do(func() {
		if a.cancel != nil {
			a.cancel()
		}
		if a.ownClient != nil {
			a.ownClient.CloseIdleConnections()
		}
	})
}

// Token extracts the bearer token of a request: from `Authorization: Bearer x` first, else from
// the access_token query parameter, where browsers' WebSockets and SSE must put it. It returns ""
// when there is none.
func Token(r *http.Request) string {
	if tok := HeaderToken(r); tok != "" {
		return tok
	}
	return r.URL.Query().Get("access_token")
}

// HeaderToken is the bearer token of the Authorization header, "" when there is none.
func HeaderToken(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(tok)
	}
	return ""
}

// AuthenticateHeader is Authenticate reading the token from the Authorization header only: what
// the REST API takes, so that tokens stay out of URLs (logs, Referer headers). The hubs'
// transports, which browsers cannot give a header (WebSockets, event streams), use Authenticate.
func (a *Authenticator) AuthenticateHeader(r *http.Request) (*Identity, error) {
	if r.URL.Query().Has("access_token") && r.Header.Get("Authorization") == "" {
		return nil, &Error{Code: CodeTokenMissing, Message: "The REST API takes the token in the Authorization header only (Bearer), not in the query string."}
	}
	tok := HeaderToken(r)
	if tok == "" {
		return nil, ErrNoToken
	}
	return a.parse(r.Context(), tok)
}

// Authenticate returns the identity of a request. It returns ErrNoToken when the request carries
// no token, and an *Error for a token that is refused.
func (a *Authenticator) Authenticate(r *http.Request) (*Identity, error) {
	tok := Token(r)
	if tok == "" {
		return nil, ErrNoToken
	}
	return a.parse(r.Context(), tok)
}

// ParseToken checks a token and returns its identity, or an *Error. An empty token gives
// ErrNoToken.
func (a *Authenticator) ParseToken(token string) (*Identity, error) {
	ctx := a.bg
	if ctx == nil {
		ctx = context.Background() // No JWKS: nothing here can block.
	}
	return a.parse(ctx, token)
}

func (a *Authenticator) parse(ctx context.Context, token string) (*Identity, error) {
	if token == "" {
		return nil, ErrNoToken
	}
	if len(token) > maxTokenLen {
		return nil, invalid("The token is too large.", nil)
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(a.methods),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(max(a.cfg.Leeway, 0)),
	}
	if a.cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(a.cfg.Issuer))
	}
	if a.cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(a.cfg.Audience))
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.NewParser(opts...).ParseWithClaims(token, claims, a.keyfunc(ctx)); err != nil {
		return nil, classify(err)
	}
	return identityFromClaims(claims, a.cfg.UserClaim, a.cfg.RoleClaim)
}

// keyfunc returns the verification key. The parser has already refused algorithms outside
// a.methods; the key's Go type is checked by the algorithm itself, so an HMAC check can never be
// handed a public key.
func (a *Authenticator) keyfunc(ctx context.Context) jwt.Keyfunc {
	switch {
	case a.jwks != nil:
		return a.jwksKeyfunc(ctx)
	case a.publicKey != nil:
		return func(*jwt.Token) (any, error) { return a.publicKey, nil }
	default:
		return func(t *jwt.Token) (any, error) {
			if _, ok := t.Method.(*jwt.SigningMethodHMAC); !ok {
				return nil, fmt.Errorf("algorithm %s with an HMAC secret", t.Method.Alg())
			}
			return a.secret, nil
		}
	}
}

// errUnknownKey marks a kid that the key set does not hold, even after a refresh (or when a
// refresh was refused by the rate limit).
var errUnknownKey = errors.New("unknown key id")

func (a *Authenticator) jwksKeyfunc(ctx context.Context) jwt.Keyfunc {
	inner := a.jwks.KeyfuncCtx(ctx)
	return func(t *jwt.Token) (any, error) {
		// Look the kid up first so that "unknown key" is told apart from the other failures of
		// the inner keyfunc, which all share one sentinel. The second read hits the cache.
		if kid, ok := t.Header["kid"].(string); ok {
			if _, err := a.jwks.Storage().KeyRead(ctx, kid); err != nil {
				return nil, fmt.Errorf("%w %q: %w", errUnknownKey, kid, err)
			}
		}
		return inner(t)
	}
}

// classify maps a jwt error to a client-facing *Error, keeping the cause for logs.
func classify(err error) *Error {
	switch {
	case errors.Is(err, errUnknownKey):
		return invalid("The token is signed with an unknown key.", err)
	case errors.Is(err, jwt.ErrTokenMalformed):
		return invalid("The token is malformed.", err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		// Includes refused algorithms; saying which we expect would only help an attacker.
		return invalid("The token's signature is not valid.", err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return &Error{Code: CodeTokenExpired, Message: "The token has expired; get a new one.", Err: err}
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return &Error{Code: CodeTokenNotYetValid, Message: "The token is not valid yet (nbf).", Err: err}
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		// The library names the missing claim only in its text ("iss claim is required").
		switch text := err.Error(); {
		case strings.Contains(text, "iss claim"):
			return invalid("The token has no issuer (iss), which this server requires.", err)
		case strings.Contains(text, "aud claim"):
			return invalid("The token has no audience (aud), which this server requires.", err)
		}
		return invalid("The token has no expiry (exp).", err)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return invalid("The token's issuer (iss) is not accepted.", err)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return invalid("The token's audience (aud) is not accepted.", err)
	default:
		return invalid("The token is not valid.", err)
	}
}
