# The application under load in tests/faults_under_load.rs. Every answer
# names the process that served it (X-Pid) and the loaded copy of this
# script (X-Generation: new in each process, and again after a reload), so
# the test can tell that a fault really replaced something. The body is
# sent in two parts with a pause between, so a process killed mid-response
# leaves a visibly short body.
import os
import time
import uuid

GENERATION = uuid.uuid4().hex[:12]
HALF = b'x' * 2048


def application(environ, start_response):
    start_response('200 OK', [
        ('Content-Type', 'text/plain'),
        ('Content-Length', str(2 * len(HALF))),
        ('X-Pid', str(os.getpid())),
        ('X-Generation', GENERATION),
    ])
    yield HALF
    time.sleep(0.005)
    yield HALF
