#!/usr/bin/env bash
# powercut.sh — the power-cut test of issue 3 with more cuts than CI runs:
# tipring is killed with SIGKILL at random moments of calls and restarted on
# the same ledger; no record may be lost, no usage applied twice, at most one
# checkpoint of talk lost per interrupted call, and the statements must add
# up (scripts/interop/powercut_test.go).
#
#   POWERCUT_ITERATIONS  number of cuts (default 500; CI runs 50)
#   POWERCUT_SEED        repeat the cut moments of an earlier run (its log
#                        prints the seed)
#
# It needs no Kamailio, SIPp or baresip: the development provider and
# billing back end run inside the test.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
export POWERCUT_ITERATIONS=${POWERCUT_ITERATIONS:-500}
# About 2 s a cut, plus the build and the final checks.
timeout=$(( POWERCUT_ITERATIONS * 4 + 300 ))s
exec "$GO" test -count=1 -timeout "$timeout" -run '^TestPowerCutKeepsEveryRecordAndCent$' -v ./scripts/interop/
