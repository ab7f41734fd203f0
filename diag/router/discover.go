package router

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/huin/goupnp/httpu"
	"github.com/huin/goupnp/ssdp"
)

// searchTargets are asked in parallel: IGD:2 gateways should also answer
// IGD:1, but not all do, and IGD:1-only gateways ignore IGD:2.
var searchTargets = [...]string{
	"urn:schemas-upnp-org:device:InternetGatewayDevice:1",
	"urn:schemas-upnp-org:device:InternetGatewayDevice:2",
}

type candidate struct {
	location string
	server   string
	usn      string
}

// redirected sends goupnp's M-SEARCH to a chosen address. goupnp builds the
// request for the multicast group and sends it to req.Host; replacing Host
// keeps its request format and response parsing while letting tests use a
// unicast responder on loopback.
type redirected struct {
	c  *httpu.HTTPUClient
	to string
}

func (r redirected) DoWithContext(req *http.Request, numSends int) ([]*http.Response, error) {
	req = req.Clone(req.Context())
	req.Host = r.to
	return r.c.DoWithContext(req, numSends)
}

// discover runs the SSDP searches and returns the gateways that answered,
// one entry per LOCATION, IGD:1 answers first.
func discover(ctx context.Context, opts Options) ([]candidate, error) {
	// ssdp.RawSearch derives MX from the deadline in whole seconds, so the
	// search context gets a little headroom above SearchWait.
	sctx, cancel := context.WithTimeout(ctx, opts.SearchWait+300*time.Millisecond)
	defer cancel()

	type result struct {
		resps []*http.Response
		err   error
	}
	clients := make([]*httpu.HTTPUClient, 0, len(searchTargets))
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for range searchTargets {
		c, err := newHTTPU(opts.LocalAddr)
		if err != nil {
			return nil, fmt.Errorf("router: SSDP socket: %w", err)
		}
		clients = append(clients, c)
	}
	results := make([]result, len(searchTargets))
	var wg sync.WaitGroup
	for i, st := range searchTargets {
		wg.Go(func() {
			resps, err := ssdp.RawSearch(sctx, redirected{c: clients[i], to: opts.SearchAddr}, st, 2)
			results[i] = result{resps, err}
		})
	}
	wg.Wait()

	var out []candidate
	seen := map[string]bool{}
	var errs []string
	for i, r := range results {
		if r.err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", searchTargets[i], r.err))
			continue
		}
		for _, resp := range r.resps {
			loc := resp.Header.Get("Location")
			if loc == "" || seen[loc] {
				continue
			}
			seen[loc] = true
			out = append(out, candidate{
				location: loc,
				server:   clean(resp.Header.Get("Server")),
				usn:      resp.Header.Get("Usn"),
			})
		}
	}
	if len(errs) == len(searchTargets) {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("router: SSDP search: %w", ctx.Err())
		}
		return nil, fmt.Errorf("router: SSDP search: %s", strings.Join(errs, "; "))
	}
	opts.Logger.Debug("SSDP search done", "answers", len(out))
	return out, nil
}

func newHTTPU(local string) (*httpu.HTTPUClient, error) {
	if local == "" {
		return httpu.NewHTTPUClient()
	}
	return httpu.NewHTTPUClientAddr(local)
}

// countIGDs counts distinct gateways by the uuid part of their USN; one
// gateway answering both searches, or from two locations, counts once.
func countIGDs(cs []candidate) int {
	ids := map[string]bool{}
	for _, c := range cs {
		id, _, _ := strings.Cut(c.usn, "::")
		if id == "" {
			id = c.location
		}
		ids[id] = true
	}
	return len(ids)
}
