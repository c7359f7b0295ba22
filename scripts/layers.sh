#!/usr/bin/env bash
# The layer rules of docs/architecture.md, checked on src/:
#  1. a layer imports only the layers its row allows (arrows point down);
#  2. FFI (CPython through pyo3_ffi, Apache/APR calls through ffi::ap_* and
#     ffi::apr_*, libc) appears only in the wrapper layers (src/apache/,
#     src/python/, src/sys*) and the extern "C" entry points.
# Anything that breaks a rule and is not in an allow-list below is printed
# as file:line with the rule, and the script fails.
set -euo pipefail
cd "$(dirname "$0")/.."

# The layer a source file belongs to, from its path.
layer_of() {
    case "$1" in
        src/module.rs | src/module/*) echo module ;;
        src/daemon/*) echo daemon ;;
        src/wsgi/*) echo wsgi ;;
        src/pymodule/*) echo pymodule ;;
        src/process.rs | src/process/*) echo process ;;
        src/telemetry/*) echo telemetry ;;
        src/metrics/*) echo metrics ;;
        src/python/*) echo python ;;
        src/apache/*) echo apache ;;
        src/sys.rs | src/sys/*) echo sys ;;
        src/config/*) echo config ;;
        src/panic_guard.rs) echo panic_guard ;;
        src/lib.rs) echo lib ;;
        *) echo unknown ;;
    esac
}

# What each layer may import (besides itself), top to bottom. wsgi and
# pymodule are peers: the adapter hands requests to the module's events and
# the module's methods write through the adapter's streams.
declare -A ALLOWED=(
    [lib]="module daemon wsgi pymodule process telemetry metrics python apache sys config panic_guard"
    [module]="daemon wsgi pymodule process telemetry metrics python apache sys config panic_guard"
    [daemon]="wsgi pymodule process telemetry metrics python apache sys config panic_guard"
    [wsgi]="pymodule process telemetry metrics python apache sys config panic_guard"
    [pymodule]="wsgi process telemetry metrics python apache sys config panic_guard"
    [process]="telemetry metrics python apache sys config panic_guard"
    [telemetry]="metrics python config"
    [metrics]="sys config"
    [python]="apache config panic_guard"
    [apache]="config panic_guard"
    [sys]=""
    [config]=""
    [panic_guard]=""
)

# Imports that break the table and stay for now: "file|layer|reason".
IMPORT_EXCEPTIONS=(
)

# Files outside the wrapper layers that still use FFI: "file|reason".
# Entry points (functions Apache or CPython calls) are here by rule.
FFI_ALLOWED=(
    "src/module.rs|entry point: the module record, hook registration and the hooks themselves"
    "src/module/auth.rs|entry point: the authn/authz provider callbacks"
    "src/wsgi/types.rs|entry points: the adapter's CPython type slots and methods (start_response, wsgi.input, ...)"
    "src/pymodule/mod.rs|entry points: the mod_wsgi/apache module definitions and their method trampolines"
    "src/pymodule/events.rs|entry points: the subscribe_events, subscribe_shutdown, subscribe_signals and request_data methods, and subscribe, the body the first three share"
    "src/pymodule/metrics.rs|entry points: the metrics methods of mod_wsgi"
    "src/pymodule/gc.rs|entry point: the gc.callbacks hook"
    "src/pymodule/logging.rs|entry points: the logging handler methods"
    "src/wsgi/streams.rs|entry points: the Log stream methods"
    "src/wsgi/ssl.rs|entry points: the ssl_is_https/ssl_var_lookup functions Python calls"
    "src/wsgi/gil_watch.rs|entry point: mod_wsgi._gil_enabled, which the warnings hook calls"
)

failures=0
fail() {
    echo "layers.sh: $1" >&2
    failures=$((failures + 1))
}

# Both allow-lists hold "KEY|reason" entries: KEY is a file in FFI_ALLOWED
# and "file|layer" in IMPORT_EXCEPTIONS; a reason holds no '|'. The keys an
# entry excused are remembered, so that an entry excusing nothing is seen.
declare -A EXCUSED=()
excused() { # key, allow-list entries...
    local key=$1 entry
    shift
    for entry in "$@"; do
        if [ "${entry%|*}" = "$key" ]; then
            EXCUSED[$key]=1
            return 0
        fi
    done
    return 1
}

# An allow-list entry that no longer matches anything is stale: remove it,
# so the list only ever shrinks.
fail_stale() { # what a stale entry is called, allow-list entries...
    local what=$1 entry
    shift
    for entry in "$@"; do
        [ -n "${EXCUSED[${entry%|*}]+set}" ] || fail "$what: ${entry%|*}"
    done
}

# Lines of code, without comment lines: "file:line:text".
code_lines() {
    grep -rnE "$1" src --include='*.rs' | grep -vE '^[^:]+:[0-9]+:[[:space:]]*//' || true
}

# Rule 1: imports point down.
while IFS= read -r hit; do
    [ -z "$hit" ] && continue
    file=${hit%%:*}
    rest=${hit#*:}
    line=${rest%%:*}
    text=${rest#*:}
    from=$(layer_of "$file")
    if [ "$from" = unknown ]; then
        fail "$file:$line: file outside every layer; give it a row in layer_of"
        continue
    fi
    for target in $(grep -oE 'crate::[a-z_]+' <<<"$text" | sed 's/crate:://' | sort -u); do
        [ "$target" = "$from" ] && continue
        case " ${ALLOWED[$from]} " in *" $target "*) continue ;; esac
        excused "$file|$target" "${IMPORT_EXCEPTIONS[@]}" && continue
        fail "$file:$line: layer '$from' imports '$target', which is not below it (allowed: ${ALLOWED[$from]:-nothing})"
    done
done < <(code_lines 'crate::[a-z_]+')

# Rule 2: FFI stays in the wrappers and the entry points. Apache types
# (ffi::*_t, ffi::*_e) and constants are plain data; calls and statics are
# what count.
ffi_pattern='pyo3_ffi|ffi::apr?_[a-z0-9_]*[a-z0-9]|libc::'
while IFS= read -r hit; do
    [ -z "$hit" ] && continue
    file=${hit%%:*}
    rest=${hit#*:}
    line=${rest%%:*}
    text=${rest#*:}
    case "$file" in src/apache/* | src/python/* | src/sys.rs | src/sys/*) continue ;; esac
    # Only a type or an enum name: not a call.
    if ! grep -qE 'pyo3_ffi|libc::|ffi::apr?_[a-z0-9_]*[a-z0-9]([^a-z0-9_]|$)' <<<"$(sed -E 's/ffi::apr?_[a-z0-9_]*_[te]\b//g' <<<"$text")"; then
        continue
    fi
    excused "$file" "${FFI_ALLOWED[@]}" && continue
    fail "$file:$line: FFI outside the wrapper layers and entry points: $(sed -E 's/^[[:space:]]+//' <<<"$text")"
done < <(code_lines "$ffi_pattern")

fail_stale "stale import exception (nothing to excuse any more)" "${IMPORT_EXCEPTIONS[@]}"
fail_stale "stale FFI allow-list entry (no FFI left there)" "${FFI_ALLOWED[@]}"

if [ "$failures" -gt 0 ]; then
    echo "layers.sh: $failures problem(s); the rules are in docs/architecture.md (Layers)" >&2
    exit 1
fi
echo "layers.sh: layers and FFI placement OK"
