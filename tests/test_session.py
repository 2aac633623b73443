"""Session semantics on the compiled path, each checked against the interpreter backend:
one compile per signature across batch sizes, fetch structures, feeding any tensor,
variables across runs, state within one run, control dependencies, unknown rank."""

from __future__ import annotations

import collections

import numpy as np
import pytest

import compiler as fc
from compiler.frontend.core import make

BACKENDS = ["llvm", "interpret"]


def _session(backend):
    return fc.Session(config=fc.ConfigProto(backend=backend))


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_compile_serves_every_batch_size(backend):
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None, 3], name="x")
        w = fc.Variable(np.arange(6, dtype=np.float32).reshape(3, 2), name="w")
        b = fc.Variable(np.array([0.5, -1.0], np.float32), name="b")
        y = make("tanh", [fc.add(fc.matmul(x, w), b)])
        with _session(backend) as sess:
            sess.run(fc.global_variables_initializer())
            assert sess.compile_count == 1
            for n in (1, 7, 1000, 0):
                xv = np.random.default_rng(n).standard_normal((n, 3)).astype(np.float32)
                got = sess.run(y, {x: xv})
                want = np.tanh(xv @ np.arange(6).reshape(3, 2) + [0.5, -1.0])
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
                assert got.shape == (n, 2)
            assert sess.compile_count == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_fetch_structures_and_names(backend):
    Pair = collections.namedtuple("Pair", "a b")
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [2], name="x")
        y = fc.add(x, 1.0, name="y")
        with _session(backend) as sess:
            out = sess.run({"p": Pair(y, [x, "y:0"]), "op": y.op}, {"x:0": [1.0, 2.0]})
            assert out["op"] is None
            np.testing.assert_array_equal(out["p"].a, [2.0, 3.0])
            np.testing.assert_array_equal(out["p"].b[0], [1.0, 2.0])
            np.testing.assert_array_equal(out["p"].b[1], [2.0, 3.0])
            single = sess.run((y,), {x: [0.0, 0.0]})
            assert isinstance(single, tuple) and len(single) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_feed_conversion_like_tf1(backend):
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None], name="x")
        i = fc.placeholder(fc.int32, [], name="i")
        y = fc.add(x, 1.0)
        j = fc.add(i, 2)
        with _session(backend) as sess:
            got, k = sess.run([y, j], {x: [1, 2, 3], i: 5})
            assert got.dtype == np.float32 and k.dtype == np.int32 and k == 7
            np.testing.assert_array_equal(got, [2, 3, 4])
            got = sess.run(y, {x: np.array([1.5], np.float64)})
            assert got.dtype == np.float32


