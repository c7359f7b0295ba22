# Ways of consuming a request body, each a function of a file-like object
# returning the list of values the calls produced. The test app runs them
# on wsgi.input; the test runs them on io.BytesIO(body) as the reference.


def op_read(f):
    return [f.read()]


def op_read_n(f):
    out = []
    while True:
        data = f.read(7)
        out.append(data)
        if not data:
            return out


def op_read_zero(f):
    return [f.read(0), f.read(3), f.read(0), f.read()]


def op_read_negative(f):
    return [f.read(4), f.read(-1), f.read(-1)]


def op_readline(f):
    out = []
    while True:
        line = f.readline()
        out.append(line)
        if not line:
            return out


def op_readline_size(f):
    out = []
    while True:
        line = f.readline(5)
        out.append(line)
        if not line:
            return out


def op_readline_negative(f):
    return [f.readline(-1), f.readline(-1), f.read()]


def op_readlines(f):
    return [f.readlines(), f.readlines()]


def op_readlines_hint(f):
    return [f.readlines(12), f.readlines(1), f.read()]


def op_iterate(f):
    return [line for line in f] + [f.read()]


def op_mixed(f):
    return [f.readline(), f.read(3), f.readline(4), f.readline(), f.read(2),
            f.readlines(1), f.read()]


def op_past_eof(f):
    return [f.read(), f.read(), f.read(10), f.read(), f.readline(),
            f.readline(3), f.readlines(), list(f)]


OPS = {name[3:]: func for name, func in list(globals().items())
       if name.startswith('op_')}
