#!/usr/bin/env bash
# Fuzz the decoders of untrusted input with cargo fuzz (libFuzzer): the task
# envelope (what a queue delivers) and every source's page decoders (what a
# server answers, through the crawl and the normalizer). Not part of the test
# command: run it by hand. It prints, per target, the executions and whether
# a crash was found (a crash leaves its input in fuzz/artifacts/TARGET/).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     default 180
#
# cargo fuzz needs nightly compiler flags (sanitizers); on a stable toolchain
# they are enabled with RUSTC_BOOTSTRAP=1 for this build only.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh
ensure_build_deps
seconds=${1:-180}

if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz from crates.io"
  cargo install cargo-fuzz --locked
fi

status=0
for target in envelope source_pages; do
  log "fuzzing $target for ${seconds}s"
  mkdir -p "fuzz/corpus/$target"
  if RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" -- -max_total_time="$seconds" \
      >"fuzz/$target.log" 2>&1; then
    result="no crash"
  else
    result="CRASH (see fuzz/$target.log and fuzz/artifacts/$target/)"
    status=1
  fi
  runs=$(grep -o 'Done [0-9]* runs' "fuzz/$target.log" | tail -1 || true)
  echo "$target: ${runs:-? runs} in ${seconds}s; $result"
done
exit $status
