"""Issue 13 item 1: sizes, extents and byte counts computed from run-time dims never wrap
int64. Legal zero-size feeds with huge other dims (no memory needed) make temporaries,
outputs and arenas whose byte counts overflow: the Session, fc.jit's path and a
`runtime.load`ed model raise `FeedError` naming the buffer and the symbols, and the C ABI
returns NAME_ERROR_SHAPE (NAME_output_shapes -1, NAME_temporaries_size -1). The loaded
models run in a subprocess, so a segfault fails the test instead of killing pytest."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from aot_models import has_cc

import compiler as fc
from runtime.errors import FeedError
from runtime.signature import checked_shape, eval_dim

pytestmark = pytest.mark.skipif(not has_cc(), reason="no C compiler (cc) to link artifacts")


def _models():
    """name -> (graph, fetch, [placeholders], [overflowing feeds], [fine feeds])."""
    out = {}
    g = fc.Graph()
    with g.as_default():  # the case: 8 * 2**61 wraps to 0
        a = fc.placeholder(fc.bool, [None, None], name="a")
        y = fc.reduce_sum(fc.reduce_sum(fc.cast(a, fc.float64), 0) * 2)
    out["wrap"] = (g, y, [a], [[np.zeros((0, 2**61), bool)], [np.zeros((0, 2**60), bool)],
                               [np.zeros((0, 2**63 - 1), bool)]],
                   [[np.ones((0, 5), bool)], [np.ones((3, 5), bool)]])
    g = fc.Graph()
    with g.as_default():  # a product of two symbols: the outer product of two sums
        a = fc.placeholder(fc.float32, [None, None], name="a")
        b = fc.placeholder(fc.float32, [None, None], name="b")
        y = fc.reduce_sum(a, 0)[:, None] * fc.reduce_sum(b, 0)[None, :]
    out["outer"] = (g, y, [a, b], [[np.zeros((0, 2**32), np.float32)] * 2,
                                   [np.zeros((0, 2**31), np.float32)] * 2],
                    [[np.ones((2, 3), np.float32), np.ones((1, 4), np.float32)]])
    g = fc.Graph()
    with g.as_default():  # symbolic concat and slice: the sum of two extents wraps
        a = fc.placeholder(fc.bool, [None, None], name="a")
        b = fc.placeholder(fc.bool, [None, None], name="b")
        c = fc.concat([fc.reduce_sum(fc.cast(a, fc.float32), 0),
                       fc.reduce_sum(fc.cast(b, fc.float32), 0)], 0)
        y = c[1:] * 3.0
    out["concat"] = (g, y, [a, b], [[np.zeros((0, 2**62), bool)] * 2,
                                    [np.zeros((0, 2**62 + 5), bool),
                                     np.zeros((0, 2**62), bool)],
                                    [np.zeros((0, 2**61), bool)] * 2],
                     [[np.ones((2, 3), bool), np.ones((1, 4), bool)]])
    return out


MODELS = _models()


def test_jit_raises_feed_error_and_keeps_working():
    @fc.jit
    def f(x):
        return fc.reduce_sum(fc.reduce_sum(fc.cast(x, fc.float64), 0) * 2)
    for _ in range(2):
        with pytest.raises(FeedError, match="too large"):
            f(np.zeros((0, 2**61), bool))
    assert f(np.ones((2, 3), bool)) == 12.0


@pytest.mark.parametrize("name", sorted(MODELS))
def test_session_and_interpreter_raise_feed_error(name):
    graph, y, phs, bad, good = MODELS[name]
    interpreter = fc.Session(graph=graph, config=fc.ConfigProto(backend="interpret"))
    with fc.Session(graph=graph) as sess:
        for feeds in bad:
            for s in (sess, interpreter):  # compiled code and the interpreter agree
                with pytest.raises(FeedError, match=r"too large.*int64.*N\d+=\d+"):
                    s.run(y, dict(zip(phs, feeds)))
        for feeds in good:  # and the Session still works
            want = fc.Session(graph=graph, config=fc.ConfigProto(backend="interpret")).run(
                y, dict(zip(phs, feeds)))
            np.testing.assert_allclose(sess.run(y, dict(zip(phs, feeds))), want, rtol=1e-6)


_CHILD = r"""
import ctypes, sys, numpy as np, runtime
from runtime.errors import FeedError
from runtime.signature import checked_shape, eval_dim
bad, good = CASES
m = runtime.load(sys.argv[1])
for feeds in bad:
    try:
        m(*feeds)
    except FeedError as e:
        assert "too large" in str(e) and "int64" in str(e), e
    else:
        raise SystemExit("no error for %r" % ([f.shape for f in feeds],))
    # the C ABI itself: NAME_run's checks, output_shapes and temporaries_size
    lib = ctypes.CDLL(m.path)
    syms = [m._plans and 0]
    env = {}
    for spec, f in zip(m.signature.inputs, feeds):
        for d, n in zip(spec.shape, f.shape):
            if isinstance(d, str):
                env[d] = n
    values = (ctypes.c_int64 * max(1, len(env)))(*[env[s] for s in m.signature.symbols])
    shapes = (ctypes.c_int64 * 64)()
    rc_shapes = getattr(lib, m.name + "_output_shapes")(values, shapes)
    tsize = getattr(lib, m.name + "_temporaries_size")
    tsize.restype = ctypes.c_int64
    print("ABI", rc_shapes, tsize(values))
    run = getattr(lib, m.name + "_run")
    run.restype = ctypes.c_int32
    args = [ctypes.c_void_p(m._inst)] + [ctypes.c_void_p(f.ctypes.data) for f in feeds]
    args += [ctypes.c_int64(env[s]) for s in m.signature.symbols]
    outs = [np.zeros(1, np.float64) for _ in m.signature.outputs]
    args += [ctypes.c_void_p(o.ctypes.data) for o in outs]
    assert run(*args) == -1, "NAME_run must return NAME_ERROR_SHAPE"
    err = getattr(lib, m.name + "_last_error")
    err.restype = ctypes.c_char_p
    assert b"int64" in err(ctypes.c_void_p(m._inst)), err(ctypes.c_void_p(m._inst))
