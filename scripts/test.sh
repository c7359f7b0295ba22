#!/usr/bin/env bash
# The whole test suite: lint, unit tests, then the real-Apache integration
# tests for each supported Python (each under the event, worker and prefork MPMs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

started_marker=$(mktemp)
# Tests that return without checking (libtest has no run-time skip, so
# they report "ok") append a line here (tests/common/mod.rs, `skipped`);
# they are listed last, whether the run passes or fails.
export MOD_WSGI_SKIP_REPORT
MOD_WSGI_SKIP_REPORT=$(mktemp)
report_skips() {
    if [ -s "$MOD_WSGI_SKIP_REPORT" ]; then
        echo "=== $(wc -l <"$MOD_WSGI_SKIP_REPORT") test(s) reported ok without running their check (skipped):"
        sort "$MOD_WSGI_SKIP_REPORT"
    fi
    rm -f "$started_marker" "$MOD_WSGI_SKIP_REPORT"
}
trap report_skips EXIT
source scripts/pythons.sh
export PYO3_PYTHON=/usr/bin/python3.11
cargo fmt --check
# Imports point down the layers and FFI stays in the wrappers
# (docs/architecture.md, Layers).
bash scripts/layers.sh
cargo clippy --release --all-targets -- -D warnings
cargo test --release --lib
# The free-threaded (Py_GIL_DISABLED) code path must keep compiling even
# though no free-threaded CPython can be installed here.
PYO3_CONFIG_FILE="$PWD/ci/pyo3-freethreaded.cfg" CARGO_TARGET_DIR=target/freethreaded cargo check --release

# Every integration suite in tests/, so a new file cannot be left out; the
# differential one runs on its own with fewer threads (each of its tests
# runs two servers at once).
suites=()
for file in tests/*.rs; do
    name=$(basename "$file" .rs)
    case "$name" in
        differential | faults_under_load) ;;
        *) suites+=(--test "$name") ;;
    esac
done

for py in "${PYTHONS[@]}"; do
    label=$(python_label "$py")
    echo "=== integration tests against $label ($py)"
    export CARGO_TARGET_DIR="target/$label"
    PYO3_PYTHON="$py" cargo build --release
    # tests/panic_safety.rs needs the module with fault injection compiled
    # in; its own target dir keeps that feature out of the module built
    # above (a full build the first time, only this crate afterwards).
    PYO3_PYTHON="$py" CARGO_TARGET_DIR="target/$label-faults" cargo build --release --features fault-injection
    PYO3_PYTHON="$py" MOD_WSGI_SO="$PWD/$CARGO_TARGET_DIR/release/libmod_wsgi.so" MOD_WSGI_PYTHON="$py" \
        MOD_WSGI_SO_FAULTS="$PWD/target/$label-faults/release/libmod_wsgi.so" \
        cargo test --release --no-fail-fast "${suites[@]}" -- --test-threads=4
done

# Free-threading end to end needs a free-threaded CPython (3.14t), which
# this machine cannot install: the test is #[ignore]d, and runs here only
# when PYTHON_FREETHREADED names one.
if [ -n "${PYTHON_FREETHREADED:-}" ]; then
    echo "=== free-threading end to end ($PYTHON_FREETHREADED)"
    newest="${PYTHONS[${#PYTHONS[@]}-1]}"
    label=$(python_label "$newest")
    PYO3_PYTHON="$newest" CARGO_TARGET_DIR="target/$label" MOD_WSGI_SO="$PWD/target/$label/release/libmod_wsgi.so" \
        MOD_WSGI_PYTHON="$newest" cargo test --release --test gil_modes -- --ignored --exact free_threading_end_to_end
else
    echo "SKIPPED: gil_modes::free_threading_end_to_end: set PYTHON_FREETHREADED to a free-threaded python (3.14t) to run it" >>"$MOD_WSGI_SKIP_REPORT"
fi

# The C mod_wsgi 6.1.1 judges ours on the same configurations
# (docs/differential-testing.md), on 3.12 and later. On 3.11 the C module
# loses exception tracebacks (compatibility.md), so every exchange with a
# traceback differs; MOD_WSGI_DIFFERENTIAL_ALL=1 runs it there too.
differential_pythons=()
for py in "${PYTHONS[@]}"; do
    if [ "${MOD_WSGI_DIFFERENTIAL_ALL:-}" = 1 ] || [ "$(python_label "$py")" != py311 ]; then
        differential_pythons+=("$py")
    else
        echo "SKIPPED: differential suite against $(python_label "$py") (set MOD_WSGI_DIFFERENTIAL_ALL=1 to run it)" >>"$MOD_WSGI_SKIP_REPORT"
    fi
done
for py in "${differential_pythons[@]}"; do
    label=$(python_label "$py")
    echo "=== differential suite against $label ($py)"
    PYO3_PYTHON="$py" CARGO_TARGET_DIR="target/$label" MOD_WSGI_SO="$PWD/target/$label/release/libmod_wsgi.so" \
        MOD_WSGI_PYTHON="$py" cargo test --release --test differential -- --test-threads=2
done

# Nothing of ours may outlive the tests: no Apache or daemon process, no
# daemon socket.
# Faults and restarts under load, both modules side by side: slow (a few
# minutes) and independent of the Python version, so it runs once, on the
# newest Python, one test at a time (each keeps two cores busy).
newest="${PYTHONS[${#PYTHONS[@]}-1]}"
label=$(python_label "$newest")
echo "=== faults under load against $label ($newest)"
PYO3_PYTHON="$newest" CARGO_TARGET_DIR="target/$label" MOD_WSGI_SO="$PWD/target/$label/release/libmod_wsgi.so" \
    MOD_WSGI_PYTHON="$newest" cargo test --release --test faults_under_load -- --test-threads=1
for py in "${PYTHONS[@]}"; do
    [ "$py" = "$newest" ] || echo "SKIPPED: faults_under_load against $(python_label "$py") (runs on the newest Python only)" >>"$MOD_WSGI_SKIP_REPORT"
done

bash scripts/leftovers.sh "$started_marker"
[ -s "$MOD_WSGI_SKIP_REPORT" ] || echo "=== no test skipped"
