#!/bin/sh
# qemu-test.sh — test where the firmware runs: cross-build tipring for the
# boards' architectures, start each build under qemu-user, and run the
# unit tests of sip, meter, boards and firmware on 32-bit ARM and on
# little-endian MIPS without an FPU. 64-bit atomics on 32-bit words,
# byte-order slips and int overflows show up here before a board does.
#
# Uses qemu-user through `go test -exec`, so it needs no binfmt_misc
# (CI containers rarely have it). scripts/install-peers.sh installs
# qemu-user-static when no qemu-arm is found. Run by `make test`.
#
#   scripts/qemu-test.sh              builds and both test runs
#   scripts/qemu-test.sh arm          one architecture's tests (arm, mipsle)
#
# Tests see TIPRING_QEMU=<arch> and may skip, with t.Skip and the reason,
# what the emulator cannot do; docs/boards.md lists every such skip.
set -eu

cd "$(dirname "$0")/.."
GO=${GO:-go}
PKGS=${QEMU_PKGS:-"./sip/... ./meter/... ./boards/... ./firmware/..."}
ARCHES=${*:-"arm mipsle"}

# qemu_for ARCH prints the emulator for GOARCH=ARCH: the static build
# (qemu-user-static) or the dynamic one (qemu-user), whichever is here.
qemu_for() {
	case $1 in
	arm) names="qemu-arm-static qemu-arm" ;;
	arm64) names="qemu-aarch64-static qemu-aarch64" ;;
	mipsle) names="qemu-mipsel-static qemu-mipsel" ;;
	*) echo "qemu-test: no emulator known for $1" >&2; return 1 ;;
	esac
	for n in $names; do
		if command -v "$n" >/dev/null 2>&1; then
			command -v "$n"
			return 0
		fi
	done
	echo "qemu-test: none of $names found; run scripts/install-peers.sh as root (apt-get install qemu-user-static)" >&2
	return 1
}

# env_for ARCH prints the GOARCH and its variant for the boards we ship:
# ARMv7 with hardware float, MIPS32 little-endian without an FPU.
env_for() {
	case $1 in
	arm) echo "GOOS=linux GOARCH=arm GOARM=7" ;;
	arm64) echo "GOOS=linux GOARCH=arm64" ;;
	mipsle) echo "GOOS=linux GOARCH=mipsle GOMIPS=softfloat" ;;
	esac
}

# skip_for ARCH prints a go test -skip pattern: tests that run correctly
# under the emulator but too slowly for CI. boards/dsp's sweeps push
# minutes of synthetic speech, music and noise through the detectors; in
# software float under qemu-mipsel they took 316, 159, 93, 53 and 23 s
# (about 11 of the package's 13 minutes; on arm, with hardware float,
# 16 s at most). They run on arm; the rest of boards/dsp runs on mipsle
# too. docs/boards.md lists them.
skip_for() {
	case $1 in
	mipsle) echo '^(TestListenerSpeech|TestDTMFDetectorTalkOff|TestCallerIDReceiverIgnoresNonCallerID|TestListenerMusic|TestDTMFDetectorAccepts)$' ;;
	*) echo '^$' ;;
	esac
}

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The firmware binary for each architecture, built as the images carry it
# (the Makefile's cross target holds the flags), started once under the
# emulator: a build that links but cannot start fails here.
if [ $# -eq 0 ]; then
	for a in arm arm64 mipsle; do
		# shellcheck disable=SC2046
		env $(env_for $a) "${MAKE:-make}" -s cross OUT="$out/tipring-$a"
		q=$(qemu_for $a)
		v=$("$q" "$out/tipring-$a" version)
		printf 'qemu-test: %-6s %9d bytes stripped, runs: %s\n' "$a" "$(wc -c <"$out/tipring-$a")" "$v"
	done
fi

status=0
for a in $ARCHES; do
	q=$(qemu_for $a)
	start=$(date +%s)
	echo "qemu-test: $a: go test under $q"
	# -short: tests that offer a shorter form take it (emulation is 5-20x
	# slower); -p 2: the CI machine has two cores.
	# shellcheck disable=SC2046,SC2086
	if ! env $(env_for $a) CGO_ENABLED=0 TIPRING_QEMU=$a "$GO" test -exec "$q" -short -count=1 -p 2 -timeout 15m -skip "$(skip_for $a)" $PKGS; then
		status=1
	fi
	echo "qemu-test: $a: $(($(date +%s) - start)) s"
done
exit $status
