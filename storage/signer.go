package storage

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"time"
)

// Query parameters of a file download link.
const (
	paramExpires = "expires"
	paramName    = "name"
	paramSig     = "sig"
)

// linkDomain separates these MACs from any other use of the same key; bump the version if
// the signed message ever changes.
const linkDomain = "herald-download-v1"

var (
	errLinkInvalid = errors.New("link signature does not match")
	errLinkExpired = errors.New("link has expired")
)

// linkSigner makes and checks file download links. We do not use fileblob's URLSignerHMAC:
// it signs a relative expiry computed at signing time (no fixed expiry to hand back), puts the
// key in the query rather than the path, cannot bind a download file name, and reports a
// tampered and an expired link with the same error, while Herald's handler must tell them
// apart (link_invalid vs link_expired).
type linkSigner struct {
	key []byte
}

func newLinkSigner(key []byte) *linkSigner {
	return &linkSigner{key: append([]byte(nil), key...)}
}

// mac is HMAC-SHA256 over the domain, key, expiry and download name, each length-prefixed
// so no two different triples produce the same message.
func (s *linkSigner) mac(key string, expires int64, name string) []byte {
	h := hmac.New(sha256.New, s.key)
	for _, part := range []string{linkDomain, key, strconv.FormatInt(expires, 10), name} {
		h.Write([]byte(strconv.Itoa(len(part))))
		h.Write([]byte{':'})
		h.Write([]byte(part))
	}
	return h.Sum(nil)
}

// query returns the link's query string for key, valid until expires.
func (s *linkSigner) query(key string, expires time.Time, name string) string {
	exp := expires.Unix()
	q := url.Values{}
	q.Set(paramExpires, strconv.FormatInt(exp, 10))
	if name != "" {
		q.Set(paramName, name)
	}
	q.Set(paramSig, base64.RawURLEncoding.EncodeToString(s.mac(key, exp, name)))
	return q.Encode()
}

// verify checks the signature first (in constant time) and only then the expiry, so
// "expired" is only ever said of a link we really issued. It returns the download name.
func (s *linkSigner) verify(key string, q url.Values, now time.Time) (string, error) {
	expRaw, sigRaw, name := q.Get(paramExpires), q.Get(paramSig), q.Get(paramName)
	exp, err := strconv.ParseInt(expRaw, 10, 64)
	if err != nil || strconv.FormatInt(exp, 10) != expRaw {
		return "", errLinkInvalid
	}
	// Strict: a signature with non-zero padding bits decodes to the same MAC; accept only the
	// one spelling the signer writes.
	sig, err := base64.RawURLEncoding.Strict().DecodeString(sigRaw)
	if err != nil {
		return "", errLinkInvalid
	}
	if !hmac.Equal(sig, s.mac(key, exp, name)) {
		return "", errLinkInvalid
	}
	if now.Unix() >= exp {
		return "", errLinkExpired
	}
	return name, nil
}
