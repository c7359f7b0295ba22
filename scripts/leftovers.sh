#!/usr/bin/env bash
# Fails if a test left an Apache or daemon process of ours running, or a
# daemon socket behind: every test server lives under /tmp/mod_wsgi-*
# (see tests/common), and a daemon process named with display-name shows
# "(wsgi:NAME)" instead of its command line. Run after the suites, with
# the file given as $1 created before them: only sockets newer than it
# count (roots kept on purpose by earlier runs are not this run's).
# Server::stop_and_list_leftovers (tests/common) asks the same of one server
# while others run, by its process group; why the two stay apart is said
# there.
set -euo pipefail
left=()
for proc in /proc/[0-9]*; do
    exe=$(readlink "$proc/exe" 2>/dev/null || true)
    [ "$exe" = /usr/sbin/apache2 ] || continue
    cmd=$(tr '\0' ' ' < "$proc/cmdline" 2>/dev/null || true)
    case "$cmd" in
        *"/tmp/mod_wsgi-"* | "(wsgi:"*) left+=("${proc#/proc/} $cmd") ;;
    esac
done
since=(${1:+-newer "$1"})
sockets=$(find /tmp -maxdepth 4 -path '/tmp/mod_wsgi-*' -type s "${since[@]}" 2>/dev/null || true)
if [ ${#left[@]} -gt 0 ] || [ -n "$sockets" ]; then
    echo "left behind by the tests:" >&2
    printf '  process %s\n' "${left[@]}" >&2
    [ -n "$sockets" ] && printf '  socket %s\n' $sockets >&2
    exit 1
fi
echo "no test process or socket left behind"
