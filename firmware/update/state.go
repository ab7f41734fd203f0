package update

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/tipring/tipring/internal/durable"
)

// StateFile is the boot state's name in the data dir.
const StateFile = "boot.json"

// Slot states.
const (
	SlotEmpty    = ""         // never written
	SlotWriting  = "writing"  // an install began; the content is not to be trusted
	SlotReady    = "ready"    // written, verified and synced
	SlotRejected = "rejected" // rolled back from; not booted again until rewritten
)

// State is the boot state: which slot to boot and why. It is the only
// thing the installer and the boot loop share, and every change to it is
// saved before it is acted on.
type State struct {
	// Active is the confirmed slot: the one to fall back to ("" on a
	// blank device).
	Active string `json:"active"`
	// Trial is a slot installed but not yet confirmed healthy; it is
	// booted instead of Active until it confirms or runs out of tries.
	Trial string `json:"trial,omitempty"`
	// Tries counts the boots of Trial so far.
	Tries int `json:"tries"`
	// Confirmed says the image running (or about to run) has confirmed
	// its health: false from the switch to a trial until it confirms.
	Confirmed bool `json:"confirmed"`
	// Booted is the slot booted last.
	Booted string `json:"booted,omitempty"`
	// Floor is the lowest version this device accepts without --force:
	// the min_version of the newest image it confirmed.
	Floor string              `json:"floor,omitempty"`
	Slots map[string]SlotInfo `json:"slots"`
	// LastRollback says when and why the device last fell back.
	LastRollback string    `json:"last_rollback,omitempty"`
	Saved        time.Time `json:"saved"`
}

// SlotInfo is what the state knows of a slot's content.
type SlotInfo struct {
	State      string    `json:"state"`
	Version    string    `json:"version,omitempty"`
	MinVersion string    `json:"min_version,omitempty"`
	DevSigned  bool      `json:"dev_signed,omitempty"`
	Installed  time.Time `json:"installed,omitzero"`
}

// ErrNoState means the data dir holds no boot state: nothing was installed.
var ErrNoState = errors.New("no firmware installed in this data dir (install one: tipring update --offline --data DIR IMAGE)")

// LoadState reads the boot state from dataDir.
func LoadState(dataDir string) (State, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return State{Slots: map[string]SlotInfo{}}, ErrNoState
	}
	if err != nil {
		return State{}, fmt.Errorf("boot state: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, fmt.Errorf("boot state %s: damaged (%w); reinstall with tipring update --offline", filepath.Join(dataDir, StateFile), err)
	}
	if st.Slots == nil {
		st.Slots = map[string]SlotInfo{}
	}
	st.Tries = max(st.Tries, 0)
	for _, s := range []string{st.Active, st.Trial, st.Booted} {
		if s != "" && s != SlotA && s != SlotB {
			return State{}, fmt.Errorf("boot state: unknown slot %q; reinstall with tipring update --offline", s)
		}
	}
	return st, nil
}

// SaveState writes the state atomically: a power cut leaves either the old
// file or the new one, never a mix.
func SaveState(dataDir string, st State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("boot state: %w", err)
	}
	if err := durable.WriteFile(filepath.Join(dataDir, StateFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("boot state: %w", err)
	}
	return nil
}

// running is the slot the device runs now: the one booted last, else (no
// boot since the first install) the active one.
func (st State) running() string {
	if st.Booted != "" {
		return st.Booted
	}
	return st.Active
}

// other is the slot that is not s.
func other(s string) string {
	if s == SlotA {
		return SlotB
	}
	return SlotA
}
