# Sourced: the Python interpreters we build and test against.
PYTHONS=(/usr/bin/python3.11)
for v in 3.12.1 3.13.0; do
    prefix=$(pyenv prefix "$v" 2>/dev/null || echo "/root/.pyenv/versions/$v")
    if [ -x "$prefix/bin/python3" ]; then
        PYTHONS+=("$prefix/bin/python3")
    else
        echo "warning: Python $v not found at $prefix; skipping it" >&2
        # scripts/test.sh lists this with the skipped tests.
        if [ -n "${MOD_WSGI_SKIP_REPORT:-}" ]; then
            echo "SKIPPED: every suite against Python $v: not found at $prefix" >>"$MOD_WSGI_SKIP_REPORT"
        fi
    fi
done
# Short label for a python executable, e.g. py312.
python_label() { "$1" -c 'import sys; print("py%d%d" % sys.version_info[:2])'; }
