#!/usr/bin/env bash
# bench.sh — measures the numbers in docs/performance.md and checks each
# target; exits non-zero when one is missed. `make bench` builds bin/tipring
# and installs the peers first.
#
#   BENCH_CALL_SECONDS  length of each measured call (default 60; 10 for a quick run)
#   BENCH_IDLE_SECONDS  length of the idle CPU baseline (default 20)
#   BENCH_COUNT         runs of each micro benchmark (default 3; medians reported)
#   BENCH_OUT           where the raw output goes (default .run/bench)
#
# Raw output goes to .run/bench/ (micro.txt, latency.txt, meter.txt, process.txt,
# sizes.txt); the summary is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
fail=0
COUNT=${BENCH_COUNT:-3}
OUT=${BENCH_OUT:-.run/bench}
mkdir -p "$OUT"
export BENCH_CALL_SECONDS=${BENCH_CALL_SECONDS:-60}
export BENCH_IDLE_SECONDS=${BENCH_IDLE_SECONDS:-20}
export CLK_TCK=$(getconf CLK_TCK)
export TIPRING_BIN=$PWD/bin/tipring
if [ ! -x "$TIPRING_BIN" ]; then
	echo "bench: $TIPRING_BIN missing: run make build (make bench does)" >&2
	exit 1
fi

# The per-frame hot path: everything the 20 ms audio clock runs for a port
# in a call (the sim board's tick, the DSP it calls, the media send and
# receive paths). Each must allocate nothing per frame.
HOT='^Benchmark(SendPath|SendEncode|ReceivePath|ReceiveConceal|PutRead|(Ulaw|Alaw)(Encode|Decode)Frame|ConcealFrame|Tick|ToneGenFill|ListenerProcess|DTMFDetect|CallerIDSignalFill|CallerIDReceiverProcess)$'
HOTPKGS="./sip/media ./sip/media/jitter ./sip/media/g711 ./sip/media/plc ./boards/sim ./boards/dsp"

echo "== micro benchmarks: per-frame hot path (-benchmem -count $COUNT)"
echo "   $GO test -run '^\$' -bench '$HOT' -benchmem -count $COUNT $HOTPKGS"
# A benchmark that fails is a missed target; the others still run.
# shellcheck disable=SC2086
$GO test -run '^$' -bench "$HOT" -benchmem -count "$COUNT" $HOTPKGS | tee "$OUT/micro.txt" || fail=1

echo "== latency benchmarks (firmware/line, -count $COUNT)"
echo "   $GO test -run '^\$' -bench 'OffHookToDialTone|LastDigitToInvite' -benchmem -count $COUNT ./firmware/line"
$GO test -run '^$' -bench 'OffHookToDialTone|LastDigitToInvite' -benchmem -count "$COUNT" ./firmware/line | tee "$OUT/latency.txt" || fail=1

echo "== metering benchmarks (meter, meter/ledger)"
echo "   $GO test -run '^\$' -bench 'Lookup100k|ParseRates100k|Limits' -benchmem -count $COUNT ./meter"
$GO test -run '^$' -bench 'Lookup100k|ParseRates100k|Limits' -benchmem -count "$COUNT" ./meter | tee "$OUT/meter.txt" || fail=1
echo "   $GO test -run '^\$' -bench CutOffLateness -benchtime 1x ./meter"
$GO test -run '^$' -bench CutOffLateness -benchtime 1x ./meter | tee -a "$OUT/meter.txt" || fail=1
echo "   $GO test -run '^\$' -bench 'Checkpoint2Calls|CallLifecycle' -benchtime 2s ./meter/ledger"
$GO test -run '^$' -bench 'Checkpoint2Calls|CallLifecycle' -benchtime 2s ./meter/ledger | tee -a "$OUT/meter.txt" || fail=1

echo "== process benchmarks: the real bin/tipring on the sim board (calls of ${BENCH_CALL_SECONDS} s)"
echo "   TIPRING_BIN=$TIPRING_BIN BENCH_CALL_SECONDS=$BENCH_CALL_SECONDS BENCH_IDLE_SECONDS=$BENCH_IDLE_SECONDS CLK_TCK=$CLK_TCK \\"
echo "     $GO test -run '^\$' -bench . -benchtime 1x -timeout 60m -v ./scripts/bench"
$GO test -run '^$' -bench . -benchtime 1x -timeout 60m -v ./scripts/bench | tee "$OUT/process.txt" || fail=1

