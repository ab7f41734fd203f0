// Package bench measures the numbers docs/performance.md promises, on the
// real tipring binary: resident memory on the sim board, idle and with both
// ports in calls, and CPU time per minute of talk next to baresip making
// the same call through the same Kamailio to the same kind of SIPp far end.
//
// The package holds only benchmarks (and quick tests of its /proc readers).
// They start real processes and take minutes, so they run only when asked:
//
//	go test -run '^$' -bench . -benchtime 1x ./scripts/bench
//
// scripts/bench.sh (make bench) runs them with the micro benchmarks of the
// media path and the cross-builds, and checks every target.
//
// Environment:
//
//	TIPRING_BIN          the firmware to measure (make bench: bin/tipring,
//	                     built stripped); unset, the benchmark builds one
//	                     the same way (-trimpath -ldflags "-s -w")
//	BENCH_CALL_SECONDS   length of each measured call window (default 60)
//	BENCH_IDLE_SECONDS   length of the idle CPU baseline window (default 20)
//	CLK_TCK              clock ticks per second of /proc/PID/stat (default
//	                     100, Linux's USER_HZ; bench.sh passes getconf CLK_TCK)
package bench
