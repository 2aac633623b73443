"""Child process of tests/test_cache_damage.py (run in a subprocess, so a crash fails the
test instead of killing pytest): fills a compile-cache entry, then damages it in hundreds
of ways, one at a time, and checks that each damaged entry is either refused with exactly
one warning (and removed) or, when the damage cannot matter, still gives the right
answers. A sample of the variants goes through a whole `Session.run`, which must succeed
with one warning. Prints one JSON line: counts and the variants that went wrong."""

import hashlib
import json
import logging
import os
import shutil
import sys

import numpy as np

import compiler as fc
from compiler import cache
from runtime.variables import VariableStore


class Warnings(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


WARNINGS = Warnings()
logging.getLogger("flowc.cache").addHandler(WARNINGS)
OPTIONS = fc.ConfigProto(compile_options=fc.CompileOptions(threads=1))
FEED = np.linspace(-1, 1, 15, dtype=np.float32).reshape(5, 3)


def build():
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 3], name="x")
        w = fc.Variable(np.arange(6, dtype=np.float32).reshape(3, 2), name="w")
        step = fc.Variable(0.0, name="step")
        c1 = fc.constant(np.linspace(-1, 1, 48, dtype=np.float32).reshape(16, 3))
        h = fc.tanh(fc.matmul(x * 0.5 + fc.reduce_sum(c1, axis=0), w))
        y = fc.reduce_sum(h, axis=1)
        z = fc.nn.softmax(h[1:])
        inc = fc.assign_add(step, 1.0)
        init = fc.global_variables_initializer()
    return g, x, [y, z, inc], init


def session_run():
    g, x, fetches, init = build()
    with fc.Session(graph=g, config=OPTIONS) as sess:
        sess.run(init)
        return sess.run(fetches, {x: FEED})


seen = []
_lookup = cache.lookup


def spy(program, options, *stage):
    exe, parts = _lookup(program, options, *stage)
    seen.append((program, options, parts))
    return exe, parts


cache.lookup = spy
EXPECTED = session_run()
PROGRAM, OPTS, PARTS = seen[-1]
cache.lookup = _lookup
ENTRY = os.path.join(cache.cache_dir(), "entries", cache.digest(PARTS))
OTHER = os.path.join(cache.cache_dir(), "entries", cache.digest(seen[0][2]))
PRISTINE = os.path.join(sys.argv[1], "pristine")
shutil.copytree(ENTRY, PRISTINE)
with open(os.path.join(PRISTINE, "entry.json")) as f:
    META = json.load(f)


def restore():
    if os.path.lexists(ENTRY):
        if os.path.isdir(ENTRY):
            shutil.rmtree(ENTRY)
        else:
            os.remove(ENTRY)
    shutil.copytree(PRISTINE, ENTRY)


def write_meta(meta, rehash):
    raw = json.dumps(meta).encode()
    with open(os.path.join(ENTRY, "entry.json"), "wb") as f:
        f.write(raw)
    if rehash:  # a consistent entry: only the field checks can refuse it
        with open(os.path.join(ENTRY, cache.ENTRY_HASH), "w") as f:
            f.write(hashlib.sha256(raw).hexdigest())


def direct_outputs(exe):
    store = VariableStore()
    store.declare("w", np.float32, (3, 2))
    store.declare("step", np.float32, ())
    store.set("w", np.arange(6, dtype=np.float32).reshape(3, 2))
    store.set("step", np.float32(0))
    return exe.run([FEED], store)


def same(outs):
    return len(outs) == len(EXPECTED) and all(
        o.dtype == e.dtype and o.shape == e.shape and np.array_equal(o, e)
        for o, e in zip(outs, EXPECTED))


results = {"variants": 0, "refused": 0, "harmless": 0, "sessions": 0, "bad": []}


def check(name, damage, whole_run=False):
    """Damage a fresh copy of the entry; a lookup must refuse it with one warning (and
    remove it) or give the right answers."""
    restore()
    damage()
    del WARNINGS.messages[:]
    results["variants"] += 1
    if whole_run:  # the run that finds the damage succeeds, with one warning
        results["sessions"] += 1
        outs = session_run()
        if not same(outs) or len(WARNINGS.messages) > 1:
            results["bad"].append(f"{name}: session run gave {outs} / {WARNINGS.messages}")
        return
    exe = cache.load(PARTS, PROGRAM, OPTS)
    if exe is None:
        results["refused"] += 1
        if len(WARNINGS.messages) != 1 or os.path.lexists(ENTRY):
            results["bad"].append(f"{name}: {WARNINGS.messages}, entry left: "
                                  f"{os.path.lexists(ENTRY)}")
    else:
        results["harmless"] += 1
        if not same(direct_outputs(exe)) or WARNINGS.messages:
            results["bad"].append(f"{name}: accepted and gave wrong results")