echo "== updates: install on the sim board's slots, boot to registered, image sizes"
echo "   $GO test -run '^\$' -bench Install -benchtime 5x ./firmware/update"
$GO test -run '^$' -bench Install -benchtime 5x ./firmware/update | tee "$OUT/update.txt" || fail=1
echo "   $GO test -run '^\$' -bench BootToRegistered -benchtime 5x ./scripts/updatetest"
$GO test -run '^$' -bench BootToRegistered -benchtime 5x ./scripts/updatetest | tee -a "$OUT/update.txt" || fail=1
for board in rpifxs sim; do
	echo "   make image BOARD=$board DEV=1 VERSION=v0.0.0-bench"
	make -s image BOARD="$board" DEV=1 VERSION=v0.0.0-bench 2>&1 | tee -a "$OUT/update.txt" || fail=1
done

echo "== stripped binary sizes (make cross: -trimpath, inlining off outside the audio path, no HTTP/2, -ldflags \"-s -w\")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$OUT/sizes.txt"
# arch:env:board. The arm target is the image of the arm board (rpifxs);
# the others, and "arm-dev", carry every board as a development build does.
for target in arm:GOARM=7:rpifxs arm-dev:GOARM=7: arm64:: mipsle:GOMIPS=softfloat:; do
	name=${target%%:*}
	rest=${target#*:}
	extra=${rest%%:*}
	board=${rest#*:}
	arch=${name%-dev}
	echo "   GOOS=linux GOARCH=$arch${extra:+ $extra} make cross${board:+ BOARD=$board} OUT=tipring-$name"
	# shellcheck disable=SC2086
	env GOOS=linux GOARCH="$arch" $extra make -s cross ${board:+BOARD=$board} OUT="$tmp/tipring-$name" VERSION=bench
	echo "$name $(stat -c %s "$tmp/tipring-$name")" >>"$OUT/sizes.txt"
done

# ---- summary -------------------------------------------------------------

# metric FILE NAME-REGEX UNIT: every value of UNIT on benchmark lines whose
# name (without the -N GOMAXPROCS suffix) matches, one per line.
metric() {
	awk -v re="$2" -v unit="$3" '
		/^Benchmark/ {
			name = $1; sub(/-[0-9]+$/, "", name)
			if (name !~ re) next
			for (i = 3; i < NF; i += 2) if ($(i + 1) == unit) print $i
		}' "$1"
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
maxof() { sort -g | tail -n 1; }

rows=()
# row TARGET MEASURED OK(0/1)
row() {
	local mark=ok
	if [ "$3" != 1 ]; then
		mark=MISSED
		fail=1
	fi
	rows+=("$(printf '%-50s %-46s %s' "$1" "$2" "$mark")")
}
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 <= b + 0) }' && echo 1 || echo 0; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && b != "" && a + 0 < b + 0) }' && echo 1 || echo 0; }

# Hot path: no allocation in any run of any per-frame benchmark (their
# sub-benchmarks included).
hotnames="${HOT%\$}(/.*)?\$"
allocs=$(metric "$OUT/micro.txt" "$hotnames" allocs/op | maxof)
nhot=$(metric "$OUT/micro.txt" "$hotnames" allocs/op | wc -l)
row "hot path: 0 allocs/frame" "max ${allocs:-?} allocs/op over $nhot runs" "$([ -n "$allocs" ] && [ "$nhot" -gt 0 ] && le "$allocs" 0 || echo 0)"
for b in SendPath ReceivePath ReceiveConceal Tick; do
	ns=$(metric "$OUT/micro.txt" "^Benchmark$b\$" ns/op | median)
	rows+=("$(printf '%-50s %-46s %s' "  ns/frame $b" "${ns:-?} ns (median)" "")")
done

