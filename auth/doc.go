// Package auth tells Herald who made a request.
//
// Requests carry a JWT bearer token, in the Authorization header or, for browsers' WebSockets and
// Server-Sent Events which cannot set headers, in the access_token query parameter (see [Token]).
// An [Authenticator] built by [New] from a [Config] validates it and returns an [Identity]: the user
// id, the roles and every claim.
//
// Exactly one kind of key is configured, and it alone decides which algorithms are accepted, so a
// token cannot choose how it is checked:
//   - Config.Secret: HS256 with a shared secret (at least 32 bytes).
//   - Config.PublicKeyFile: an RSA key (RS256/384/512) or an ECDSA key (the ES algorithm of its curve).
//   - Config.JWKSURL: a JSON Web Key Set fetched at start-up, refreshed in the background and on an
//     unknown key id (rate-limited), RS* and ES* only.
//
// "none" is never accepted, nor HS256 signed with a public key (algorithm confusion). Tokens must
// carry exp; nbf is honoured; iss and aud are checked when configured.
//
// With none of the three set the authenticator is in dev mode: it signs and checks HS256 tokens
// with a secret kept in Config.DevSecretFile, so that `herald token` and a running dev server agree,
// and [Authenticator.DevLoginHandler] hands out tokens to anyone who asks. Dev mode is for a
// developer's machine only; callers should log loudly when it is on.
//
// Failures are [*Error] values with a stable Code and a message safe to show a client;
// [WriteError] turns one into a 401 JSON reply. The hub and the API call
// [Authenticator.Authenticate] themselves; there is no middleware.
package auth
