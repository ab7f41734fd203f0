#!/usr/bin/env bash
# Starts the development provider and tipring on the sim board, both on
# loopback, and stops both on Ctrl-C. Used by `make run`.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .run/data
bin/devprovider -listen 127.0.0.1:5070 -users "1001:dev1001,1002:dev1002" -rtp-ports 20000-20098 &
provider=$!
trap 'kill $provider 2>/dev/null; wait $provider 2>/dev/null' EXIT
# Give the provider a moment to bind before the firmware registers.
for _ in $(seq 50); do
	if (exec 3<>/dev/udp/127.0.0.1/5070) 2>/dev/null; then break; fi
	sleep 0.1
done
cat <<'MSG'

tipring is starting on the sim board. In another terminal try:
  bin/tipring phone 1 offhook      # lift the handset of phone 1
  bin/tipring phone 1 state        # "hearing": "dial"
  bin/tipring phone 1 dial 600     # the tone test number
  bin/tipring phone 1 state        # "hearing": "tone", "tone_hz": [1004]
  bin/tipring phone 1 onhook
The README lists every test number. Ctrl-C stops everything.

MSG
bin/tipring run --config scripts/dev/tipring.toml
