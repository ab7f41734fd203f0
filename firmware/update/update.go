// Package update installs signed images into the inactive one of two
// slots and decides which slot boots. An install writes and verifies the
// inactive slot, syncs it, and only then switches the boot state to try
// the new image; the new image must confirm its health, or after a number
// of boots the old one comes back by itself. Every step saves the state
// before acting on it, so a power cut at any moment leaves a device that
// boots a complete, verified image: the old one before the switch, the new
// one after.
package update

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tipring/tipring/firmware/image"
	"github.com/tipring/tipring/internal/durable"
)

// Step names a step of an install, for logs and for fault injection.
type Step string

// The steps of an install, in order. A StepFunc is called before each is
// acted on.
const (
	StepOpen   Step = "open"   // read and check manifest and signature
	StepBegin  Step = "begin"  // save: the target slot is being written
	StepClear  Step = "clear"  // empty the target slot
	StepWrite  Step = "write"  // write one file (detail: its path)
	StepSync   Step = "sync"   // sync the slot's directories
	StepReady  Step = "ready"  // save: the slot holds a verified image
	StepSwitch Step = "switch" // save: boot the new slot on trial
	StepDone   Step = "done"   // the install returns
)

// StepFunc is called before each step; an error stops the install right
// there, with no clean-up, exactly as a power cut would.
type StepFunc func(ctx context.Context, step Step, detail string) error

// Options configure an Updater.
type Options struct {
	// DataDir holds the boot state and, on the sim board, the slots.
	DataDir string
	// Slots defaults to NewDirSlots(DataDir).
	Slots Slots
	// Board is this device's board; images for others are refused. Only
	// Install needs it.
	Board string
	// Trusted are the keys images may be signed with (see TrustedKeys).
	Trusted []image.PublicKey
	// Step, when set, is called before every step (tests).
	Step   StepFunc
	Logger *slog.Logger
	Now    func() time.Time
}

// Updater installs images and keeps the boot state.
type Updater struct {
	opts Options
	log  *slog.Logger
	// mu makes installs, boots and confirmations one at a time within a
	// process; across processes the boot loop and the firmware take turns
	// by construction (boot runs only while no firmware does).
	mu sync.Mutex
}

// New returns an Updater.
func New(opts Options) (*Updater, error) {
	if opts.DataDir == "" {
		return nil, errors.New("update: no data dir")
	}
	if opts.Slots == nil {
		opts.Slots = NewDirSlots(opts.DataDir)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Step == nil {
		opts.Step = envPause()
	}
	return &Updater{opts: opts, log: opts.Logger}, nil
}

// Result is what an install did.
type Result struct {
	Manifest *image.Manifest `json:"manifest"`
	Slot     string          `json:"slot"`
	// Trial is true when the new image boots on trial at the next boot;
	// false when it became the active image directly (a blank device).
	Trial bool `json:"trial"`
}

// State reads the boot state.
func (u *Updater) State() (State, error) {
	return LoadState(u.opts.DataDir)
}

func (u *Updater) step(ctx context.Context, s Step, detail string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("update stopped before %s: %w", s, err)
	}
	if u.opts.Step == nil {
		return nil
	}
	if err := u.opts.Step(ctx, s, detail); err != nil {
		return fmt.Errorf("update stopped before %s %s: %w", s, detail, err)
	}
	return nil
}

