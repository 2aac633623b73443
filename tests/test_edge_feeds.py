"""A tensor that is fed and fetched in one run is the fed value (TF1), on every path:
Session.run (llvm and interpreter), make_callable (with out=), a fed intermediate tensor
fetched with values computed from it, a fed variable, fc.compile where an output is
also an argument."""

from __future__ import annotations

import numpy as np
import pytest

import compiler as fc
import runtime


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