for feeds in good:
    print("OK", np.asarray(m(*feeds)).tolist())
print("DONE")
"""


@pytest.mark.parametrize("name", sorted(MODELS))
def test_loaded_model_and_c_abi_refuse_overflowing_sizes(name, tmp_path):
    graph, y, phs, bad, good = MODELS[name]
    fc.compile(y, phs, str(tmp_path), name=name,
               options=fc.CompileOptions(target_cpu="x86-64-v3", threads=2))
    cases = ([[(f.shape, f.dtype.name) for f in feeds] for feeds in bad],
             [[(f.shape, f.dtype.name) for f in feeds] for feeds in good])
    code = _CHILD.replace("bad, good = CASES", (
        f"CASES = {cases!r}\n"
        "bad = [[np.zeros(s, d) for s, d in fs] for fs in CASES[0]]\n"
        "good = [[np.ones(s, d) for s, d in fs] for fs in CASES[1]]"))
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    assert "DONE" in proc.stdout
    abi = [line.split()[1:] for line in proc.stdout.splitlines() if line.startswith("ABI")]
    assert len(abi) == len(bad)
    # at least one of the two size functions sees the overflow for every bad feed
    assert all(rc == "-1" or t == "-1" for rc, t in abi), abi


def test_a_dim_whose_intermediate_product_wraps_is_refused():
    # (N0*N1)//N2 fits int64, but generated code computing N0*N1 in int64 would wrap
    dim = ["//", ["*", "N0", "N1"], "N2"]
    env = {"N0": 2**40, "N1": 2**40, "N2": 2**30}
    assert eval_dim(dim, env) == 2**50
    with pytest.raises(FeedError, match=r"computing its extent \(\(N0\*N1\)//N2\) overflows"):
        checked_shape([dim], 1, "a buffer", env)
    assert checked_shape([dim, 3], 4, "a buffer", {"N0": 6, "N1": 7, "N2": 2}) == (21, 3)
    with pytest.raises(FeedError, match="too large"):
        checked_shape(["N0", "N0"], 8, "a buffer", {"N0": 2**31})
