"""The client of bench/soak.sh and bench/valgrind.sh.

Sends ROUNDS x PER_ROUND requests of a fixed mix to bench/soak_app.wsgi
(mounted at /soak) over a few keep-alive connections (one thread each),
checks every status and body, and after each round (and once before the
first) samples the resident set size (VmRSS) of every descendant of the
Apache parent named by --pidfile. Writes everything to --out as JSON and
exits 1 if any request got an unexpected status, a wrong body or an error.

Standard library only; traffic to 127.0.0.1 only.
"""
import argparse
import hashlib
import http.client
import json
import os
import sys
import threading
import time

# The mix, cycled through by request number: 2 hello, 2 streamed,
# 2 file_wrapper, 2 POST with a Content-Length, 1 chunked POST, 1 exception.
MIX = ['hello', 'stream', 'file', 'post', 'raise',
       'hello', 'stream', 'file', 'post', 'chunked']
HELLO = b'Hello World!\n'
DATA = b''  # the file /file sends, read in main()
STREAM = b''.join((b'chunk %d ' % i) * 64 for i in range(8))


def post_body(n):
    # 2,000 to 6,000 bytes, different for every request.
    return (b'%08d' % n) * (250 + n % 501)


def expected_post(body):
    return b'%d %s' % (len(body), hashlib.sha256(body).hexdigest().encode())


def descendants(root):
    """{pid: ppid} of every process below pid ROOT."""
    parent = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces or parentheses: split after it.
        fields = stat[stat.rindex(')') + 2:].split()
        parent[int(entry)] = int(fields[1])
    found = {}
    frontier = [root]
    while frontier:
        pid = frontier.pop()
        for child, ppid in parent.items():
            if ppid == pid and child not in found:
                found[child] = ppid
                frontier.append(child)
    return found


def sample(root):
    """{pid: {"label", "rss_kb"}} for the descendants of ROOT."""
    procs = {}
    for pid in sorted(descendants(root)):
        try:
            with open('/proc/%d/status' % pid) as f:
                rss = next(int(line.split()[1]) for line in f
                           if line.startswith('VmRSS:'))
            with open('/proc/%d/cmdline' % pid, 'rb') as f:
                cmd = f.read().replace(b'\0', b' ').decode(errors='replace').strip()
        except (OSError, StopIteration):
            continue
        label = cmd.split()[0] if cmd.startswith('(wsgi') else 'apache2 child'
        procs[str(pid)] = {'label': label, 'rss_kb': rss}
    return procs


class Counts:
    def __init__(self):
        self.lock = threading.Lock()
        self.by_kind = {kind: 0 for kind in set(MIX)}
        self.expected_500 = 0
        self.unexpected_status = 0
        self.bad_body = 0
        self.errors = 0
        self.first_problems = []

    def problem(self, text):
        with self.lock:
            if len(self.first_problems) < 10:
                self.first_problems.append(text)


def one_request(conn, prefix, n, kind, counts):
    """Sends request number N of KIND on CONN; counts the outcome."""
    if kind == 'post':
        body = post_body(n)
        conn.request('POST', prefix + '/post', body=body,
                     headers={'Content-Type': 'application/octet-stream'})
        want_status, want_body = 200, expected_post(body)
    elif kind == 'chunked':
        body = post_body(n)
        parts = [body[i:i + 1500] for i in range(0, len(body), 1500)]
        # An iterable with no length: http.client sends it chunked.
        conn.request('POST', prefix + '/post', body=iter(parts),
                     headers={'Content-Type': 'application/octet-stream'})
        want_status, want_body = 200, expected_post(body)
    else:
        conn.request('GET', prefix + '/' + kind)
        want_status, want_body = {
            'hello': (200, HELLO),
            'stream': (200, STREAM),
            'file': (200, DATA),
            'raise': (500, None),
        }[kind]
    resp = conn.getresponse()
    got = resp.read()
    if resp.will_close:
        conn.close()  # reopened by the next request
    with counts.lock:
        counts.by_kind[kind] += 1
        if resp.status != want_status:
            counts.unexpected_status += 1
        elif want_status == 500:
            counts.expected_500 += 1
        elif got != want_body:
            counts.bad_body += 1
    if resp.status != want_status:
        counts.problem('%s #%d: status %d' % (kind, n, resp.status))
    elif want_body is not None and got != want_body:
        counts.problem('%s #%d: body of %d bytes, wanted %d'
                       % (kind, n, len(got), len(want_body)))


def run_round(conns, prefix, start, count, counts):
    """Sends requests START..START+COUNT over CONNS, one thread each."""
    lock = threading.Lock()
    state = {'next': start}
    end = start + count

    def worker(conn):
        while True:
            with lock:
                n = state['next']
                if n >= end:
                    return
                state['next'] = n + 1
            try:
                one_request(conn, prefix, n, MIX[n % len(MIX)], counts)
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                with counts.lock:
                    counts.errors += 1
                counts.problem('%s #%d: %s: %s'
                               % (MIX[n % len(MIX)], n, type(e).__name__, e))

    threads = [threading.Thread(target=worker, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main():
    global DATA
    p = argparse.ArgumentParser()
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--prefix', default='/soak')
    p.add_argument('--data', required=True, help='the file /file sends')
    p.add_argument('--pidfile', help='Apache parent pid file (RSS sampling)')
    p.add_argument('--rounds', type=int, default=20)
    p.add_argument('--per-round', type=int, default=10000)
    p.add_argument('--connections', type=int, default=4)
    p.add_argument('--timeout', type=float, default=30)
    p.add_argument('--out', required=True)
    args = p.parse_args()
    with open(args.data, 'rb') as f:
        DATA = f.read()

    root = None
    if args.pidfile:
        with open(args.pidfile) as f:
            root = int(f.read().split()[0])
    conns = [http.client.HTTPConnection('127.0.0.1', args.port, timeout=args.timeout)
             for _ in range(args.connections)]
    counts = Counts()
    samples = []
    if root is not None:
        samples.append({'requests': 0, 'procs': sample(root)})
    busy = 0.0
    for r in range(args.rounds):
        t = time.monotonic()
        run_round(conns, args.prefix, r * args.per_round, args.per_round, counts)
        busy += time.monotonic() - t
        done = (r + 1) * args.per_round
        if root is not None:
            samples.append({'requests': done, 'procs': sample(root)})
            total = sum(p['rss_kb'] for p in samples[-1]['procs'].values())
            print('  %d requests, RSS %d kB over %d processes'
                  % (done, total, len(samples[-1]['procs'])), file=sys.stderr)
    for c in conns:
        c.close()
    result = {
        'requests': args.rounds * args.per_round,
        'seconds': busy,
        'by_kind': counts.by_kind,
        'expected_500': counts.expected_500,
        'unexpected_status': counts.unexpected_status,
        'bad_body': counts.bad_body,
        'errors': counts.errors,
        'first_problems': counts.first_problems,
        'samples': samples,
    }
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=1)
    for line in counts.first_problems:
        print('  problem: ' + line, file=sys.stderr)
    bad = counts.unexpected_status + counts.bad_body + counts.errors
    sent = sum(counts.by_kind.values())
    return 1 if bad or sent != result['requests'] else 0


if __name__ == '__main__':
    sys.exit(main())
