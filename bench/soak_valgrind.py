"""Summarises the valgrind memcheck logs of `bench/soak.sh --valgrind`.

Usage: soak_valgrind.py REQUESTS LOG...

For each log (one per process valgrind followed) prints the command, the
error and leak totals, and then the records that point at our module,
which make the script fail:

* any error (invalid read or write, uninitialised value, bad free) or
  "definitely lost" record whose nearest caller outside CPython is our
  code: a frame of our crate (mod_wsgi::...) or of libmod_wsgi.so comes
  before any frame of the Python interpreter loop, so our code called the
  C API that allocated (or misbehaved) directly;
* any other "definitely lost" record of at least REQUESTS / 4 blocks,
  whatever its stack: a leak that grows with the requests.

Not counted: Python strings that CPython 3.12+ interns (identifiers from
the compiler and unmarshalled code, dictionary keys set through
PyDict_SetItemString). Interned strings are immortal and
are not freed at finalization, so valgrind sees each one once, per
interpreter, as lost; their number does not grow with the requests.
Records whose stacks stay in Python, Apache or libc are counted as noise.
"""
import re
import sys

FRAME = re.compile(r'\s*(at|by) 0x[0-9A-Fa-f]+: ')
OURS = re.compile(r'\bmod_wsgi::|libmod_wsgi\.so')
EVAL = re.compile(r'_PyEval_EvalFrameDefault')
INTERNED = re.compile(r'PyUnicode_InternFromString|PyUnicode_InternInPlace|_PyUnicode_Intern'
                      r'|PyDict_SetItemString|_PyPegen_|\br_object\b')
ERROR = re.compile(r'(Invalid (read|write|free)|Conditional jump|Use of uninitialised'
                   r'|Syscall param|Mismatched free|Source and destination overlap)')
LOST = re.compile(r'([\d,]+) bytes in ([\d,]+) blocks are definitely lost in loss record')


def records(text):
    """The log's records: blocks of ==PID== lines separated by an empty one."""
    block = []
    for line in text.splitlines():
        body = re.sub(r'^==\d+==\s?', '', line)
        if body.strip():
            block.append(body)
        elif block:
            yield block
            block = []
    if block:
        yield block


def classify(rec, requests):
    """'ours', 'grows', 'interned' or 'other' for an error or leak record;
    None for anything else."""
    head = rec[0]
    lost = LOST.search(head)
    if not (lost or ERROR.match(head)):
        return None
    frames = [line for line in rec[1:] if FRAME.match(line)]
    ours = next((i for i, line in enumerate(frames) if OURS.search(line)), None)
    python = next((i for i, line in enumerate(frames) if EVAL.search(line)), None)
    # The frames that allocated, up to the first of ours or of Python code.
    nearest = frames[:min(i for i in (ours, python, len(frames)) if i is not None)]
    if lost and any(INTERNED.search(line) for line in nearest):
        return 'interned'
    if lost and int(lost.group(2).replace(',', '')) >= max(requests // 4, 2):
        return 'grows'
    if ours is None or (python is not None and python < ours):
        return 'other'  # not ours, or the application's Python code in between
    return 'ours'


def main():
    requests = int(sys.argv[1])
    found = 0
    for path in sys.argv[2:]:
        with open(path, errors='replace') as f:
            text = f.read()
        command = re.search(r'^==\d+== Command: (.*)$', text, re.M)
        summary = re.search(r'ERROR SUMMARY: ([\d,]+) errors from ([\d,]+) contexts', text)
        print('%s: %s' % (path, command.group(1) if command else '?'))
        if not summary:
            print('  no summary (the process was killed?)')
        for kind in ('definitely lost', 'indirectly lost', 'possibly lost', 'still reachable'):
            m = re.search(kind + r': ([\d,]+) bytes in ([\d,]+) blocks', text)
            if m:
                print('  %s: %s bytes in %s blocks' % ((kind,) + m.groups()))
        counts = {'ours': 0, 'grows': 0, 'interned': 0, 'other': 0}
        for rec in records(text):
            kind = classify(rec, requests)
            if kind is None:
                continue
            counts[kind] += 1
            if kind in ('ours', 'grows'):
                found += 1
                print('  -- %s:' % ('through our code' if kind == 'ours' else 'grows with requests'))
                print('\n'.join('     ' + line for line in rec[:30]))
        print('  error/leak records: %d through our code, %d growing with requests, '
              '%d interned strings, %d elsewhere (Python, Apache, libc)'
              % (counts['ours'], counts['grows'], counts['interned'], counts['other']))
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main())
