#!/usr/bin/env bash
# Starts the development provider and tipring on the sim board, both on
# loopback, and stops both on Ctrl-C. Used by `make run`.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .run/data
log=.run/devprovider.log
billing_log=.run/devbilling.log
: >"$log"
: >"$billing_log"
bin/devprovider -listen 127.0.0.1:5070 -users "1001:dev1001,1002:dev1002" -rtp-ports 20000-20098 >"$log" 2>&1 &
provider=$!
bin/devbilling -listen 127.0.0.1:8090 -account 100200300 -token dev-token -balance 5.00 -support-dir .run/support >"$billing_log" 2>&1 &
billing=$!
trap 'kill $provider $billing 2>/dev/null; wait $provider $billing 2>/dev/null' EXIT
# Start the firmware only once both peers listen, so the first REGISTER is
# answered rather than retried after the backoff, and the balance is there
# at the first off-hook.
wait_for() { # log line pid
	for _ in $(seq 100); do
		grep -q "$2" "$1" && return 0
		kill -0 "$3" 2>/dev/null || { cat "$1"; exit 1; }
		sleep 0.05
	done
	echo "timed out waiting for \"$2\" in $1" >&2
	exit 1
}
wait_for "$log" "devprovider listening" $provider
wait_for "$billing_log" "devbilling listening" $billing
cat <<'MSG'

tipring is starting on the sim board (the provider logs to .run/devprovider.log,
the billing back end to .run/devbilling.log; the account starts with 5.00 USD).
In another terminal try:
  bin/tipring phone 1 offhook      # lift the handset of phone 1
  bin/tipring phone 1 state        # "hearing": "dial"
  bin/tipring phone 1 dial 600     # the tone test number
  bin/tipring phone 1 wait tone    # the far end's 1004 Hz tone
  bin/tipring phone 1 onhook
  bin/tipring balance --config scripts/dev/tipring.toml   # what the call cost
  bin/tipring calls --config scripts/dev/tipring.toml     # each charge explained
  bin/tipring diag bundle -o b.tgz --config scripts/dev/tipring.toml   # what support gets
  bin/tipring phone 1 offhook; bin/tipring phone 1 dial '*47'   # send it from the handset:
                                   # a ticket number is spoken, the bundle lands in .run/support/
The README lists every test number. Ctrl-C stops everything.

MSG
bin/tipring run --config scripts/dev/tipring.toml
