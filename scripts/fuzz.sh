#!/usr/bin/env bash
# Runs every native Go fuzz target of the module for FUZZTIME each, one
# after another: go test -fuzz takes one target per package per run.
# A crasher is written to the package's testdata/fuzz/<target>/, where
# plain go test then replays it.
set -euo pipefail
FUZZTIME=${FUZZTIME:-1m}
GO=${GO:-go}
cd "$(dirname "$0")/.."
# -fuzzminimizetime bounds each new input's minimizing, which otherwise
# takes up to a minute per input and starves the run (execs stop).
MINIMIZE=${FUZZMINIMIZE:-100x}
failed=()
# go test -list prints a package's matching names, then its ok line.
names=()
while read -r first second _; do
	case $first in
	Fuzz*) names+=("$first") ;;
	ok)
		for n in "${names[@]}"; do
			echo "== $second $n ($FUZZTIME)"
			$GO test -run '^$' -fuzz "^$n\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$MINIMIZE" "$second" || failed+=("$second $n")
		done
		names=()
		;;
	esac
done < <($GO test -list '^Fuzz' ./...)
if ((${#failed[@]})); then
	printf 'fuzz: failed: %s\n' "${failed[@]}"
	exit 1
fi
