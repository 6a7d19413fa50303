#!/usr/bin/env bash
# make test: everything CI checks, in the order that gives the first failure soonest, with the
# fuzzers (one core) running beside the Go tests and the interop suites. Azurite is started when it
# is not running and stopped again at the end (only when this script started it).
#
# Two builds of the binary: the interop suites run bin/herald-race, so that the real binary runs
# under the race detector while the official client drives it (lint type-checks against the same
# race build, which go test -race makes anyway); the web app's end-to-end suite and the benchmark
# smoke run use the plain bin/herald. Neither is about races: the browser suite checks what people
# see, the smoke run that the benchmarks still run, and under the race detector both cost several
# times the CPU that the rest of make test needs on two cores (measured: the smoke run alone
# outlasted the interop suites by 100 s).
set -euo pipefail
cd "$(dirname "$0")/.."
MAKE="${MAKE:-make}"
GO="${GO:-go}"

step() { printf '\n== %s (%ss so far)\n' "$*" "$SECONDS"; }

azurite_pidfile="$(mktemp -u "${TMPDIR:-/tmp}/herald-test-azurite.XXXXXX")"
fuzz_log="$(mktemp "${TMPDIR:-/tmp}/herald-test-fuzz.XXXXXX")"
web_pid=""
fuzz_pid=""
cleanup() {
	for pid in $web_pid $fuzz_pid; do
		if kill -0 "$pid" 2>/dev/null; then
			pkill -P "$pid" 2>/dev/null || true
			kill "$pid" 2>/dev/null || true
		fi
	done
	if [ -s "$azurite_pidfile" ]; then
		echo "stopping the Azurite this run started (pid $(cat "$azurite_pidfile"))"
		kill "$(cat "$azurite_pidfile")" 2>/dev/null || true
	fi
	rm -f "$azurite_pidfile" "$fuzz_log"
}
trap cleanup EXIT

step "lint"
"$MAKE" --no-print-directory lint
step "web app: type-check, and the committed bundle is what the sources build"
"$MAKE" --no-print-directory web-check
step "build (race detector, and plain)"
"$MAKE" --no-print-directory build-race build
race_bin="$PWD/bin/herald-race"
plain_bin="$PWD/bin/herald"
export HERALD_BIN="$race_bin" # the Go tests that run the binary (test/e2e, test/cluster) take this one

# The web app's end-to-end suite (Chromium against the plain binary) runs beside the Go tests,
# which wait on databases and child processes much of the time; its output comes after theirs.
step "the web app end to end, in the background beside the Go tests"
web_log="$(mktemp "${TMPDIR:-/tmp}/herald-test-web.XXXXXX")"
HERALD_BIN="$plain_bin" "$MAKE" --no-print-directory test-web >"$web_log" 2>&1 &
web_pid=$!

# The fuzzers (one core, 4 s a target) start here too and run on beside the interop suites: after
# them they were the last to finish, alone on one core, 160 s after the interop suites (784 s in all).
step "fuzzing (one core), in the background from here on"
FUZZPARALLEL=1 "$MAKE" --no-print-directory fuzz FUZZTIME=4s >"$fuzz_log" 2>&1 &
fuzz_pid=$!

step "Azurite"
AZURITE_PIDFILE="$azurite_pidfile" test/azurite/start.sh

step "Go tests with the race detector"
# -p 4: the slow packages wait on databases and child processes more than they compute.
"$GO" test -race -count=1 -p 4 -timeout 15m ./...
web_status=0
wait "$web_pid" || web_status=$?
step "the web app end to end: output"
cat "$web_log"
rm -f "$web_log"
if [ "$web_status" -ne 0 ]; then
	echo "FAILED: the web app end to end, exit $web_status" >&2
	exit 1
fi

step "the benchmark smoke run, in the background, beside the interop suites"
# The benchmark smoke run goes beside the interop suites too (its output after theirs): the
# suites wait on timers and child processes more than they compute.
bench_log="$(mktemp "${TMPDIR:-/tmp}/herald-test-bench.XXXXXX")"
HERALD_BIN="$plain_bin" "$MAKE" --no-print-directory bench-smoke >"$bench_log" 2>&1 &
bench_pid=$!
interop_status=0
"$MAKE" --no-print-directory test-interop || interop_status=$?
bench_status=0
wait "$bench_pid" || bench_status=$?
step "benchmark smoke run output"
cat "$bench_log"
rm -f "$bench_log"
fuzz_status=0
wait "$fuzz_pid" || fuzz_status=$?
step "fuzzing output"
cat "$fuzz_log"
if [ "$interop_status" -ne 0 ] || [ "$bench_status" -ne 0 ] || [ "$fuzz_status" -ne 0 ]; then
	echo "FAILED: interop exit $interop_status, benchmark smoke run exit $bench_status, fuzzing exit $fuzz_status" >&2
	exit 1
fi
step "make test passed"
