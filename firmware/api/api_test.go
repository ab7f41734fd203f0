package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fixed Status

func (f fixed) Status() Status { return Status(f) }

func newTestServer(t *testing.T) (*httptest.Server, Status) {
	t.Helper()
	st := Status{Version: "1.2.3", Board: "sim", Region: "us", Lines: []LineStatus{{Port: 1, User: "1001", Registered: true, LastCode: 200, Hook: "on", CallState: "idle"}}}
	s, err := New("127.0.0.1:0", "secret", fixed(st), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv, st
}

func TestStatusNeedsThePassword(t *testing.T) {
	srv, _ := newTestServer(t)
	for _, pass := range []string{"", "wrong", "secret "} {
		_, err := NewClient(srv.URL, pass, srv.Client()).Status(context.Background())
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("password %q: got %v, want 401", pass, err)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/status", nil)
	req.SetBasicAuth("root", "secret")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("user root: %s, want 401 with a challenge", resp.Status)
	}
}

func TestStatus(t *testing.T) {
	srv, want := newTestServer(t)
	got, err := NewClient(srv.URL, "secret", srv.Client()).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != want.Version || len(got.Lines) != 1 || !got.Lines[0].Registered || got.Lines[0].LastCode != 200 {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestUnknownEndpointIsNamed(t *testing.T) {
	srv, _ := newTestServer(t)
	var out Status
	err := NewClient(srv.URL, "secret", srv.Client()).get(context.Background(), "/api/v1/nope", &out)
	if err == nil || !strings.Contains(err.Error(), "no such endpoint") {
		t.Fatalf("got %v", err)
	}
}

func TestEmptyPasswordRefused(t *testing.T) {
	if _, err := New("127.0.0.1:0", "", fixed{}, nil); err == nil {
		t.Fatal("a management API without a password")
	}
}

func TestRunStopsWithContext(t *testing.T) {
	s, err := New("127.0.0.1:0", "secret", fixed{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()
	if _, err := NewClient("http://"+s.Addr().String(), "secret", nil).Status(context.Background()); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestRunReportsABusyAddress(t *testing.T) {
	s1, _ := New("127.0.0.1:0", "secret", fixed{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s1.Run(ctx) }()
	<-s1.Ready()
	s2, _ := New(s1.Addr().String(), "secret", fixed{}, nil)
	if err := s2.Run(ctx); err == nil || !strings.Contains(err.Error(), "management API") {
		t.Fatalf("got %v", err)
	}
	cancel()
	<-done
}