@pytest.mark.parametrize("backend", BACKENDS)
def test_feeding_an_intermediate_tensor_skips_its_producer(backend):
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None], name="x")
        h = fc.add(x, 1.0)
        y = fc.multiply(h, 2.0)
        with _session(backend) as sess:
            np.testing.assert_array_equal(sess.run(y, {h: np.array([3.0], np.float32)}), [6.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_variables_persist_and_assign_returns_the_new_value(backend):
    with fc.Graph().as_default():
        v = fc.Variable(np.float32(1.0), name="v")
        inc = v.assign_add(2.0)
        with _session(backend) as sess:
            sess.run(fc.global_variables_initializer())
            assert sess.run(inc) == 3.0
            assert sess.run(inc) == 5.0
            assert sess.run(v) == 5.0
            out = sess.run(v)
            out += 100  # fetched arrays are the caller's; the variable is unchanged
            assert sess.run(v) == 5.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_reads_in_a_run_see_values_from_before_its_assigns(backend):
    with fc.Graph().as_default():
        v = fc.Variable(np.float32(1.0), name="v")
        upd = v.assign(fc.add(v, 10.0))
        with _session(backend) as sess:
            sess.run(fc.global_variables_initializer())
            old, new = sess.run([v, upd])
            assert old == 1.0 and new == 11.0
            assert sess.run(v) == 11.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_control_dependency_orders_a_read_after_an_assign(backend):
    with fc.Graph().as_default():
        v = fc.Variable(np.float32(1.0), name="v")
        upd = v.assign_add(1.0)
        with fc.get_default_graph().control_dependencies([upd]):
            after = fc.identity(v)
            doubled = fc.add(v, v)
        first = v.assign(5.0)
        with fc.get_default_graph().control_dependencies([first]):
            second = v.assign_add(1.0)
        with _session(backend) as sess:
            sess.run(fc.global_variables_initializer())
            assert sess.run(after) == 2.0
            assert sess.run(doubled) == 6.0
            assert sess.run(second) == 6.0 and sess.run(v) == 6.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_unknown_rank_placeholder_compiles_once_per_rank(backend):
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, None, name="x")
        y = fc.add(x, 1.0)
        with _session(backend) as sess:
            assert sess.run(y, {x: np.ones((2, 3))}).shape == (2, 3)
            assert sess.run(y, {x: np.ones((5, 1))}).shape == (5, 1)
            assert sess.run(y, {x: np.ones(4)}).shape == (4,)
            assert sess.compile_count == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_random_draws_change_per_run_and_match_across_backends(backend):
    with fc.Graph().as_default():
        r = make("random_uniform", [], shape=(4,), dtype=fc.float32, seed=1, op_seed=2)
        with _session(backend) as sess:
            a, b = sess.run(r), sess.run(r)
            assert not np.array_equal(a, b)
            assert np.all((a >= 0) & (a < 1))
    with fc.Graph().as_default():
        r = make("random_uniform", [], shape=(4,), dtype=fc.float32, seed=1, op_seed=2)
        with _session("interpret" if backend == "llvm" else "llvm") as sess:
            np.testing.assert_array_equal(sess.run(r), a)


def test_closed_session_refuses_to_run():
    with fc.Graph().as_default():
        x = fc.constant(1.0)
        sess = fc.Session()
        sess.close()
        with pytest.raises(RuntimeError, match="closed"):
            sess.run(x)


def test_misaligned_and_strided_feeds_are_copied_not_crashed():
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None], name="x")
        y = fc.add(x, 1.0)
        raw = np.zeros(4 * 1000 + 1, np.uint8)
        misaligned = raw[1:].view(np.float32)
        misaligned[:] = np.arange(1000)
        assert not misaligned.flags.aligned
        strided = np.arange(20, dtype=np.float32)[::2]
        with fc.Session() as sess:
            np.testing.assert_array_equal(sess.run(y, {x: misaligned}), np.arange(1000) + 1)
            np.testing.assert_array_equal(sess.run(y, {x: strided}), strided + 1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_symbolic_dims_in_attributes_follow_the_right_placeholder(backend):
    with fc.Graph().as_default():
        fc.placeholder(fc.float32, [None], name="c")
        a = fc.placeholder(fc.float32, [None], name="a")
        b = fc.placeholder(fc.float32, [None], name="b")
        d = fc.placeholder_with_default(np.zeros((3, 4), np.float32), [None, 4])
        e = fc.placeholder(fc.float32, [None, 2], name="e")
        with _session(backend) as sess:
            got = sess.run(a[1:], {a: np.arange(5.0), b: np.arange(3.0)})
            np.testing.assert_array_equal(got, [1, 2, 3, 4])
            assert sess.run(d[1:]).shape == (2, 4)
            assert sess.run(d[1:], {d: np.ones((6, 4))}).shape == (5, 4)
            assert sess.run(e[:-1], {e: np.ones((4, 2))}).shape == (3, 2)


def test_concurrent_runs_of_one_program_do_not_interfere():
    import threading
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None], name="x")
        y = fc.multiply(fc.add(x, 1.0), 2.0)
        errors = []
        with fc.Session() as sess:
            sess.run(y, {x: np.zeros(1)})

            def work(k):
                for n in range(30):
                    xv = np.full(1000 + k * 37 + n, k, np.float32)
                    got = sess.run(y, {x: xv})
                    if not np.array_equal(got, (xv + 1) * 2):
                        errors.append((k, n))
            threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert not errors


@pytest.mark.parametrize("backend", ["llvm"])
def test_make_callable_with_out_writes_in_place(backend):
    with fc.Graph().as_default():
        x = fc.placeholder(fc.float32, [None], name="x")
        y = fc.tanh(x) * 2.0
        z = x + 1.0
        with _session(backend) as sess:
            f = sess.make_callable([y, z], feed_list=[x])
            xv = np.linspace(-2, 2, 9).astype(np.float32)
            oy, oz = np.empty(9, np.float32), np.empty(9, np.float32)
            ry, rz = f(xv, out=[oy, oz])
            assert ry is oy and rz is oz
            np.testing.assert_allclose(oy, np.tanh(xv) * 2, rtol=1e-6)
            np.testing.assert_allclose(oz, xv + 1)
            g = sess.make_callable(y, feed_list=[x])
            np.testing.assert_allclose(g(xv), np.tanh(xv) * 2, rtol=1e-6)
            assert sess.compile_count == 2
            with pytest.raises(ValueError, match="float32 array of shape \\[9\\]"):
                f(xv, out=[np.empty(8, np.float32), oz])
            strided = np.empty(18, np.float32)[::2]
            f(xv, out=[strided, oz])  # not contiguous: computed, then copied in
            np.testing.assert_allclose(strided, np.tanh(xv) * 2, rtol=1e-6)
            with pytest.raises(TypeError, match="takes 1 feed"):
                f()


def test_arena_shares_memory_between_temporaries_with_disjoint_lifetimes():
    from runtime.cpu_executable import plan_arena
    offsets, total = plan_arena({0: 100, 1: 100, 2: 100}, {0: (0, 1), 1: (1, 2), 2: (2, 3)})
    assert offsets[0] != offsets[1] and offsets[1] != offsets[2]
    assert offsets[0] == offsets[2] and total == 256
