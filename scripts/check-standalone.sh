#!/usr/bin/env bash
# The repository stands alone: a user's clone has no folder beside it and no
# build machine's paths. Fails when a tracked file names the workspace folder
# next to the clone, or an absolute path under a home or work directory.
# scripts/lib/optional.sh is the one place allowed to look outside, for
# optional helpers that every suite skips without.
set -euo pipefail
cd "$(dirname "$0")/.."

# Written so that this file does not match its own patterns.
outside='\.\./shar''ed\b'
machine_paths='(^|[^A-Za-z0-9_.~-])/(ho''me|Use''rs|ro''ot|wo''rk|fa''rm)/[A-Za-z0-9_.-]'
allowed=(scripts/lib/optional.sh)

exclude=()
for file in "${allowed[@]}"; do exclude+=(":!$file"); done

found=$(git grep -nIE "$outside|$machine_paths" -- . "${exclude[@]}" ':!Cargo.lock' || true)
if [ -n "$found" ]; then
  printf '%s\n' "$found" >&2
  printf 'error: the files above point outside the repository or at a machine path;\n' >&2
  printf '       a user clone has neither (outside helpers belong in scripts/lib/optional.sh)\n' >&2
  exit 1
fi
echo "check-standalone: no tracked file points outside the repository"
