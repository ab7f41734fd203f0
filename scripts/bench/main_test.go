package bench

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Defaults of the measurement windows; the environment overrides them (see
// the package documentation).
const (
	defaultCallSeconds = 60
	defaultIdleSeconds = 20
	defaultClockTicks  = 100 // Linux's USER_HZ on every architecture Go supports
)

// envInt reads a positive whole number from the environment, or def when
// the variable is unset; anything else stops the benchmark naming the
// variable.
func envInt(tb testing.TB, name string, def, max int) int {
	tb.Helper()
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return def
	}
	n, err := parsePositive(v, max)
	if err != nil {
		tb.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

func parsePositive(v string, max int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("not a whole number")
	}
	if n < 1 || n > max {
		return 0, fmt.Errorf("%d is outside 1-%d", n, max)
	}
	return n, nil
}

// windows are the lengths of the measured windows of one run.
type windows struct {
	Call, Idle time.Duration
	Ticks      int
}

func windowsFromEnv(tb testing.TB) windows {
	tb.Helper()
	return windows{
		Call:  time.Duration(envInt(tb, "BENCH_CALL_SECONDS", defaultCallSeconds, 3600)) * time.Second,
		Idle:  time.Duration(envInt(tb, "BENCH_IDLE_SECONDS", defaultIdleSeconds, 3600)) * time.Second,
		Ticks: envInt(tb, "CLK_TCK", defaultClockTicks, 1_000_000),
	}
}
