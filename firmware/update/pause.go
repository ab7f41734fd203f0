//go:build !updatetest

package update

// envPause is the test build's pause hook (pause_updatetest.go); a normal
// build has none, so no environment variable can stall a real update.
func envPause() StepFunc { return nil }
