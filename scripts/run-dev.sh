#!/usr/bin/env bash
# Starts the development provider and tipring on the sim board, both on
# loopback, and stops both on Ctrl-C. Used by `make run`.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .run/data
log=.run/devprovider.log
: >"$log"
bin/devprovider -listen 127.0.0.1:5070 -users "1001:dev1001,1002:dev1002" -rtp-ports 20000-20098 >"$log" 2>&1 &
provider=$!
trap 'kill $provider 2>/dev/null; wait $provider 2>/dev/null' EXIT
# Start the firmware only once the provider listens, so the first REGISTER
# is answered rather than retried after the backoff.
for _ in $(seq 100); do
	grep -q "devprovider listening" "$log" && break
	kill -0 $provider 2>/dev/null || { cat "$log"; exit 1; }
	sleep 0.05
done
cat <<'MSG'

tipring is starting on the sim board (the provider logs to .run/devprovider.log).
In another terminal try:
  bin/tipring phone 1 offhook      # lift the handset of phone 1
  bin/tipring phone 1 state        # "hearing": "dial"
  bin/tipring phone 1 dial 600     # the tone test number
  bin/tipring phone 1 wait tone    # the far end's 1004 Hz tone
  bin/tipring phone 1 onhook
The README lists every test number. Ctrl-C stops everything.

MSG
bin/tipring run --config scripts/dev/tipring.toml