hook=$(metric "$OUT/latency.txt" '^BenchmarkOffHookToDialTone$' µs-hook-to-tone | median)
hookw=$(metric "$OUT/latency.txt" '^BenchmarkOffHookToDialTone$' µs-worst | maxof)
row "off-hook -> dial tone started <= 20 ms" "${hook:-?} µs mean (worst ${hookw:-?} µs) + next frame" "$(le "$hook" 20000)"
inv=$(metric "$OUT/latency.txt" '^BenchmarkLastDigitToInvite$' µs-digit-to-INVITE | median)
invw=$(metric "$OUT/latency.txt" '^BenchmarkLastDigitToInvite$' µs-worst | maxof)
row "last digit -> INVITE on the wire <= 5 ms" "${inv:-?} µs mean (worst ${invw:-?} µs)" "$(le "$inv" 5000)"

for sub in sipp-far-ends outgoing-and-incoming; do
	re="^BenchmarkResidentMemory/$sub\$"
	idle=$(metric "$OUT/process.txt" "$re" MB-idle-rss)
	calls=$(metric "$OUT/process.txt" "$re" MB-calls-rss)
	hwm=$(metric "$OUT/process.txt" "$re" MB-hwm)
	row "RSS idle <= 20 MB ($sub)" "${idle:-?} MB VmRSS" "$(le "$idle" 20)"
	row "RSS in calls <= 20 MB ($sub)" "${calls:-?} MB VmRSS, VmHWM ${hwm:-?} MB" "$( [ "$(le "$calls" 20)" = 1 ] && le "$hwm" 20 || echo 0)"
done

lns=$(metric "$OUT/meter.txt" '^BenchmarkLookup100k$' ns/op | median)
lal=$(metric "$OUT/meter.txt" '^BenchmarkLookup100k$' allocs/op | maxof)
row "rate lookup, 100k prefixes: <= 1 µs, 0 allocs" "${lns:-?} ns (median), max ${lal:-?} allocs/op" "$( [ "$(le "$lns" 1000)" = 1 ] && le "$lal" 0 || echo 0)"
load=$(metric "$OUT/meter.txt" '^BenchmarkParseRates100k$' ns/op | median)
rows+=("$(printf '%-50s %-46s %s' "  rate table load, 100k rows" "$(awk -v n="${load:-0}" 'BEGIN { printf "%.0f ms", n / 1e6 }')" "")")
cmed=$(metric "$OUT/meter.txt" '^BenchmarkCutOffLateness$' median-late-ms)
cmax=$(metric "$OUT/meter.txt" '^BenchmarkCutOffLateness$' max-late-ms)
row "cut-off precision over 100 calls: <= 50 ms" "median ${cmed:-?} ms, max ${cmax:-?} ms late" "$(le "$cmax" 50)"
ckb=$(metric "$OUT/meter.txt" '^BenchmarkCheckpoint2Calls$' written-B/op)
rows+=("$(printf '%-50s %-46s %s' "  ledger: bytes per checkpoint (2 calls)" "${ckb:-?} B; 6 per minute at checkpoint = 10s" "")")

re='^BenchmarkCPUPerCallMinute$'
tcpu=$(metric "$OUT/process.txt" "$re" tipring-cpu-s/call-min)
bcpu=$(metric "$OUT/process.txt" "$re" baresip-cpu-s/call-min)
tidle=$(metric "$OUT/process.txt" "$re" tipring-idle-cpu-s/min)
bidle=$(metric "$OUT/process.txt" "$re" baresip-idle-cpu-s/min)
row "CPU per call-minute: tipring < baresip" "tipring ${tcpu:-?} s, baresip ${bcpu:-?} s" "$(lt "$tcpu" "$bcpu")"
rows+=("$(printf '%-50s %-46s %s' "  idle CPU per minute" "tipring ${tidle:-?} s, baresip ${bidle:-?} s" "")")

while read -r arch size; do
	mb=$(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1e6 }')
	if [ "$arch" = arm ]; then
		row "stripped binary linux/arm (GOARM=7, rpifxs image) <= 10 MB" "$mb MB ($size bytes)" "$(le "$size" 10000000)"
	else
		rows+=("$(printf '%-50s %-46s %s' "  stripped binary linux/$arch" "$mb MB ($size bytes)" "")")
	fi
done <"$OUT/sizes.txt"

echo
echo "== summary ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); MB = 10^6 bytes; raw output in $OUT/)"
printf '%s\n' "${rows[@]}"
if [ "$fail" != 0 ]; then
	echo "bench: a target was missed or a benchmark failed (see above)"
fi
exit "$fail"
