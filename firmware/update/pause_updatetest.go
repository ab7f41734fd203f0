//go:build updatetest

package update

import (
	"context"
	"os"
)

// envPause, only in binaries built with -tags updatetest, stops an install
// before the step named by TIPRING_UPDATE_PAUSE, writes the step's name to
// the file TIPRING_UPDATE_PAUSE_MARK and waits there, so the power-cut test
// (scripts/updatetest) can kill the device at that exact point.
func envPause() StepFunc {
	want, mark := os.Getenv("TIPRING_UPDATE_PAUSE"), os.Getenv("TIPRING_UPDATE_PAUSE_MARK")
	if want == "" || mark == "" {
		return nil
	}
	return func(ctx context.Context, step Step, detail string) error {
		if string(step) != want {
			return nil
		}
		if err := os.WriteFile(mark, []byte(string(step)+" "+detail+"\n"), 0o644); err != nil {
			return err
		}
		<-ctx.Done()
		return ctx.Err()
	}
}