def file_damages(name):
    path = os.path.join(ENTRY, name)

    def delete():
        os.remove(path)

    def empty():
        open(path, "wb").close()

    def half():
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(data[:len(data) // 2])

    def flip(at):
        def damage():
            with open(path, "r+b") as f:
                size = f.seek(0, 2)
                f.seek(int(size * at) % max(size, 1))
                byte = f.read(1) or b"\0"
                f.seek(-len(byte) if size else 0, 1)
                f.write(bytes([byte[0] ^ 0x41]))
        return damage

    def directory():
        os.remove(path)
        os.mkdir(path)

    def append():
        with open(path, "ab") as f:
            f.write(b"\0junk")

    yield "delete", delete
    yield "empty", empty
    yield "half", half
    yield "directory", directory
    yield "append", append
    for k in range(6):
        yield f"flip@{k / 6:.2f}", flip(k / 6)


def paths(value, prefix=()):
    """Every (path, value) in a JSON value, containers included."""
    yield prefix, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths(v, prefix + (i,))


def mutated(meta, path, new):
    meta = json.loads(json.dumps(meta))
    if not path:
        return new
    target = meta
    for k in path[:-1]:
        target = target[k]
    if new is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = new
    return meta


DELETE = object()
FULL = len(sys.argv) > 2 and sys.argv[2] == "full"  # every variant (long runs)
REPLACEMENTS = [None, [], {}, "x", -1, 1 << 63, True, 2.5, [None, None, None]]

# 1. every file of the entry, damaged in place
for name in sorted(os.listdir(PRISTINE)):
    if name == "texts.json":  # read lazily: damage costs the texts, never the hit
        continue
    for how, damage in file_damages(name):
        check(f"{name} {how}", damage)

# 2. files swapped with the other entry's (the initializer program)
for mine, theirs in (("code.so", "code.so"), ("const_1.npy", "const_0.npy")):
    check(f"{mine} swapped", lambda m=mine, t=theirs: shutil.copyfile(
        os.path.join(OTHER, t), os.path.join(ENTRY, m)))

# 3. every field of entry.json replaced (or deleted), with and without a matching hash
for path, value in list(paths(META)):
    news = [r for r in REPLACEMENTS if r != value or type(r) is not type(value)]
    if path and isinstance(path[-1], str):
        news.append(DELETE)
    if isinstance(value, int) and not isinstance(value, bool):
        news += [value + 1, value - 1]  # caught by the hash only
    for k, new in enumerate(news):
        meta = mutated(META, path, new)
        label = f"entry.json{list(path)} = {'<deleted>' if new is DELETE else repr(new)}"
        if k == len(path) % len(news) or FULL and isinstance(new, int):
            # the hash refuses them all alike: one per field, and the in-range numbers
            check(label + " (hash kept)", lambda m=meta: write_meta(m, rehash=False))
        if (FULL or k % 2 == len(path) % 2) and not (
                isinstance(value, int) and isinstance(new, int) and
                not isinstance(new, bool) and 0 <= new < 1 << 62):
            # a well-typed, in-range number is not checkable without the hash (a
            # temporary's extent, a lifetime): the trust model covers it. The default
            # suite takes every other replacement of each field (all with "full")
            check(label + " (rehashed)", lambda m=meta: write_meta(m, rehash=True))

# 4. the whole entry.json: null, [], a list where a dict belongs, truncated
for text in ("null", "[]", "{}", '"x"', "[{}]", json.dumps([META]), json.dumps(META)[:-9]):
    for rehash in (False, True):
        def damage(t=text, r=rehash):
            with open(os.path.join(ENTRY, "entry.json"), "w") as f:
                f.write(t)
            if r:
                with open(os.path.join(ENTRY, cache.ENTRY_HASH), "w") as f:
                    f.write(hashlib.sha256(t.encode()).hexdigest())
        check(f"entry.json = {text[:20]} rehash={rehash}", damage)

# 5. the entry folder itself: a file, empty, a symlink loop
check("entry is a file", lambda: (shutil.rmtree(ENTRY), open(ENTRY, "w").close()),
      whole_run=True)
check("entry is empty", lambda: [os.remove(os.path.join(ENTRY, n)) for n in os.listdir(ENTRY)])

# 6. whole Session.runs over a sample of the damages above
for name, damage in [
        ("null entry.json", lambda: write_meta(None, rehash=False)),
        ("[] entry.json rehashed", lambda: write_meta([], rehash=True)),
        ("list for dict rehashed", lambda: write_meta(mutated(META, ("updates",), [3]), True)),
        ("temp shape changed", lambda: write_meta(mutated(META, ("buffers", 5, "shape"),
                                                          ["N0", 1]), rehash=False)),
        ("truncated code.so", dict(file_damages("code.so"))["half"]),
        ("swapped const", lambda: shutil.copyfile(os.path.join(OTHER, "const_0.npy"),
                                                  os.path.join(ENTRY, "const_1.npy"))),
        ("missing code.so", dict(file_damages("code.so"))["delete"]),
        ("missing entry.sha256", dict(file_damages(cache.ENTRY_HASH))["delete"])]:
    check(name, damage, whole_run=True)

print(json.dumps(results))
