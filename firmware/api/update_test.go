package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tipring/tipring/firmware/image"
	"github.com/tipring/tipring/firmware/update"
)

// updatable records what the API hands it.
type updatable struct {
	fixed
	mu      sync.Mutex
	got     []byte
	opts    UpdateOptions
	reboots []string
	err     error
}

func (u *updatable) InstallUpdate(_ context.Context, body io.Reader, opts UpdateOptions) (UpdateResult, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return UpdateResult{}, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.got, u.opts = b, opts
	if u.err != nil {
		return UpdateResult{}, u.err
	}
	return UpdateResult{Result: update.Result{Manifest: &image.Manifest{Board: "sim", Version: "1.1.0"}, Slot: "b", Trial: true}, Reboot: !opts.NoReboot, Message: "rebooting"}, nil
}

func (u *updatable) Reboot(reason string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.reboots = append(u.reboots, reason)
}

func (u *updatable) UpdateStatus() (UpdateStatus, error) {
	return UpdateStatus{RunningSlot: "a", State: update.State{Active: "a", Slots: map[string]update.SlotInfo{"a": {State: update.SlotReady, Version: "1.0.0"}}}}, nil
}

func TestUpdateUploadInstallsAndReboots(t *testing.T) {
	src := &updatable{}
	s, err := New("127.0.0.1:0", "secret", src, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	c := NewClient(srv.URL, "secret", srv.Client())
	img := bytes.Repeat([]byte("image"), 100_000)

	if _, err := NewClient(srv.URL, "wrong", srv.Client()).Update(context.Background(), bytes.NewReader(img), UpdateOptions{}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong password: %v", err)
	}
	if src.got != nil {
		t.Fatal("an unauthenticated upload reached the installer")
	}
	res, err := c.Update(context.Background(), bytes.NewReader(img), UpdateOptions{Force: true})
	if err != nil || res.Manifest.Version != "1.1.0" || !res.Reboot || res.Slot != "b" {
		t.Fatalf("Update = %+v, %v", res, err)
	}
	if !bytes.Equal(src.got, img) || !src.opts.Force || len(src.reboots) != 1 {
		t.Fatalf("installer got %d bytes, opts %+v, %d reboots; want the whole image, force, one reboot", len(src.got), src.opts, len(src.reboots))
	}
	if _, err := c.Update(context.Background(), bytes.NewReader(img), UpdateOptions{NoReboot: true}); err != nil || len(src.reboots) != 1 {
		t.Fatalf("--no-reboot: %v, %d reboots", err, len(src.reboots))
	}

	src.err = fmt.Errorf("%w: image is for board rpifxs, this device is sim", image.ErrBoard)
	_, err = c.Update(context.Background(), bytes.NewReader(img), UpdateOptions{})
	if err == nil || !strings.Contains(err.Error(), "422") || !strings.Contains(err.Error(), "image is for board rpifxs, this device is sim") {
		t.Fatalf("refused image: %v, want 422 and the reason", err)
	}

	st, err := c.UpdateStatus(context.Background())
	if err != nil || st.RunningSlot != "a" || st.State.Slots["a"].Version != "1.0.0" {
		t.Fatalf("UpdateStatus = %+v, %v", st, err)
	}
}
