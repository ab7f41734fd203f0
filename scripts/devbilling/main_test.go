package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tipring/tipring/meter"
	"github.com/tipring/tipring/meter/backend"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// start runs the command on a free loopback port and returns its address
// once it logged the line scripts wait for.
func start(t *testing.T, ctx context.Context, args ...string) (addr string, done <-chan error) {
	t.Helper()
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := run(ctx, append([]string{"-listen", "127.0.0.1:0"}, args...), pw)
		pw.CloseWithError(errors.New("devbilling ended"))
		errc <- err
	}()
	listening := regexp.MustCompile(`devbilling listening on (127\.0\.0\.1:\d+)`)
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if m := listening.FindStringSubmatch(sc.Text()); m != nil {
			// Keep draining the log so the server never blocks on it.
			go func() { _, _ = io.Copy(io.Discard, pr) }()
			return m[1], errc
		}
	}
	t.Fatalf("devbilling ended without the listening line: %v", <-errc)
	return "", nil
}

func TestServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done := start(t, ctx, "-account", "42", "-token", "tok", "-balance", "7.50", "-currency", "EUR")
	c, err := backend.New("http://"+addr, "42", "tok", backend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.Account(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a.Balance != 7_500_000 || a.Currency != "EUR" || a.Status != meter.Active {
		t.Errorf("account %+v", a)
	}
	cancel()
	waitStopped(t, done, "devbilling did not stop")
}

// waitStopped waits for run to return after its context ended; it must
// return nil within 10 s, or the test fails with slow.
func waitStopped(t *testing.T, done <-chan error, slow string) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal(slow)
	}
}

// A request held by the "hang" outage does not hold up the shutdown.
func TestShutdownEndsHangingRequests(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done := start(t, ctx)
	resp, err := http.Post("http://"+addr+"/dev/state", "application/json", strings.NewReader(`{"outage":"hang"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c, err := backend.New("http://"+addr, "100200300", "dev-token", backend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reqDone := make(chan error, 1)
	go func() {
		_, err := c.Account(context.Background())
		reqDone <- err
	}()
	// Wait until the server holds the request.
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/dev/state")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), `"hanging":1`) {
			break
		}
		if i == 500 {
			t.Fatalf("the request never reached the server: %s", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	waitStopped(t, done, "devbilling did not stop while a request hung")
	if err := <-reqDone; err == nil {
		t.Error("the hanging request got an answer")
	}
}

func TestFlagsRejected(t *testing.T) {
	for _, args := range [][]string{
		{"-listen", "0.0.0.0:8090"},
		{"-listen", "192.0.2.1:8090"},
		{"-listen", "localhost"},
		{"-balance", "lots"},
		{"-currency", "dollars"},
		{"-token", ""},
		{"extra"},
	} {
		if err := run(context.Background(), args, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
