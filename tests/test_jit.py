"""fc.jit: tracing, result structures, static vs dynamic dims, recompile logs, out=,
errors, the fast dispatch path, and agreement with numpy and the interpreter."""

from __future__ import annotations

import importlib
import logging
import re
import threading
from collections import namedtuple

import numpy as np
import pytest

import compiler as fc
from runtime.errors import FeedError

Pair = namedtuple("Pair", "total diff")
TEN = np.full(2, 10.0)


def f32(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def interpret(jitted, *args, **kwargs):
    """The same call on the interpreter backend, through the traced graph."""
    traced = jitted.trace(*args, **kwargs)
    arrays = [a for a in args if isinstance(a, np.ndarray)]
    config = fc.ConfigProto(backend="interpret")
    with fc.Session(graph=traced.graph, config=config) as sess:
        return sess.run(traced.outputs, dict(zip(traced.feeds, arrays)))


def test_decorator_forms_trace_once_and_agree_with_numpy_and_the_interpreter():
    @fc.jit
    def f(x, y):
        return fc.tanh(x) * y + fc.reduce_sum(x, axis=1, keepdims=True)

    x, y = f32(3, 4), f32(3, 4, seed=1)
    want = np.tanh(x) * y + x.sum(axis=1, keepdims=True)
    got = f(x, y)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32 and got.shape == (3, 4)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got, interpret(f, x, y), rtol=1e-5, atol=1e-5)
    for _ in range(3):
        np.testing.assert_array_equal(f(x, y), got)
    assert f.compile_count == 1 and f.__name__ == "f"

    g = fc.jit(lambda a: a * 2.0, dynamic_dims=0)
    np.testing.assert_array_equal(g(np.arange(3.0)), [0.0, 2.0, 4.0])


def test_result_structures_are_rebuilt():
    @fc.jit(dynamic_dims=0)
    def f(x, y):
        return {"pair": Pair(x + y, x - y), "list": [fc.reduce_max(x)], "single": (x * y,)}

    x, y = f32(5, 2), f32(5, 2, seed=2)
    got = f(x, y)
    assert set(got) == {"pair", "list", "single"}
    assert isinstance(got["pair"], Pair) and isinstance(got["list"], list)
    assert isinstance(got["single"], tuple) and len(got["single"]) == 1
    np.testing.assert_allclose(got["pair"].diff, x - y)
    assert got["list"][0].shape == () and got["list"][0] == x.max()
    np.testing.assert_allclose(got["single"][0], x * y)
    assert f(x, y)["pair"].total.shape == (5, 2)  # the fast path rebuilds the same way

    @fc.jit
    def g(x):
        return x, x * 2, x  # an argument returned as is, and twice
    a, b, c = g(np.arange(3.0))
    np.testing.assert_array_equal(b, [0.0, 2.0, 4.0])
    assert a is not c and np.array_equal(a, c)


def test_python_scalars_are_static_and_a_new_value_recompiles(caplog):
    @fc.jit
    def scale(x, factor, mode="mul"):
        return x * factor if mode == "mul" else x + factor

    x = np.arange(4, dtype=np.float32)
    np.testing.assert_array_equal(scale(x, 2.0), x * 2)
    np.testing.assert_array_equal(scale(x, 2.0), x * 2)
    assert scale.compile_count == 1
    with caplog.at_level(logging.INFO, logger="flowc.jit"):
        np.testing.assert_array_equal(scale(x, 3.0), x * 3)
        np.testing.assert_array_equal(scale(x, 3.0, mode="add"), x + 3)
        np.testing.assert_array_equal(scale(x, 3, "add"), x + 3)  # int 3 is not float 3.0
    assert scale.compile_count == 4
    msgs = [r.getMessage() for r in caplog.records if r.name == "flowc.jit"]
    assert "argument factor the static float 2.0 -> the static float 3.0" in msgs[0]
    assert "argument mode the static str 'mul' -> the static str 'add'" in msgs[1]
    assert "argument factor the static float 3.0 -> the static int 3" in msgs[2]
    np.testing.assert_array_equal(scale(x, 2.0), x * 2)  # cached: no new compile
    assert scale.compile_count == 4


