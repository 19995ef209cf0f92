#!/usr/bin/env bash
# Runs every native Go fuzz target for FUZZTIME each, one after another,
# and stops at the first crash. go test -fuzz takes one package and one
# target at a time, hence the list. Usage: hack/fuzz.sh [REGEXP] (only the
# targets whose "package target" matches).
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-10m}
# Minimising each new input for the default minute starves the archive
# targets (a tar is kilobytes, an input takes milliseconds): most of the
# run went to minimising instead of fuzzing.
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-10s}
GO=${GO:-go}
only=${1:-}

# package target: found by scanning the test files, so that a new target
# is run without editing this file.
targets=$(grep -rlE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . |
	grep -v '^./.cache/' | sort | while read -r file; do
	pkg=./$(dirname "${file#./}")
	grep -oE '^func Fuzz[A-Za-z0-9_]*' "$file" | sed 's/^func //' | while read -r fn; do
		echo "$pkg $fn"
	done
done)

while read -r pkg fn; do
	[ -n "$pkg" ] || continue
	if [ -n "$only" ] && ! grep -qE -- "$only" <<<"$pkg $fn"; then
		continue
	fi
	echo "=== $fn in $pkg for $FUZZTIME"
	# -timeout 0: go test's default ten minutes would end a long run
	# as a failure; the targets bound each input with their own watchdog.
	$GO test -run '^$' -fuzz "^${fn}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" \
		-timeout 0 -parallel 1 "$pkg"
done <<<"$targets"
