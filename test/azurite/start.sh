#!/usr/bin/env bash
# Starts Azurite's blob service (Microsoft's Azure Storage emulator) on 127.0.0.1:10000 in the
# background for the storage tests, installing the pinned version with `npm ci` when needed.
# Idempotent: when something already listens on the port it does nothing.
#
# Data lives in memory (--inMemoryPersistence): tests make unique containers and nothing is
# worth keeping. The log goes to $AZURITE_LOG (default: a file under the system temp dir). When
# it starts Azurite and $AZURITE_PIDFILE is set, the process id goes there, so that the caller can
# stop what it started (make test does).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
host=127.0.0.1
port="${AZURITE_BLOB_PORT:-10000}"
log="${AZURITE_LOG:-${TMPDIR:-/tmp}/herald-azurite-blob.log}"

port_open() {
	# bash's /dev/tcp avoids depending on nc or curl being installed.
	(exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

if port_open; then
	echo "azurite: $host:$port already open; leaving it be"
	exit 0
fi

if [[ ! -x "$here/node_modules/.bin/azurite-blob" ]]; then
	echo "azurite: installing the pinned version with npm ci"
	(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

# setsid + nohup detach it from this shell so it outlives the script (CI runs the tests after).
# --skipApiVersionCheck: the Go SDK may speak a newer service version than this Azurite knows.
# --loose: ignore headers this Azurite does not implement rather than failing the request.
setsid nohup "$here/node_modules/.bin/azurite-blob" \
	--blobHost "$host" --blobPort "$port" \
	--inMemoryPersistence --silent --skipApiVersionCheck --loose --disableTelemetry \
	>"$log" 2>&1 </dev/null &
pid=$!

for _ in $(seq 1 150); do
	if port_open; then
		echo "azurite: blob service on $host:$port (pid $pid, log $log)"
		if [[ -n "${AZURITE_PIDFILE:-}" ]]; then echo "$pid" >"$AZURITE_PIDFILE"; fi
		exit 0
	fi
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "azurite: exited before opening $host:$port; log follows" >&2
		cat "$log" >&2
		exit 1
	fi
	sleep 0.2
done
echo "azurite: $host:$port not open after 30s; log follows" >&2
cat "$log" >&2
exit 1
