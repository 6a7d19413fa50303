#!/bin/sh
# npm test: the interop suites in two lanes at once, to keep make test short on two cores. The
# cluster suites (each starts its own cluster: three nodes, a worker, Redis, nginx) run one after
# another in this shell's lane; the single-server suites run beside them, their output shown
# after. Each lane runs its files one at a time: a single-server file within 180 s (auth.test.mjs,
# which starts many servers, took 60 s on a loaded machine), a cluster file within 300 s.
set -u
cd "$(dirname "$0")"
log="$(mktemp)"
# The orders example's suite runs a binary built here, outside any test's time limit.
orders_dir="$(mktemp -d)"
trap 'rm -rf "$orders_dir"' EXIT
go build -o "$orders_dir/orders" ../../examples/orders || exit 1
export HERALD_TEST_ORDERS_BIN="$orders_dir/orders"
node --test --test-concurrency=1 --test-timeout=180000 $(ls *.test.mjs | grep -v -e '^cluster' -e '^chaos') >"$log" 2>&1 &
single=$!
node --test --test-concurrency=1 --test-timeout=300000 cluster*.test.mjs chaos.test.mjs
cluster=$?
wait "$single"
single=$?
echo
echo "== the single-server suites (they ran beside the cluster suites):"
cat "$log"
rm -f "$log"
rm -rf "$orders_dir"
echo "== interop: cluster suites exit $cluster, single-server suites exit $single"
[ "$cluster" -eq 0 ] && [ "$single" -eq 0 ]