def test_static_dims_recompile_with_a_reason_and_dynamic_dims_do_not(caplog):
    @fc.jit
    def f(x):
        return x * 2.0

    with caplog.at_level(logging.DEBUG, logger="flowc.jit"):
        f(f32(3, 4))
        f(f32(5, 4))
    assert f.compile_count == 2
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert debug[0].startswith("compiled f for (x: a float32 array of shape (3, 4)) in ")
    [msg] = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert msg == ("recompiling f: argument x shape (3, 4) -> (5, 4) (axis 0 is static; "
                   "mark it in dynamic_dims to reuse the code)")

    for spec in (0, [0], {0: [0]}, {"x": 0}, {"x": [-2]}):
        g = fc.jit(f.fn, dynamic_dims=spec)
        for n in (1, 3, 7, 1000):
            x = f32(n, 4)
            np.testing.assert_array_equal(g(x), x * 2.0)
        assert g.compile_count == 1, spec
        g(f32(3, 5))  # axis 1 stays static
        assert g.compile_count == 2, spec


def test_dtype_and_rank_changes_recompile(caplog):
    @fc.jit(dynamic_dims=0)
    def f(x):
        return x + 1

    with caplog.at_level(logging.INFO, logger="flowc.jit"):
        assert f(np.arange(3, dtype=np.int32)).dtype == np.int32
        assert f(np.arange(3, dtype=np.int64)).dtype == np.int64
        assert f(np.ones((2, 2), np.int64)).shape == (2, 2)
    msgs = [r.getMessage() for r in caplog.records if r.name == "flowc.jit"]
    assert msgs[0] == "recompiling f: argument x dtype int32 -> int64"
    assert msgs[1] == "recompiling f: argument x rank 1 -> 2 (shape (3,) -> (2, 2))"
    assert f.compile_count == 3


def test_many_recompiles_warn_once(caplog, monkeypatch):
    monkeypatch.setattr(importlib.import_module("compiler.jit"), "WARN_AFTER", 3)

    @fc.jit
    def f(x):
        return -x

    with caplog.at_level(logging.INFO, logger="flowc.jit"):
        for n in range(1, 6):
            f(np.zeros(n))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "compiled 3 times" in warnings[0].getMessage()


def test_dynamic_dims_are_unified_and_checked_at_the_boundary():
    @fc.jit(dynamic_dims={"x": [0], "y": [0]})
    def f(x, y):
        return x + y

    np.testing.assert_array_equal(f(np.ones((2, 3)), np.ones((2, 3))), np.full((2, 3), 2.0))
    with pytest.raises(FeedError, match="'y'.* 4 at axis 0.*'x'.* 2 at axis 0"):
        f(np.ones((2, 3)), np.ones((4, 3)))
    with pytest.raises(FeedError, match="'y'.* 5 at axis 0"):  # after the fast path was set
        f(np.ones((2, 3)), np.ones((2, 3)))
        f(np.ones((2, 3)), np.ones((5, 3)))
    assert f.compile_count == 1


def test_out_writes_into_given_arrays():
    @fc.jit
    def f(x, y):
        return {"sum": x + y, "pair": (x * y, fc.reduce_sum(x))}

    x, y = f32(4), f32(4, seed=3)
    s, p, r = np.empty(4, np.float32), np.empty(4, np.float32), np.empty((), np.float32)
    got = f(x, y, out={"sum": s, "pair": (p, r)})
    assert got["sum"] is s and got["pair"][0] is p and got["pair"][1] is r
    np.testing.assert_allclose(s, x + y)
    np.testing.assert_allclose(p, x * y)
    np.testing.assert_allclose(r, x.sum(), rtol=1e-6)
    got = f(x, y, out={"sum": None, "pair": (p, None)})  # None entries: fresh arrays
    assert got["pair"][0] is p and got["sum"] is not s

    single = fc.jit(lambda a: a * 3.0)
    o = np.empty(4, np.float32)
    assert single(x, out=o) is o and np.allclose(o, x * 3)
    strided = np.empty(8, np.float32)[::2]  # not contiguous: written through a copy
    single(x, out=strided)
    np.testing.assert_allclose(strided, x * 3)
    with pytest.raises(TypeError, match=r"out must be a dict with keys \['sum', 'pair'\]"):
        f(x, y, out=s)
    with pytest.raises(TypeError, match=r"out\['pair'\] must be a sequence of 2"):
        f(x, y, out={"sum": s, "pair": p})
    with pytest.raises(ValueError, match="must be a float32 array of shape"):
        single(x, out=np.empty(4))