// Install reads an image from r, checks it, writes it to the slot that is
// not running and switches the next boot to it. force accepts a version
// below the running one or the device's floor. The new image runs at the
// next boot.
func (u *Updater) Install(ctx context.Context, r io.Reader, force bool) (Result, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.opts.Board == "" {
		return Result{}, errors.New("update: this device's board is not known ([device] board)")
	}
	unlock, err := lock(u.opts.DataDir)
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	st, err := LoadState(u.opts.DataDir)
	if err != nil && !errors.Is(err, ErrNoState) {
		return Result{}, err
	}
	running := st.running()
	if st.Trial != "" && st.Trial == st.Booted && !st.Confirmed {
		return Result{}, fmt.Errorf("update refused: version %s in slot %s is on trial and has not confirmed its health yet; wait for it to confirm, or reboot to roll back, then update",
			st.Slots[st.Trial].Version, st.Trial)
	}
	target := SlotA
	if running != "" {
		target = other(running)
	}
	pol := image.Policy{Trusted: u.opts.Trusted, Board: u.opts.Board, Floor: st.Floor, Force: force}
	if info := st.Slots[running]; running != "" && info.State == SlotReady {
		pol.Current = info.Version
	}

	if err := u.step(ctx, StepOpen, ""); err != nil {
		return Result{}, err
	}
	img, err := image.Open(r, pol)
	if err != nil {
		return Result{}, err
	}
	m := img.Manifest()
	u.log.Info("update: installing", "version", m.Version, "board", m.Board, "slot", target, "files", len(m.Files), "dev_signed", m.DevSigned)

	if err := u.step(ctx, StepBegin, target); err != nil {
		return Result{}, err
	}
	st.Slots[target] = SlotInfo{State: SlotWriting, Version: m.Version}
	if st.Trial == target {
		st.Trial, st.Tries = "", 0
	}
	if err := u.save(st); err != nil {
		return Result{}, err
	}

	if err := u.step(ctx, StepClear, target); err != nil {
		return Result{}, err
	}
	slots := u.opts.Slots
	if err := slots.Clear(target); err != nil {
		return Result{}, err
	}
	err = img.Extract(func(f image.File, content io.Reader) error {
		if err := u.step(ctx, StepWrite, f.Path); err != nil {
			return err
		}
		return writeFile(slots, target, f.Path, fsMode(f.Mode), content)
	})
	if err != nil {
		return Result{}, err
	}
	// The manifest goes into the slot too: the boot loop re-checks the
	// slot's files against it before it runs them.
	raw, _ := img.RawManifest()
	if err := writeFile(slots, target, image.ManifestName, 0o644, bytes.NewReader(raw)); err != nil {
		return Result{}, err
	}
	if err := u.step(ctx, StepSync, target); err != nil {
		return Result{}, err
	}
	if err := slots.Sync(target); err != nil {
		return Result{}, err
	}

	if err := u.step(ctx, StepReady, target); err != nil {
		return Result{}, err
	}
	st.Slots[target] = SlotInfo{State: SlotReady, Version: m.Version, MinVersion: m.MinVersion, DevSigned: m.DevSigned, Installed: u.opts.Now().UTC()}
	if err := u.save(st); err != nil {
		return Result{}, err
	}

	if err := u.step(ctx, StepSwitch, target); err != nil {
		return Result{}, err
	}
	res := Result{Manifest: m, Slot: target}
	if st.Active == "" {
		// A blank device has nothing to fall back to: the first image is
		// the factory image and is active at once.
		st.Active, st.Confirmed = target, true
		st.Floor = raiseFloor(st.Floor, m.MinVersion)
	} else {
		st.Trial, st.Tries = target, 0
		res.Trial = true
	}
	if err := u.save(st); err != nil {
		return Result{}, err
	}
	if err := u.step(ctx, StepDone, target); err != nil {
		return Result{}, err
	}
	u.log.Info("update: installed; reboot to run it", "version", m.Version, "slot", target, "trial", res.Trial)
	return res, nil
}

