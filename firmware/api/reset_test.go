package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type resettable struct {
	fixed
	calls int
	err   error
}

func (r *resettable) FactoryReset(context.Context) (ResetResult, error) {
	r.calls++
	return ResetResult{KeptCalls: 2, Message: "restarting into provisioning"}, r.err
}

func TestResetNeedsThePasswordAndAPost(t *testing.T) {
	src := &resettable{}
	s, err := New("127.0.0.1:0", "secret", src, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	if _, err := NewClient(srv.URL, "wrong", srv.Client()).Reset(context.Background()); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong password: %v, want 401", err)
	}
	resp, err := srv.Client().Get(srv.URL + "/api/v1/reset")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if src.calls != 0 {
		t.Fatalf("a GET or a wrong password reset the device (%d resets)", src.calls)
	}
	res, err := NewClient(srv.URL, "secret", srv.Client()).Reset(context.Background())
	if err != nil || res.KeptCalls != 2 || src.calls != 1 {
		t.Fatalf("Reset = %+v, %v after %d resets; want 2 kept calls, one reset", res, err, src.calls)
	}
	src.err = errors.New("ledger: disk full")
	if _, err := NewClient(srv.URL, "secret", srv.Client()).Reset(context.Background()); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("failed reset: %v, want the cause", err)
	}
}

func TestNoResetRouteWithoutAResetter(t *testing.T) {
	srv, _ := newTestServer(t)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/reset", nil)
	req.SetBasicAuth("admin", "secret")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("%s, want 404", resp.Status)
	}
}
