package update

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestPullInstallsOnlyANewerImage(t *testing.T) {
	images := map[string][]byte{
		"tipring-sim-1.0.0.img": makeImage(t, "sim", "1.0.0", ""),
		"tipring-sim-1.1.0.img": makeImage(t, "sim", "1.1.0", ""),
	}
	latest := "1.0.0"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch name := strings.TrimPrefix(r.URL.Path, "/fw/sim/"); {
		case name == "latest.json":
			fmt.Fprintf(w, `{"version":%q,"image":"tipring-sim-%s.img"}`, latest, latest)
		case name == "elsewhere.img":
			http.Redirect(w, r, "http://example.invalid/x.img", http.StatusFound)
		case images[name] != nil:
			_, _ = w.Write(images[name])
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	u := newUpdater(t, dir, nil)
	install(t, u, images["tipring-sim-1.0.0.img"], false)
	if _, ok, err := u.Pull(context.Background(), srv.Client(), srv.URL+"/fw"); ok || err != nil {
		t.Fatalf("pull of the same version = %v, %v; want nothing to do", ok, err)
	}
	latest = "1.1.0"
	res, ok, err := u.Pull(context.Background(), srv.Client(), srv.URL+"/fw/")
	if !ok || err != nil || res.Manifest.Version != "1.1.0" || !res.Trial {
		t.Fatalf("pull of 1.1.0 = %+v, %v, %v", res, ok, err)
	}
	bootAndCheck(t, dir, "1.1.0")
}

func TestPullStaysUnderTheURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/fw/sim/latest.json":
			fmt.Fprint(w, `{"version":"9.0.0","image":"elsewhere.img"}`)
		case "/fw/sim/elsewhere.img":
			http.Redirect(w, r, "/other/x.img", http.StatusFound)
		}
	}))
	defer srv.Close()
	u := newUpdater(t, t.TempDir(), nil)
	_, _, err := u.Pull(context.Background(), srv.Client(), srv.URL+"/fw")
	if err == nil || !strings.Contains(err.Error(), "leaves the update URL") {
		t.Fatalf("redirect off the URL: %v", err)
	}
}

func TestParseLatestRefusesPathsOutOfTheURL(t *testing.T) {
	for _, bad := range []string{
		`{"version":"1.0.0","image":"../../etc/passwd"}`,
		`{"version":"1.0.0","image":"http://evil.example/x.img"}`,
		`{"version":"1.0.0","image":"/x.img"}`,
		`{"version":"1.0.0","image":"x.img?y"}`,
		`{"version":"1.x","image":"x.img"}`,
		`{"version":"1.0.0"}`,
	} {
		if l, err := ParseLatest([]byte(bad)); err == nil {
			t.Errorf("ParseLatest(%s) = %+v", bad, l)
		}
	}
}

func FuzzParseLatest(f *testing.F) {
	f.Add([]byte(`{"version":"1.0.0","image":"tipring-sim-1.0.0.img"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseLatest(data)
		if err != nil {
			return
		}
		if slices.Contains(strings.Split(l.Image, "/"), "..") || strings.HasPrefix(l.Image, "/") || strings.Contains(l.Image, ":") {
			t.Fatalf("accepted image %q", l.Image)
		}
	})
}