func writeFile(slots Slots, slot, path string, mode os.FileMode, content io.Reader) error {
	w, err := slots.Create(slot, path, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, content); err != nil {
		w.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return w.Close()
}

func fsMode(m image.Mode) os.FileMode { return os.FileMode(m).Perm() }

func (u *Updater) save(st State) error {
	st.Saved = u.opts.Now().UTC()
	return SaveState(u.opts.DataDir, st)
}

// raiseFloor returns the higher of the floor and an image's min_version.
func raiseFloor(floor, min string) string {
	if min == "" {
		return floor
	}
	if floor == "" {
		return min
	}
	f, err1 := image.ParseVersion(floor)
	m, err2 := image.ParseVersion(min)
	if err1 != nil || (err2 == nil && m.Compare(f) > 0) {
		return min
	}
	return floor
}

// Choice is the slot a boot runs.
type Choice struct {
	Slot    string
	Dir     string
	Version string
	// Trial is set when the slot runs on trial; Try counts from 1.
	Trial bool
	Try   int
	// RolledBack says why the boot fell back, when it did.
	RolledBack string
}

// Boot decides which slot to run, the bootloader's job: a trial slot
// while it has tries left and its files still match its manifest, else
// the active slot, else the other one. It saves the decision (and the
// spent try) before returning, so a crash while starting counts.
func (u *Updater) Boot(maxTries int) (Choice, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if maxTries < 1 {
		maxTries = 1
	}
	st, err := LoadState(u.opts.DataDir)
	if err != nil {
		return Choice{}, err
	}
	var c Choice
	if t := st.Trial; t != "" {
		reason := ""
		switch err := u.verifySlot(st, t); {
		case err != nil:
			reason = fmt.Sprintf("version %s in slot %s is damaged: %v", st.Slots[t].Version, t, err)
		case st.Tries >= maxTries:
			reason = fmt.Sprintf("version %s in slot %s did not confirm its health in %d boots", st.Slots[t].Version, t, st.Tries)
		}
		if reason == "" {
			st.Tries++
			st.Booted, st.Confirmed = t, false
			if err := u.save(st); err != nil {
				return Choice{}, err
			}
			return Choice{Slot: t, Dir: u.opts.Slots.Dir(t), Version: st.Slots[t].Version, Trial: true, Try: st.Tries}, nil
		}
		u.log.Warn("boot: rolling back", "reason", reason)
		info := st.Slots[t]
		info.State = SlotRejected
		st.Slots[t] = info
		st.Trial, st.Tries = "", 0
		st.LastRollback = u.opts.Now().UTC().Format(time.RFC3339) + ": " + reason
		c.RolledBack = reason
	}
	for _, s := range []string{st.Active, other(st.Active)} {
		if s == "" {
			continue
		}
		if err := u.verifySlot(st, s); err != nil {
			u.log.Warn("boot: slot unusable", "slot", s, "err", err)
			continue
		}
		if s != st.Active {
			reason := fmt.Sprintf("active slot %s is damaged; running slot %s", st.Active, s)
			st.LastRollback = u.opts.Now().UTC().Format(time.RFC3339) + ": " + reason
			c.RolledBack = reason
			st.Active = s
		}
		st.Booted, st.Confirmed = s, true
		if err := u.save(st); err != nil {
			return Choice{}, err
		}
		c.Slot, c.Dir, c.Version = s, u.opts.Slots.Dir(s), st.Slots[s].Version
		return c, nil
	}
	return Choice{}, errors.New("boot: no valid firmware in slot a or b: reinstall with tipring update --offline")
}

// verifySlot checks that the state calls the slot ready and that its files
// still match the manifest stored with them (flash does rot).
func (u *Updater) verifySlot(st State, slot string) error {
	if st.Slots[slot].State != SlotReady {
		return fmt.Errorf("slot %s is %q, not ready", slot, st.Slots[slot].State)
	}
	rc, err := u.opts.Slots.Open(slot, image.ManifestName)
	if err != nil {
		return err
	}
	raw, err := io.ReadAll(io.LimitReader(rc, image.MaxManifestSize+1))
	rc.Close()
	if err != nil {
		return err
	}
	m, err := image.ParseManifest(raw)
	if err != nil {
		return err
	}
	if m.Version != st.Slots[slot].Version {
		return fmt.Errorf("slot %s holds version %s, the boot state says %s", slot, m.Version, st.Slots[slot].Version)
	}
	return image.VerifyFiles(m, func(p string) (io.ReadCloser, error) { return u.opts.Slots.Open(slot, p) })
}

// Confirm marks the running trial image healthy: it becomes the active
// one, and the device's floor rises to its min_version. It reports
// whether there was anything to confirm; slot is the slot the caller runs
// from.
func (u *Updater) Confirm(slot string) (bool, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	st, err := LoadState(u.opts.DataDir)
	if err != nil {
		return false, err
	}
	if st.Trial == "" || st.Trial != slot || st.Booted != slot {
		return false, nil
	}
	st.Active, st.Trial, st.Tries, st.Confirmed = slot, "", 0, true
	st.Floor = raiseFloor(st.Floor, st.Slots[slot].MinVersion)
	if err := u.save(st); err != nil {
		return false, err
	}
	u.log.Info("update: confirmed", "slot", slot, "version", st.Slots[slot].Version)
	return true, nil
}

// SlotEnv is set by the boot loop for the firmware it starts: the slot it
// runs from. A firmware started without it (tipring run by hand) installs
// updates but neither confirms nor reboots.
const SlotEnv = "TIPRING_SLOT"

// RebootFile is the flag the firmware leaves in the data dir when it stops
// to boot into a new image; the boot loop boots again when it finds it.
const RebootFile = "reboot-requested"

// RequestReboot leaves the reboot flag.
func RequestReboot(dataDir, reason string) error {
	if err := durable.WriteFile(filepath.Join(dataDir, RebootFile), []byte(reason+"\n"), 0o600); err != nil {
		return fmt.Errorf("request reboot: %w", err)
	}
	return nil
}

// TakeRebootRequest removes the reboot flag and reports whether it was
// there.
func TakeRebootRequest(dataDir string) (bool, error) {
	err := os.Remove(filepath.Join(dataDir, RebootFile))
	switch {
	case err == nil:
		return true, durable.SyncDir(dataDir)
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("reboot flag: %w", err)
}
