#!/usr/bin/env bash
# Fails when a file tracked by git is over 1 MiB (lock files excepted): build output and data dumps
# do not belong in the repository (a 66 MB binary once slipped in with a commit).
set -euo pipefail
limit=$((1024 * 1024))
status=0
while IFS= read -r -d '' f; do
	case "$(basename "$f")" in
	package-lock.json | go.sum | *.lock) continue ;;
	esac
	[ -f "$f" ] || continue # deleted in the work tree, not yet in the index
	size=$(stat -c %s "$f")
	if [ "$size" -gt "$limit" ]; then
		echo "tracked file over 1 MiB: $f ($size bytes); build output belongs in .gitignore" >&2
		status=1
	fi
done < <(git ls-files -z)
exit $status
