"""Feeds at the edges. A tensor that is fed and fetched in one run is the fed value (TF1),
on every path: Session.run (llvm and interpreter), make_callable (with out=), a fed
intermediate tensor fetched with values computed from it, a fed variable, fc.compile
where an output is also an argument. Feeds whose dims make an output or a temporary too
large to allocate raise ResourceExhaustedError (a FeedError and a MemoryError) naming
the feed and the byte count, on the Session (both backends), make_callable, a loaded
AOT model and fc.jit, and the failed run changes nothing."""

from __future__ import annotations

import numpy as np
import pytest

import compiler as fc
import runtime
from runtime.errors import FeedError, ResourceExhaustedError


@pytest.fixture(params=["llvm", "interpret"])
def env(request):
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None], name="x")
        v = fc.Variable(np.ones(3, np.float32), name="v")
        y = x * 2
        ns = dict(g=g, x=x, v=v, y=y, z=y + v, inc=fc.assign_add(v, y),
                  init=fc.global_variables_initializer())
    with fc.Session(graph=g, config=fc.ConfigProto(backend=request.param)) as sess:
        sess.run(ns["init"])
        ns["sess"] = sess
        yield ns


A = np.arange(3, dtype=np.float32)


def test_fed_placeholder_is_fetched_alone_and_with_others(env):
    s, x, y = env["sess"], env["x"], env["y"]
    np.testing.assert_array_equal(s.run(x, {x: A}), A)
    out = s.run([x, y], {x: A})
    np.testing.assert_array_equal(out[0], A)
    np.testing.assert_array_equal(out[1], A * 2)


def test_fed_intermediate_tensor_is_fetched(env):
    s, y, z = env["sess"], env["y"], env["z"]
    np.testing.assert_array_equal(s.run(y, {y: A + 5}), A + 5)   # x need not be fed
    got_y, got_z = s.run([y, z], {y: A + 5})
    np.testing.assert_array_equal(got_y, A + 5)
    np.testing.assert_array_equal(got_z, A + 6)


def test_fed_value_wins_over_its_computed_value(env):
    s, x, y, z = env["sess"], env["x"], env["y"], env["z"]
    got = s.run([y, z, x], {x: A, y: A + 10})
    np.testing.assert_array_equal(got[0], A + 10)
    np.testing.assert_array_equal(got[1], A + 11)
    np.testing.assert_array_equal(got[2], A)


def test_fetch_is_a_copy_of_the_feed(env):
    s, y = env["sess"], env["y"]
    feed = A.copy()
    got = s.run(y, {y: feed})
    assert not np.shares_memory(got, feed)


def test_fed_variable_and_assign_from_a_fed_tensor(env):
    s, v, y, inc = env["sess"], env["v"], env["y"], env["inc"]
    np.testing.assert_array_equal(s.run(v, {v: A}), A)
    np.testing.assert_array_equal(s.run(v), np.ones(3))      # feeding does not assign
    _, got_y = s.run([inc, y], {y: A})
    np.testing.assert_array_equal(got_y, A)
    np.testing.assert_array_equal(s.run(v), A + 1)


def test_make_callable_with_a_fetched_feed(env):
    s, y, z = env["sess"], env["y"], env["z"]
    f = s.make_callable([y, z], [y])
    got = f(A)
    np.testing.assert_array_equal(got[0], A)
    np.testing.assert_array_equal(got[1], A + 1)
    out = [np.empty(3, np.float32), np.empty(3, np.float32)]
    f(A + 1, out=out)
    np.testing.assert_array_equal(out[0], A + 1)
    np.testing.assert_array_equal(out[1], A + 2)


def test_aot_model_whose_output_is_an_argument(tmp_path):
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None], name="x")
        y = x * 2
        z = y + 1
    fc.compile([y, z, x], [x, y], str(tmp_path / "m"), name="m")
    got = runtime.load(str(tmp_path / "m"))(A, A + 10)
    np.testing.assert_array_equal(got[0], A + 10)
    np.testing.assert_array_equal(got[1], A + 11)
    np.testing.assert_array_equal(got[2], A)


# ---- buffers too large to allocate ------------------------------------------------------
# Sizes beyond any address space (> 2**57 bytes) but within int64, from a small feed, so
# the allocation fails at once on any machine and overcommit setting.
BIG = 2**14     # broadcast to [BIG]*4 float32: 2**58 bytes
HUGE = 2**19    # [HUGE**3, 1] float32 matmul temporary: 2**59 bytes


def _too_big_graph():
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None], name="x")
        n = x.shape[0]
        out = fc.broadcast_to(x, [n, n, n, n]) + 1.0                 # an output
        cube = fc.reshape(fc.broadcast_to(x, [n, n, n]) + 1.0, [-1, 1])
        temp = fc.reduce_sum(fc.matmul(cube, fc.ones([1, 1])))       # a temporary
        v = fc.Variable(np.ones(2, np.float32), name="v")
        step = fc.assign_add(v, [1.0, 1.0])
        init = fc.global_variables_initializer()
    return g, x, out, temp, v, step, init


def _exhausted(call, nbytes, feed="x"):
    with pytest.raises(ResourceExhaustedError) as info:
        call()
    message = str(info.value)
    assert f"{nbytes} bytes" in message and f"'{feed}" in message, message
    assert isinstance(info.value, FeedError) and isinstance(info.value, MemoryError)


@pytest.mark.parametrize("backend", ["llvm", "interpret"])
def test_buffers_too_large_name_the_feed_and_change_nothing(backend):
    g, x, out, temp, v, step, init = _too_big_graph()
    with fc.Session(graph=g, config=fc.ConfigProto(backend=backend)) as s:
        s.run(init)
        _exhausted(lambda: s.run(out, {x: np.zeros(BIG, np.float32)}), 2**58)
        _exhausted(lambda: s.run([temp, step], {x: np.zeros(HUGE, np.float32)}), 2**59)
        np.testing.assert_array_equal(s.run(v), [1, 1])         # the failed step changed nothing
        _exhausted(lambda: s.make_callable(out, [x])(np.zeros(BIG, np.float32)), 2**58)
        assert s.run(out, {x: np.ones(2, np.float32)}).shape == (2, 2, 2, 2)
        assert s.run(temp, {x: np.ones(2, np.float32)}) == 16


def test_aot_model_and_jit_outputs_too_large(tmp_path):
    g, x, out, *_ = _too_big_graph()
    fc.compile([out], [x], str(tmp_path / "m"), name="m")
    model = runtime.load(str(tmp_path / "m"))
    _exhausted(lambda: model(np.zeros(BIG, np.float32)), 2**58)
    assert model(np.ones(3, np.float32)).shape == (3, 3, 3, 3)

    @fc.jit
    def grow(a):
        n = a.shape[0]
        return fc.broadcast_to(a, [n, n, n, n]) + 1.0
    _exhausted(lambda: grow(np.zeros(BIG, np.float32)), 2**58, feed="a")
    assert grow(np.ones(2, np.float32)).shape == (2, 2, 2, 2)
