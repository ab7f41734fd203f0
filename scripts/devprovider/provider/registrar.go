package provider

import (
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// binding is where a registered user is reached.
type binding struct {
	contact sip.Uri
	// source is where the REGISTER came from (host:port): requests go
	// there, as a provider sends through the phone's NAT binding rather
	// than to the address the phone wrote in Contact.
	source    string
	transport string
	expires   time.Time
}

// registrar keeps one binding per user: the phone that registered last.
type registrar struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]binding
}

func newRegistrar() *registrar {
	return &registrar{now: time.Now, m: map[string]binding{}}
}

func (r *registrar) set(user string, b binding) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[user] = b
}

func (r *registrar) remove(user string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, user)
}

// lookup returns the user's binding if it has not expired.
func (r *registrar) lookup(user string) (binding, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.m[user]
	if !ok {
		return binding{}, false
	}
	if !r.now().Before(b.expires) {
		delete(r.m, user)
		return binding{}, false
	}
	return b, true
}
