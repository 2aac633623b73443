"""Models compiled ahead of time by the AOT tests (tests/test_aot*.py), each compiled once
per pytest process (`artifact(name)`), plus their references on the interpreter.

    basic     x: float32[N0, 3], idx: int32[N1] -> softmax rows y [N0, 2] (constant
              weights), gather g = y[idx] [N1, 2], t = 2 tanh(x) [N0, 3], s = sum(x*x) []
    stateful  x: float32[N0, 4] -> y = x @ w + b [N0, 3]; each run adds 0.1 * mean(y) to b
              and 1 to steps; w and b were assigned in a Session before compiling
    random    x: float32[5] -> x + uniform [5] (keyed by the run counter)
"""

from __future__ import annotations

import atexit
import os
import shutil
import struct
import subprocess
import tempfile

import numpy as np

import compiler as fc

HERE = os.path.dirname(os.path.abspath(__file__))
OPTIONS = fc.CompileOptions(target_cpu="x86-64-v3", threads=2)
_BUILT: dict = {}
_ROOT = None


def has_cc() -> bool:
    return shutil.which(os.environ.get("CC", "cc")) is not None


def _root():
    global _ROOT
    if _ROOT is None:
        _ROOT = tempfile.mkdtemp(prefix="flowc-aot-tests-")
        atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)
    return _ROOT


def build_basic():
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 3], name="x")
        idx = fc.placeholder(fc.int32, [None], name="idx")
        w = fc.constant((np.arange(6, dtype=np.float32).reshape(3, 2) - 2.5) / 7)
        y = fc.nn.softmax(fc.matmul(x, w) + 0.5, name="y")
        gathered = fc.gather(y, idx, name="g")
        t = fc.multiply(fc.tanh(x), 2.0, name="t")
        s = fc.reduce_sum(x * x, name="s")
    return g, [y, gathered, t, s], [x, idx], None


def build_stateful():
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 4], name="x")
        w = fc.Variable(np.zeros((4, 3), np.float32), name="w")
        b = fc.Variable(np.zeros(3, np.float32), name="b")
        steps = fc.Variable(np.int64(0), name="steps")
        y = fc.add(fc.matmul(x, w), b, name="y")
        upd_b = fc.assign_add(b, fc.reduce_mean(y, axis=0) * 0.1)
        upd_steps = fc.assign_add(steps, np.int64(1))
        sess = fc.Session(graph=g, config=fc.ConfigProto(backend="interpret"))
        sess.run(fc.global_variables_initializer())
        rng = np.random.default_rng(0)
        sess.run(fc.assign(w, rng.standard_normal((4, 3)).astype(np.float32)))
        sess.run(fc.assign(b, np.array([0.5, -1.0, 2.0], np.float32)))
    return g, [y, upd_b.op, upd_steps.op], [x], sess


def build_random():
    g = fc.Graph()
    with g.as_default():
        fc.set_random_seed(7)
        x = fc.placeholder(fc.float32, [5], name="x")
        r = fc.add(x, fc.random_uniform([5], seed=3), name="r")
    return g, [r], [x], None


BUILDERS = {"basic": build_basic, "stateful": build_stateful, "random": build_random}


def artifact(name, options=OPTIONS):
    """(Artifact, graph, fetches, feeds, session) of model `name`, compiled once."""
    key = (name, options)
    if key not in _BUILT:
        graph, fetches, feeds, sess = BUILDERS[name]()
        path = os.path.join(_root(), f"{name}-{len(_BUILT)}")
        art = fc.compile(fetches, feeds, path, name=name, session=sess, options=options)
        _BUILT[key] = (art, graph, fetches, feeds, sess)
    return _BUILT[key]


def reference(graph, fetches, feed_dict, sess=None):
    """Run on the interpreter (in `sess`, so its variables and run counter carry on)."""
    sess = sess or fc.Session(graph=graph, config=fc.ConfigProto(backend="interpret"))
    return sess.run(fetches, feed_dict)


def build_c_program(source, art, out_dir) -> str:
    """Compile tests/c/`source` against the artifact's header and link its .so."""
    exe = os.path.join(out_dir, os.path.splitext(source)[0])
    cmd = [os.environ.get("CC", "cc"), "-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror",
           "-I", art.directory, "-o", exe, os.path.join(HERE, "c", source), art.library,
           f"-Wl,-rpath,{art.directory}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return exe


def elf_needed(path) -> list:
    """The DT_NEEDED entries of an ELF64 little-endian shared object."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, "not an ELF64 LE file"
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
                for i in range(shnum)]
    dynamic = next(s for s in sections if s[1] == 6)   # SHT_DYNAMIC
    strtab_offset = sections[dynamic[6]][4]             # sh_link -> .dynstr
    needed = []
    for off in range(dynamic[4], dynamic[4] + dynamic[5], 16):
        tag, value = struct.unpack_from("<qQ", data, off)
        if tag == 0:
            break
        if tag == 1:                                     # DT_NEEDED
            start = strtab_offset + value
            needed.append(data[start:data.index(b"\0", start)].decode())
    return needed