def test_out_that_overlaps_an_input_is_written_through_a_copy():
    @fc.jit
    def rev(x):
        return fc.reverse(x, [0]) * 1.5

    for _ in range(3):  # the first call takes the full path, the later ones the fast one
        x = np.arange(64, dtype=np.float32)
        assert rev(x, out=x) is x
        np.testing.assert_array_equal(x, np.arange(64, dtype=np.float32)[::-1] * 1.5)
    y = np.arange(64, dtype=np.float32)
    o = np.empty(64, np.float32)
    assert rev(y, out=o) is o and rev(y, out=o) is o
    np.testing.assert_array_equal(o, y[::-1] * 1.5)
    with pytest.raises(ValueError, match="read-only"):
        rev(y, out=np.broadcast_to(np.float32(0), (64,)))


def test_bad_calls_raise_type_errors_naming_the_argument():
    @fc.jit
    def f(x, y):
        return x + y

    x = f32(3)
    with pytest.raises(TypeError, match="f\\(\\): missing a required argument: 'y'"):
        f(x)
    with pytest.raises(TypeError, match="too many positional arguments"):
        f(x, x, x)
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        f(x, x, z=x)
    with pytest.raises(TypeError, match="argument 'y' \\(object\\) is not an array of numbers"):
        f(x, object())
    # (uint8 was the unsupported dtype here until issue 14 added every integer dtype)
    with pytest.raises(TypeError, match="argument 'y' \\(ndarray\\) has dtype complex64"):
        f(x, np.ones(3, np.complex64))
    with pytest.raises(TypeError, match="argument 'x' \\(list\\) cannot be converted"):
        f([[1.0], [1.0, 2.0]], x)
    with pytest.raises(TypeError, match="returned None"):
        fc.jit(lambda a: None)(x)
    with pytest.raises(TypeError, match="fc.jit decorates a function"):
        fc.jit(3)
    with pytest.raises(ValueError, match="dynamic_dims names 'z'"):
        fc.jit(f.fn, dynamic_dims={"z": 0})
    with pytest.raises(TypeError, match="dynamic_dims: expected an axis"):
        fc.jit(f.fn, dynamic_dims="x")
    with pytest.raises(ValueError, match="names argument index 2, but the call has 2"):
        fc.jit(f.fn, dynamic_dims={2: 0})(x, x)
    with pytest.raises(ValueError, match="marks axis 2 of argument 'x'"):
        fc.jit(f.fn, dynamic_dims={"x": 2})(x, x)
    with pytest.raises(fc.ShapeError):  # a shape error at trace time, from the user's op
        f(f32(3), f32(4))


def test_lists_and_numpy_scalars_are_arrays_and_variables_are_refused():
    @fc.jit
    def f(x, y):
        return x * y

    got = f([1.0, 2.0], np.float64(3.0))
    assert got.dtype == np.float64 and np.array_equal(got, [3.0, 6.0])

    @fc.jit
    def g(x):
        return x + fc.Variable(np.ones(2, np.float32), name="w")
    with pytest.raises(ValueError, match="uses the variable.*'w'.*Session"):
        g(np.ones(2, np.float32))


