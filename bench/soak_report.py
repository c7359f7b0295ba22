"""Turns the JSON results of bench/soak_client.py into bench/soak.sh's
markdown report (on stdout).

Usage: soak_report.py WARMUP_ROUNDS HEADER RUN.json...
Each RUN.json is named soak-MODULE-MODE.json (soak-ours-embedded.json, ...).
"""
import json
import os
import sys

MODULES = {'ours': 'mod_wsgi (Rust, this repo)', 'cmod': 'mod_wsgi 6.1.1 (C, PyPI)'}


def total(sample):
    return sum(p['rss_kb'] for p in sample['procs'].values())


def growth(before, after):
    return 100.0 * (after - before) / before if before else float('nan')


def mib(kb):
    return '%.1f' % (kb / 1024.0)


def summarise(run, warm):
    samples = run['samples']
    first, last = samples[warm], samples[-1]
    per_proc = [growth(first['procs'][pid]['rss_kb'], last['procs'][pid]['rss_kb'])
                for pid in first['procs'] if pid in last['procs']]
    same = set(first['procs']) == set(last['procs'])
    bad = run['unexpected_status'] + run['bad_body'] + run['errors']
    return {
        'warm_kb': total(first),
        'end_kb': total(last),
        'growth': growth(total(first), total(last)),
        'proc_max': max(per_proc) if per_proc else float('nan'),
        'same': same,
        'bad': bad,
        'rps': run['requests'] / run['seconds'] if run['seconds'] else 0,
        'warm_requests': first['requests'],
    }


def main():
    warm = int(sys.argv[1])
    header = sys.argv[2]
    runs = []
    for path in sys.argv[3:]:
        module, mode = os.path.basename(path)[len('soak-'):-len('.json')].split('-', 1)
        with open(path) as f:
            runs.append((module, mode, json.load(f)))
    out = [header, '']
    out.append('| module | mode | processes | RSS after warm-up (MiB) | RSS at end (MiB) '
               '| growth, total | growth, largest per process | requests | expected 500s '
               '| unexpected statuses / bad bodies / errors | requests/s |')
    out.append('|---|---|---|---|---|---|---|---|---|---|---|')
    for module, mode, run in runs:
        s = summarise(run, warm)
        procs = len(run['samples'][-1]['procs'])
        out.append('| %s | %s | %d%s | %s | %s | %+.2f %% | %+.2f %% | %d | %d | %d | %.0f |' % (
            MODULES.get(module, module), mode, procs, '' if s['same'] else ' (replaced!)',
            mib(s['warm_kb']), mib(s['end_kb']), s['growth'], s['proc_max'],
            run['requests'], run['expected_500'], s['bad'], s['rps']))
    out.append('')
    out.append('Growth is measured from the sample after %d requests (warm-up) to the last one.'
               % summarise(runs[0][2], warm)['warm_requests'] if runs else '')
    for module, mode, run in runs:
        samples = run['samples']
        pids = sorted({pid for s in samples for pid in s['procs']}, key=int)
        labels = {}
        for s in samples:
            for pid, p in s['procs'].items():
                labels[pid] = p['label']
        out.append('')
        out.append('### %s, %s: VmRSS (kB) per sample' % (MODULES.get(module, module), mode))
        out.append('')
        out.append('| requests | ' + ' | '.join('%s %s' % (labels[p], p) for p in pids)
                   + ' | total |')
        out.append('|---|' + '---|' * (len(pids) + 1))
        for s in samples:
            cells = [str(s['procs'][p]['rss_kb']) if p in s['procs'] else '-' for p in pids]
            out.append('| %d | %s | %d |' % (s['requests'], ' | '.join(cells), total(s)))
    print('\n'.join(out))


if __name__ == '__main__':
    main()
