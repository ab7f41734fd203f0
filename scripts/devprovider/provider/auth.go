package provider

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"sync"
	"time"

	"github.com/icholy/digest"
)

// nonceLifetime bounds how long a challenge may be answered. An answer to
// an older one gets a fresh challenge marked stale, so the phone retries
// without asking anyone for a password.
const nonceLifetime = 5 * time.Minute

// authenticator issues digest challenges (RFC 3261 §22, MD5, qop=auth) and
// checks the answers against the configured passwords.
type authenticator struct {
	realm string
	users map[string]string
	now   func() time.Time

	mu     sync.Mutex
	nonces map[string]time.Time
}

func newAuthenticator(realm string, users map[string]string) *authenticator {
	return &authenticator{realm: realm, users: users, now: time.Now, nonces: map[string]time.Time{}}
}

// authResult is the outcome of checking a request's credentials.
type authResult int

const (
	authNone  authResult = iota // no credentials: challenge
	authStale                   // unknown or expired nonce: challenge again (stale)
	authBad                     // wrong password, unknown user or malformed: refuse
	authOK
)

// challenge returns a WWW-Authenticate / Proxy-Authenticate value.
func (a *authenticator) challenge(stale bool) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	nonce := hex.EncodeToString(b)
	now := a.now()
	a.mu.Lock()
	for n, t := range a.nonces {
		if now.Sub(t) > nonceLifetime {
			delete(a.nonces, n)
		}
	}
	a.nonces[nonce] = now
	a.mu.Unlock()
	c := digest.Challenge{Realm: a.realm, Nonce: nonce, Algorithm: "MD5", QOP: []string{"auth"}, Stale: stale}
	return c.String()
}

// check verifies an Authorization / Proxy-Authorization value for method.
// It returns the authenticated user on authOK.
func (a *authenticator) check(header, method string) (string, authResult) {
	if header == "" {
		return "", authNone
	}
	cred, err := digest.ParseCredentials(header)
	if err != nil || cred.Username == "" || cred.Nonce == "" || cred.Response == "" {
		return "", authBad
	}
	a.mu.Lock()
	issued, ok := a.nonces[cred.Nonce]
	a.mu.Unlock()
	if !ok || a.now().Sub(issued) > nonceLifetime {
		return "", authStale
	}
	if cred.Realm != a.realm {
		return "", authBad
	}
	pass, ok := a.users[cred.Username]
	if !ok {
		return "", authBad
	}
	chal := &digest.Challenge{Realm: a.realm, Nonce: cred.Nonce, Algorithm: cred.Algorithm}
	if cred.QOP != "" {
		chal.QOP = []string{cred.QOP}
	}
	want, err := digest.Digest(chal, digest.Options{
		Method: method, URI: cred.URI, Username: cred.Username, Password: pass,
		Cnonce: cred.Cnonce, Count: cred.Nc,
	})
	if err != nil {
		return "", authBad
	}
	if subtle.ConstantTimeCompare([]byte(want.Response), []byte(cred.Response)) != 1 {
		return "", authBad
	}
	return cred.Username, authOK
}
