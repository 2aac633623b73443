"""Random ops: TF1 seed semantics, ranges and rough statistics."""

import numpy as np
import pytest

import compiler as fc
from compiler.frontend.random_ops import DEFAULT_GRAPH_SEED

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

N = 20000


def _seeds(t):
    """(graph seed, op seed) of the random primitive that `t` is computed from."""
    todo = [t.op]
    while todo:
        op = todo.pop()
        if op.type.startswith("random_"):
            return op.attrs["seed"], op.attrs["op_seed"]
        todo.extend(i.op for i in op.inputs)
    raise AssertionError(f"{t} has no random input")


def _build_and_run(interp, seed=None, graph_seed=None):
    g = fc.Graph()
    with g.as_default():
        if graph_seed is not None:
            fc.set_random_seed(graph_seed)
        r = fc.random_normal([8], seed=seed)
    return interp(r, graph=g), _seeds(r)


def test_seed_rules(interp):
    a, sa = _build_and_run(interp, graph_seed=5)
    b, sb = _build_and_run(interp, graph_seed=5)
    np.testing.assert_array_equal(a, b)
    assert sa == (5, 1)
    c, sc = _build_and_run(interp, seed=7)
    d, _ = _build_and_run(interp, seed=7)
    np.testing.assert_array_equal(c, d)
    assert sc == (DEFAULT_GRAPH_SEED, 7)
    e, se = _build_and_run(interp)
    f, sf = _build_and_run(interp)
    assert se != sf and not np.array_equal(e, f)


def test_op_seeds_advance_and_runs_differ(interp):
    fc.set_random_seed(3)
    r1 = fc.random_uniform([5])
    r2 = fc.random_uniform([5])
    assert _seeds(r1) != _seeds(r2)
    with fc.Session(config=fc.ConfigProto(backend="interpret")) as sess:
        a1, a2 = sess.run([r1, r2])
        b1 = sess.run(r1)
    assert not np.array_equal(a1, a2)
    assert not np.array_equal(a1, b1)  # fresh numbers every run


def test_random_uniform_ranges(interp):
    fc.set_random_seed(11)
    outs = interp([fc.random_uniform([N]), fc.random_uniform([N], -2.0, 3.0, fc.float64),
                   fc.random_uniform([N], 5, 9, dtype=fc.int32),
                   fc.random_uniform([N], minval=fc.constant(1.0), maxval=2.0)])
    u, w, i, t = outs
    assert u.dtype == np.float32 and w.dtype == np.float64 and i.dtype == np.int32
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.02
    assert -2 <= w.min() and w.max() < 3 and abs(w.mean() - 0.5) < 0.1
    assert set(np.unique(i)) == {5, 6, 7, 8}
    assert 1 <= t.min() and t.max() < 2
    with pytest.raises(ValueError, match="maxval"):
        fc.random_uniform([3], dtype=fc.int32)
    with pytest.raises(ValueError, match="minval < maxval"):
        fc.random_uniform([3], 4, 4, dtype=fc.int64)


def test_random_normal_statistics(interp):
    fc.set_random_seed(12)
    r = interp(fc.random_normal([N], mean=3.0, stddev=2.0))
    assert abs(r.mean() - 3.0) < 0.1 and abs(r.std() - 2.0) < 0.1
    with pytest.raises(TypeError, match="float"):
        fc.random_normal([3], dtype=fc.int32)


def test_truncated_normal(interp):
    fc.set_random_seed(13)
    r = interp(fc.truncated_normal([N], mean=1.0, stddev=0.5, name="tn"))
    assert r.min() >= 0.0 and r.max() <= 2.0
    # the standard normal truncated to [-2, 2] has std 0.8796
    assert abs(r.mean() - 1.0) < 0.02 and abs(r.std() - 0.5 * 0.8796) < 0.02
    assert len(np.unique(r)) > N * 0.99
    ops = [o for o in fc.get_default_graph().get_operations() if o.type == "random_normal"]
    assert len({o.attrs["op_seed"] for o in ops}) == len(ops) > 1


def test_symbolic_random_shapes(interp):
    x = fc.placeholder(fc.float32, [None, 3])
    r = fc.random_uniform(fc.shape(x))
    s = fc.random_normal([x.shape[0], 2], seed=1)
    for n in (2, 5):
        a, b = interp([r, s], {x: np.zeros((n, 3), np.float32)})
        assert a.shape == (n, 3) and b.shape == (n, 2)


def test_random_namespace():
    assert fc.random.normal is fc.random_normal
    assert fc.random.truncated_normal is fc.truncated_normal
    fc.random.set_random_seed(4)
    assert fc.get_default_graph().seed == 4
