package update

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tipring/tipring/firmware/image"
)

var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))

// makeImage packs an image whose files say which version they belong to.
func makeImage(t testing.TB, board, version, minVersion string) []byte {
	t.Helper()
	fsys := fstest.MapFS{
		"tipring":         {Data: []byte("firmware " + version + "\n"), Mode: 0o755},
		"prompts/VERSION": {Data: []byte("prompts for " + version + "\n"), Mode: 0o644},
		"config.toml":     {Data: []byte("# config for " + version + "\n"), Mode: 0o644},
	}
	var buf bytes.Buffer
	if _, err := image.Pack(&buf, fsys, image.PackOptions{Board: board, Version: version, MinVersion: minVersion, Built: time.Unix(1_790_000_000, 0), Key: testKey, Gzip: true}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func newUpdater(t testing.TB, dir string, step StepFunc) *Updater {
	t.Helper()
	pub := testKey.Public().(ed25519.PublicKey)
	u, err := New(Options{DataDir: dir, Board: "sim", Trusted: []image.PublicKey{{ID: image.KeyID(pub), Key: pub}}, Step: step})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func install(t testing.TB, u *Updater, img []byte, force bool) Result {
	t.Helper()
	res, err := u.Install(context.Background(), bytes.NewReader(img), force)
	if err != nil {
		t.Fatalf("install: %v", err)
	}
	return res
}

// bootAndCheck is a fresh boot: it must pick a slot whose files are
// complete and belong to version want.
func bootAndCheck(t *testing.T, dir string, want string) Choice {
	t.Helper()
	c, err := newUpdater(t, dir, nil).Boot(3)
	if err != nil {
		t.Fatalf("boot: %v", err)
	}
	if c.Version != want {
		t.Fatalf("boot chose slot %s with version %s, want %s", c.Slot, c.Version, want)
	}
	for name, content := range map[string]string{"tipring": "firmware ", "prompts/VERSION": "prompts for ", "config.toml": "# config for "} {
		b, err := os.ReadFile(filepath.Join(c.Dir, name))
		if err != nil || string(b) != content+want+"\n" {
			t.Fatalf("slot %s %s = %q, %v; want the %s file", c.Slot, name, b, err, want)
		}
	}
	return c
}

var errPowerCut = errors.New("power cut")

func TestFirstInstallIsActiveAtOnce(t *testing.T) {
	dir := t.TempDir()
	res := install(t, newUpdater(t, dir, nil), makeImage(t, "sim", "1.0.0", ""), false)
	if res.Trial || res.Slot != SlotA {
		t.Fatalf("first install = %+v, want slot a, not on trial", res)
	}
	c := bootAndCheck(t, dir, "1.0.0")
	if c.Trial {
		t.Error("factory image boots on trial")
	}
}

// TestPowerCutAtEveryStep cuts the power before each step of an install
// (the step hook stops the install there, with no clean-up) and boots
// afresh: the old image until the switch is saved, the new one after.
func TestPowerCutAtEveryStep(t *testing.T) {
	v1, v2 := makeImage(t, "sim", "1.0.0", ""), makeImage(t, "sim", "1.1.0", "")
	type point struct {
		step   Step
		detail string
	}
	var steps []point
	dir := t.TempDir()
	install(t, newUpdater(t, dir, nil), v1, false)
	install(t, newUpdater(t, dir, func(_ context.Context, s Step, d string) error {
		steps = append(steps, point{s, d})
		return nil
	}), v2, false)
	if len(steps) < 9 {
		t.Fatalf("recorded only %d steps: %v", len(steps), steps)
	}
	switched := false
	for i, p := range steps {
		name := string(p.step) + " " + p.detail
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			install(t, newUpdater(t, dir, nil), v1, false)
			n := 0
			_, err := newUpdater(t, dir, func(_ context.Context, s Step, d string) error {
				if n == i {
					return errPowerCut
				}
				n++
				return nil
			}).Install(context.Background(), bytes.NewReader(v2), false)
			if !errors.Is(err, errPowerCut) {
				t.Fatalf("install = %v, want the cut", err)
			}
			want := "1.0.0"
			if switched {
				want = "1.1.0"
			}
			c := bootAndCheck(t, dir, want)
			if switched != c.Trial {
				t.Errorf("trial = %v after a cut at %s", c.Trial, name)
			}
			// An installer retries; the retry must work from any cut.
			if !switched {
				install(t, newUpdater(t, dir, nil), v2, false)
				bootAndCheck(t, dir, "1.1.0")
			}
		})
		if p.step == StepSwitch {
			switched = true // cuts from the next step on come after the switch
		}
	}
}

func TestTrialThatNeverConfirmsRollsBack(t *testing.T) {
	dir := t.TempDir()
	u := newUpdater(t, dir, nil)
	install(t, u, makeImage(t, "sim", "1.0.0", ""), false)
	install(t, u, makeImage(t, "sim", "1.1.0", ""), false)
	for try := 1; try <= 3; try++ {
		c := bootAndCheck(t, dir, "1.1.0")
		if !c.Trial || c.Try != try {
			t.Fatalf("boot %d = %+v, want trial try %d", try, c, try)
		}
	}
	c := bootAndCheck(t, dir, "1.0.0")
	if c.Trial || !strings.Contains(c.RolledBack, "did not confirm its health in 3 boots") {
		t.Fatalf("fourth boot = %+v, want a rollback naming the reason", c)
	}
	st, _ := LoadState(dir)
	if st.Slots[SlotB].State != SlotRejected || st.Active != SlotA || st.LastRollback == "" {
		t.Errorf("state after rollback = %+v", st)
	}
	// It stays rolled back.
	bootAndCheck(t, dir, "1.0.0")
}

func TestConfirmKeepsTheNewImageAndRaisesTheFloor(t *testing.T) {
	dir := t.TempDir()
	u := newUpdater(t, dir, nil)
	install(t, u, makeImage(t, "sim", "1.0.0", "1.0.0"), false)
	install(t, u, makeImage(t, "sim", "2.0.0", "2.0.0"), false)
	c := bootAndCheck(t, dir, "2.0.0")
	if ok, err := u.Confirm(SlotA); ok || err != nil {
		t.Fatalf("Confirm from the wrong slot = %v, %v; want nothing confirmed", ok, err)
	}
	if ok, err := u.Confirm(c.Slot); !ok || err != nil {
		t.Fatalf("Confirm = %v, %v", ok, err)
	}
	for range 5 {
		if c := bootAndCheck(t, dir, "2.0.0"); c.Trial {
			t.Fatal("confirmed image still on trial")
		}
	}
	_, err := u.Install(context.Background(), bytes.NewReader(makeImage(t, "sim", "1.5.0", "")), false)
	if !errors.Is(err, image.ErrVersion) || !strings.Contains(err.Error(), "below the minimum 2.0.0") {
		t.Fatalf("downgrade below the floor = %v", err)
	}
	install(t, u, makeImage(t, "sim", "1.5.0", ""), true)
	bootAndCheck(t, dir, "1.5.0")
}

func TestDamagedTrialRollsBackAtOnce(t *testing.T) {
	dir := t.TempDir()
	u := newUpdater(t, dir, nil)
	install(t, u, makeImage(t, "sim", "1.0.0", ""), false)
	res := install(t, u, makeImage(t, "sim", "1.1.0", ""), false)
	bin := filepath.Join(NewDirSlots(dir).Dir(res.Slot), "tipring")
	if err := os.WriteFile(bin, []byte("firmware 1.1.1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := bootAndCheck(t, dir, "1.0.0")
	if !strings.Contains(c.RolledBack, "damaged") {
		t.Errorf("rollback reason %q, want it to say the slot is damaged", c.RolledBack)
	}
}

func TestDamagedActiveFallsBackToTheOtherSlot(t *testing.T) {
	dir := t.TempDir()
	u := newUpdater(t, dir, nil)
	install(t, u, makeImage(t, "sim", "1.0.0", ""), false)
	res := install(t, u, makeImage(t, "sim", "1.1.0", ""), false)
	c := bootAndCheck(t, dir, "1.1.0")
	if _, err := u.Confirm(c.Slot); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(NewDirSlots(dir).Dir(res.Slot), "prompts", "VERSION")); err != nil {
		t.Fatal(err)
	}
	bootAndCheck(t, dir, "1.0.0")
}

func TestNoValidSlotIsAnError(t *testing.T) {
	dir := t.TempDir()
	if _, err := newUpdater(t, dir, nil).Boot(3); !errors.Is(err, ErrNoState) {
		t.Fatalf("boot of a blank dir = %v, want ErrNoState", err)
	}
	u := newUpdater(t, dir, nil)
	install(t, u, makeImage(t, "sim", "1.0.0", ""), false)
	os.RemoveAll(NewDirSlots(dir).Dir(SlotA))
	if _, err := u.Boot(3); err == nil || !strings.Contains(err.Error(), "no valid firmware") {
		t.Fatalf("boot with no valid slot = %v", err)
	}
}

func TestUpdateRefusedWhileTheTrialIsUnconfirmed(t *testing.T) {
	dir := t.TempDir()
	u := newUpdater(t, dir, nil)
	install(t, u, makeImage(t, "sim", "1.0.0", ""), false)
	install(t, u, makeImage(t, "sim", "1.1.0", ""), false)
	bootAndCheck(t, dir, "1.1.0")
	_, err := u.Install(context.Background(), bytes.NewReader(makeImage(t, "sim", "1.2.0", "")), false)
	if err == nil || !strings.Contains(err.Error(), "has not confirmed its health") {
		t.Fatalf("install over the fallback = %v", err)
	}
	bootAndCheck(t, dir, "1.1.0")
}

func TestRefusedImageChangesNothing(t *testing.T) {
	dir := t.TempDir()
	u := newUpdater(t, dir, nil)
	install(t, u, makeImage(t, "sim", "1.0.0", ""), false)
	before, _ := os.ReadFile(filepath.Join(dir, StateFile))
	_, err := u.Install(context.Background(), bytes.NewReader(makeImage(t, "rpifxs", "1.1.0", "")), false)
	if !errors.Is(err, image.ErrBoard) || !strings.Contains(err.Error(), "image is for board rpifxs, this device is sim") {
		t.Fatalf("install = %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, StateFile))
	if !bytes.Equal(before, after) {
		t.Error("a refused image changed the boot state")
	}
	if _, err := os.Stat(NewDirSlots(dir).Dir(SlotB)); !os.IsNotExist(err) {
		t.Error("a refused image touched the inactive slot")
	}
}

func TestRebootFlag(t *testing.T) {
	dir := t.TempDir()
	if ok, err := TakeRebootRequest(dir); ok || err != nil {
		t.Fatalf("no flag: %v, %v", ok, err)
	}
	if err := RequestReboot(dir, "new image"); err != nil {
		t.Fatal(err)
	}
	if ok, err := TakeRebootRequest(dir); !ok || err != nil {
		t.Fatalf("flag: %v, %v", ok, err)
	}
	if ok, _ := TakeRebootRequest(dir); ok {
		t.Fatal("flag taken twice")
	}
}

func TestTrustedKeys(t *testing.T) {
	dir := t.TempDir()
	keys, err := TrustedKeys("1.0.0", dir)
	if err != nil || len(keys) != 0 {
		t.Fatalf("release build with no keys = %v, %v", keys, err)
	}
	keys, _ = TrustedKeys("dev", dir)
	if len(keys) != 1 || keys[0].ID != image.KeyID(mustKey(t, image.DevPublicKey)) {
		t.Fatalf("dev build trusts %v, want the dev key", keys)
	}
	pub := image.EncodePublicKey(testKey.Public().(ed25519.PublicKey))
	if err := os.WriteFile(filepath.Join(dir, KeysFile), []byte("# release\n"+pub+" 2026\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	keys, err = TrustedKeys("1.0.0", dir)
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys file: %v, %v", keys, err)
	}
}

func mustKey(t *testing.T, s string) ed25519.PublicKey {
	k, err := image.ParsePublicKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k.Key
}

func TestOneInstallAtATime(t *testing.T) {
	dir := t.TempDir()
	install(t, newUpdater(t, dir, nil), makeImage(t, "sim", "1.0.0", ""), false)
	paused, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := newUpdater(t, dir, func(_ context.Context, s Step, _ string) error {
			if s == StepClear {
				close(paused)
				<-release
			}
			return nil
		}).Install(context.Background(), bytes.NewReader(makeImage(t, "sim", "1.1.0", "")), false)
		done <- err
	}()
	<-paused
	_, err := newUpdater(t, dir, nil).Install(context.Background(), bytes.NewReader(makeImage(t, "sim", "1.2.0", "")), false)
	close(release)
	if err == nil || !strings.Contains(err.Error(), "another update is being installed") {
		t.Fatalf("second install = %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	bootAndCheck(t, dir, "1.1.0")
}