def test_call_forms_defaults_varargs_and_keywords():
    @fc.jit
    def f(*xs, scale=1.0, **extra):
        return fc.add_n(list(xs)) * scale + extra["bias"]

    a, b = np.ones(2), np.full(2, 2.0)
    np.testing.assert_array_equal(f(a, b, scale=2.0, bias=a), [7.0, 7.0])
    np.testing.assert_array_equal(f(a, b, bias=b, scale=2.0), [8.0, 8.0])
    assert f.compile_count == 1

    @fc.jit
    def g(x, w=TEN):
        return x + w
    for _ in range(3):  # the fast path fills in the default
        np.testing.assert_array_equal(g(a), [11.0, 11.0])
    np.testing.assert_array_equal(g(a, b), [3.0, 3.0])
    np.testing.assert_array_equal(g(a, w=b), [3.0, 3.0])


def test_fast_path_checks_every_call():
    @fc.jit
    def f(x, y):
        return x - y

    x, y = f32(4), f32(4, seed=4)
    f(x, y)
    f(x, y)
    assert f._fast is not None  # the repeated call took the fast path
    np.testing.assert_allclose(f(y, x), y - x)                   # new data, same shape
    np.testing.assert_allclose(f(x[::-1], y), x[::-1] - y)       # not contiguous
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    np.testing.assert_allclose(f(x64, y64), x64 - y64)           # new dtype
    np.testing.assert_allclose(f(x.tolist(), y64), x64 - y64)    # a list
    unaligned = np.frombuffer(b"\0" + x.tobytes(), np.float32, offset=1)
    np.testing.assert_allclose(f(unaligned, y), x - y)
    out = f(x, y)
    assert out.flags.owndata and out is not f(x, y)  # a fresh array every call


def test_random_ops_draw_a_new_stream_each_call_and_threads_agree():
    @fc.jit
    def noise(x):
        return x + fc.random_uniform([64], seed=1)

    z = np.zeros(64, np.float32)
    a, b = noise(z), noise(z)
    assert not np.array_equal(a, b) and 0 <= a.min() and a.max() < 1

    @fc.jit
    def f(x):
        return x * x

    xs = [f32(256, seed=s) for s in range(8)]
    results = [None] * len(xs)

    def work(i):
        for _ in range(200):
            results[i] = f(xs[i])
    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for x, r in zip(xs, results):
        np.testing.assert_array_equal(r, x * x)


def test_nested_jit_calls_inline_and_lower_dumps_the_users_lines():
    @fc.jit
    def inner(x):
        return fc.exp(x)

    @fc.jit
    def outer(x):
        return inner(x) * 2.0

    x = f32(3)
    np.testing.assert_allclose(outer(x), np.exp(x) * 2, rtol=1e-6)
    assert inner.compile_count == 0
    stages = outer.lower(x)
    assert list(stages)[0] == "graph" and "asm" in stages
    line = inner.fn.__code__.co_firstlineno + 2
    assert re.search(rf"Exp = exp\(x:0\) : .*# test_jit.py:{line}\b", stages["graph"])
    assert "mul 'Mul' (created at test_jit.py:" in stages["kernels"]
    assert list(outer.dump(x, stages=["fusion"])) == ["fusion"]
    assert outer.compile_count == 1


def test_options_select_the_pipeline_and_dump_dir_gets_every_compile(tmp_path):
    f = fc.jit(lambda x: x * 1.0, options=fc.CompileOptions(pipeline="O0"))
    x = f32(3)
    np.testing.assert_array_equal(f(x), x)
    assert "mul" in f.lower(x)["kernels"]
    with pytest.raises(TypeError, match="CompileOptions"):
        fc.jit(lambda x: x, options={"pipeline": "O0"})

    g = fc.jit(lambda x: x + 1.0, options=fc.CompileOptions(dump_dir=str(tmp_path)))
    g(x)
    g(f32(5))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lambda_001", "lambda_002"]
    files = sorted(p.name for p in (tmp_path / "lambda_001").iterdir())
    assert files[0].endswith("_input.txt") and any(f.endswith("_asm.txt") for f in files)
