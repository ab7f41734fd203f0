#!/usr/bin/env bash
# Runs every fuzz target in the tree for a while (default 30s each; `make
# fuzz FUZZTIME=5m`). The seeds in each package's testdata/fuzz run with
# every `make test`; this looks for new crashes. A crasher is saved under
# testdata/fuzz/FuzzXxx/ by the go tool: commit it with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-30s}
status=0
while IFS= read -r line; do
	file=${line%%:*}
	name=$(sed -E 's/^.*func (Fuzz[A-Za-z0-9_]+)\(.*/\1/' <<<"$line")
	pkg=./$(dirname "$file")
	echo "== $pkg $name ($fuzztime)"
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 10s "$pkg"; then
		status=1
	fi
done < <(git ls-files '*_test.go' | xargs grep -H -E '^func Fuzz[A-Za-z0-9_]+\(' | sort)
exit $status
