package diag

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A slow, a failing and a panicking collector never hold up the bundle or
// the good ones; each is recorded with what went wrong.
func TestCollectSurvivesBadCollectors(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	start := time.Now()
	secs := Collect(context.Background(), []Collector{
		{Name: "good", Run: func(context.Context) (any, error) { return "fine", nil }},
		{Name: "failing", Run: func(context.Context) (any, error) { return nil, errors.New("no route to router") }},
		{Name: "panicking", Run: func(context.Context) (any, error) { panic("boom") }},
		{Name: "slow", Timeout: 100 * time.Millisecond, Run: func(ctx context.Context) (any, error) {
			<-ctx.Done()
			return "half", ctx.Err()
		}},
		{Name: "deaf", Timeout: 100 * time.Millisecond, Run: func(context.Context) (any, error) {
			<-release // ignores its context
			return nil, nil
		}},
	}, nil)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the bundle waited %v for its collectors", took)
	}
	want := map[string]string{"good": "", "failing": "no route to router", "panicking": "panicked: boom", "slow": "partial", "deaf": "did not finish"}
	for _, s := range secs {
		if w := want[s.Name]; (w == "") != (s.Error == "") || !strings.Contains(s.Error, w) {
			t.Errorf("%s: error %q, want %q", s.Name, s.Error, w)
		}
	}
	if secs[0].Data != "fine" || secs[3].Data != "half" {
		t.Fatalf("data lost: %+v", secs)
	}
}

func TestArchiveOrderAndScrub(t *testing.T) {
	files := []File{
		{Name: "log.txt", Data: []byte("registered with password canary-S3cret\n")},
		{Name: "extra.txt", Data: []byte("x")},
		{Name: "diag.json", Data: []byte(`{"token":"canary-T0ken"}`)},
		{Name: "summary.txt", Data: []byte("all good")},
	}
	leaked := Scrub(files, []string{"canary-S3cret", "canary-T0ken", ""})
	if len(leaked) != 2 {
		t.Fatalf("leaks found in %v, want log.txt and diag.json", leaked)
	}
	var buf bytes.Buffer
	if err := WriteArchive(&buf, files, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	back, err := ReadArchive(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range back {
		names = append(names, f.Name)
		if bytes.Contains(f.Data, []byte("canary")) {
			t.Errorf("%s still holds a secret: %s", f.Name, f.Data)
		}
	}
	if got := strings.Join(names, " "); got != "summary.txt diag.json log.txt extra.txt" {
		t.Fatalf("order %q", got)
	}
}
