package update

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/tipring/tipring/firmware/image"
)

// LatestName is the file a pull reads under <url>/<board>/.
const LatestName = "latest.json"

// Latest is <url>/<board>/latest.json: the newest image for a board.
type Latest struct {
	Version string `json:"version"`
	// Image is the image's file name, relative to latest.json.
	Image string `json:"image"`
}

// ParseLatest decodes latest.json.
func ParseLatest(data []byte) (Latest, error) {
	var l Latest
	if err := json.Unmarshal(data, &l); err != nil {
		return Latest{}, fmt.Errorf("%s: %w", LatestName, err)
	}
	if _, err := image.ParseVersion(l.Version); err != nil || l.Version == "" {
		return Latest{}, fmt.Errorf("%s: version %q is not a version", LatestName, l.Version)
	}
	if l.Image == "" || strings.ContainsAny(l.Image, "?#\\") || image.CheckPath(l.Image) != nil {
		return Latest{}, fmt.Errorf("%s: image %q: want a file name under the update URL", LatestName, l.Image)
	}
	return l, nil
}

// Pull looks for a newer image at <base>/<board>/latest.json and installs
// it when its version is above the running one. It reports whether it
// installed one. Images come only from under base.
func (u *Updater) Pull(ctx context.Context, hc *http.Client, base string) (Result, bool, error) {
	dir, err := url.Parse(strings.TrimRight(base, "/") + "/" + url.PathEscape(u.opts.Board) + "/")
	if err != nil || (dir.Scheme != "http" && dir.Scheme != "https") {
		return Result{}, false, fmt.Errorf("update url %q: want an http(s) URL", base)
	}
	// A redirect may not lead anywhere but under the configured URL.
	under := *hc
	under.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), dir.String()) || len(via) > 5 {
			return fmt.Errorf("update: redirect to %s leaves the update URL %s", req.URL, dir)
		}
		return nil
	}
	hc = &under
	body, err := get(ctx, hc, dir.JoinPath(LatestName).String(), 64<<10)
	if err != nil {
		return Result{}, false, err
	}
	defer body.Close()
	raw, err := io.ReadAll(body)
	if err != nil {
		return Result{}, false, fmt.Errorf("update: %s: %w", LatestName, err)
	}
	latest, err := ParseLatest(raw)
	if err != nil {
		return Result{}, false, fmt.Errorf("update: %w", err)
	}
	st, _ := u.State()
	running := st.running()
	if cur := st.Slots[running].Version; running != "" && cur != "" {
		lv, _ := image.ParseVersion(latest.Version)
		cv, err := image.ParseVersion(cur)
		if err == nil && lv.Compare(cv) <= 0 {
			return Result{}, false, nil
		}
	}
	img, err := get(ctx, hc, dir.JoinPath(latest.Image).String(), image.MaxFileSize+image.MaxManifestSize+1<<20)
	if err != nil {
		return Result{}, false, err
	}
	defer img.Close()
	res, err := u.Install(ctx, img, false)
	if err != nil {
		return Result{}, false, err
	}
	return res, true, nil
}

type limitedBody struct {
	io.Reader
	io.Closer
}

func get(ctx context.Context, hc *http.Client, u string, limit int64) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("update: GET %s: %s", u, resp.Status)
	}
	return limitedBody{io.LimitReader(resp.Body, limit), resp.Body}, nil
}
