package sip

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// authRetry is a digest challenge we are answering.
type authRetry struct {
	code  int // 401 (WWW-Authenticate) or 407 (Proxy-Authenticate)
	chal  *digest.Challenge
	tries int // challenges answered so far in this exchange
}

// errAuthRejected: the server challenged again after we answered, so it did
// not accept our credentials.
var errAuthRejected = errors.New("credentials rejected")

// nextAuth decides whether a 401/407 can be answered. The first challenge
// is; a further one only when it says our nonce was stale, and only once —
// so a wrong password costs exactly one extra request.
func nextAuth(prev *authRetry, res *sip.Response) (*authRetry, error) {
	name := "WWW-Authenticate"
	if res.StatusCode == 407 {
		name = "Proxy-Authenticate"
	}
	var chal *digest.Challenge
	var lastErr error
	for _, h := range res.GetHeaders(name) {
		c, err := digest.ParseChallenge(h.Value())
		if err != nil {
			lastErr = err
			continue
		}
		// Some servers send the algorithm in lower case.
		c.Algorithm = strings.ToUpper(c.Algorithm)
		for i := range c.QOP {
			c.QOP[i] = strings.TrimSpace(c.QOP[i])
		}
		if !digest.CanDigest(c) {
			lastErr = fmt.Errorf("unsupported algorithm %q or qop %q", c.Algorithm, strings.Join(c.QOP, ","))
			continue
		}
		chal = c
		break
	}
	if chal == nil {
		if lastErr == nil {
			lastErr = fmt.Errorf("no %s header", name)
		}
		return nil, fmt.Errorf("challenge: %w", lastErr)
	}
	if prev != nil && (!chal.Stale || prev.tries >= 2) {
		return nil, errAuthRejected
	}
	tries := 1
	if prev != nil {
		tries = prev.tries + 1
	}
	return &authRetry{code: res.StatusCode, chal: chal, tries: tries}, nil
}

// apply adds the credentials answering the challenge to req.
func (r *authRetry) apply(req *sip.Request, a *account) error {
	body := req.Body()
	cred, err := digest.Digest(r.chal, digest.Options{
		Method:   string(req.Method),
		URI:      req.Recipient.String(),
		Username: a.AuthUser,
		Password: a.Password,
		GetBody: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(body)), nil
		},
	})
	if err != nil {
		return fmt.Errorf("digest: %w", err)
	}
	name := "Authorization"
	if r.code == 407 {
		name = "Proxy-Authorization"
	}
	for req.RemoveHeader(name) {
	}
	// Keep Content-Length last, where simple parsers look for it.
	req.RemoveHeader("Content-Length")
	req.AppendHeader(sip.NewHeader(name, cred.String()))
	req.SetBody(body)
	return nil
}
