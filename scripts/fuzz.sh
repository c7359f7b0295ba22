#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a fixed time each and fails on
# the first crash, hang or out-of-memory (libFuzzer exits non-zero and
# leaves the input under fuzz/artifacts/<target>/).
#
#   scripts/fuzz.sh                  CI length: FUZZ_SECONDS (20) per target
#   FUZZ_SECONDS=3600 scripts/fuzz.sh    nightly length: an hour per target
#   scripts/fuzz.sh daemon_frames    only the targets named
#
# New inputs a run finds go to fuzz/target/corpus-work/<target> (ignored by
# git); the committed seeds in fuzz/corpus/<target> are only read.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-20}"

# cargo-fuzz needs a nightly compiler for the sanitizer flags.
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cargo +nightly fuzz build
if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
for target in "${targets[@]}"; do
    work="target/corpus-work/$target"
    mkdir -p "$work" "corpus/$target"
    echo "== fuzz $target for ${seconds}s"
    # -timeout: one input running this long is a hang (libFuzzer's default
    # is 20 minutes). -rss_limit_mb is libFuzzer's default, spelled out:
    # decoding hostile bytes must stay well below it.
    cargo +nightly fuzz run "$target" "$work" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
