#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each (make fuzz).
#
# A target fails the run when it writes a crasher to testdata/fuzz/<target>/, or fails for any
# other reason. One failure is retried: go1.26's fuzz coordinator can end a healthy run with a
# bare "context deadline exceeded" at the -fuzztime boundary and no crasher (golang/go#75804,
# fixed in Go 1.27); a retry tells that race apart from a real failure.
set -euo pipefail
GO="${GO:-go}"
FUZZTIME="${FUZZTIME:-10s}"
# FUZZPARALLEL bounds the fuzzing workers (default: one per CPU); make test uses 1 so that the
# interop suites running beside it keep a core.
FUZZPARALLEL="${FUZZPARALLEL:-0}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

crashers() { { find "$1/testdata/fuzz/$2" -type f 2>/dev/null || true; } | sort; }

run() { # dir target
	local par=()
	if [ "$FUZZPARALLEL" -gt 0 ]; then par=(-parallel "$FUZZPARALLEL"); fi
	"$GO" test -run='^$' -fuzz="^$2\$" -fuzztime="$FUZZTIME" "${par[@]}" "./$1" >"$log" 2>&1
}

for f in $(grep -rlE --include='*_test.go' '^func Fuzz' . | sort); do
	dir="$(dirname "${f#./}")"
	for t in $(grep -hoE '^func (Fuzz[A-Za-z0-9_]+)' "$f" | cut -d' ' -f2); do
		echo "fuzz ./$dir $t ($FUZZTIME)"
		before="$(crashers "$dir" "$t")"
		if run "$dir" "$t"; then continue; fi
		if [ "$(crashers "$dir" "$t")" = "$before" ] && grep -q 'context deadline exceeded' "$log"; then
			echo "  no crasher written, only the coordinator's deadline error (golang/go#75804): retrying once"
			if run "$dir" "$t"; then continue; fi
		fi
		cat "$log"
		exit 1
	done
done
