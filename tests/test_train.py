"""fc.train: optimizers against numpy implementations of TF1's update rules (interpreter
and compiled backends), slots, the global step, and Saver checkpoints."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import compiler as fc

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

BACKENDS = ["interpret", "llvm"]
STEPS = 5


def _session(backend):
    return fc.Session(config=fc.ConfigProto(backend=backend))


# numpy references of TF1's kernels (ApplyGradientDescent, ApplyMomentum, ApplyAdam) ------
def ref_sgd(lr):
    def step(w, g, state, t):
        return w - lr * g
    return step


def ref_momentum(lr, mom, nesterov):
    def step(w, g, state, t):
        a = state.get("a", np.zeros_like(w)) * mom + g
        state["a"] = a
        return w - (g * lr + a * mom * lr) if nesterov else w - a * lr
    return step


def ref_adam(lr, b1, b2, eps):
    def step(w, g, state, t):
        lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m = state.get("m", np.zeros_like(w))
        v = state.get("v", np.zeros_like(w))
        state["m"] = m = m + (g - m) * (1 - b1)
        state["v"] = v = v + (g * g - v) * (1 - b2)
        return w - lr_t * m / (np.sqrt(v) + eps)
    return step


OPTIMIZERS = {
    "sgd": (lambda: fc.train.GradientDescentOptimizer(0.1), ref_sgd(0.1)),
    "momentum": (lambda: fc.train.MomentumOptimizer(0.05, 0.9),
                 ref_momentum(0.05, 0.9, False)),
    "nesterov": (lambda: fc.train.MomentumOptimizer(0.05, 0.9, use_nesterov=True),
                 ref_momentum(0.05, 0.9, True)),
    "adam": (lambda: fc.train.AdamOptimizer(0.1), ref_adam(0.1, 0.9, 0.999, 1e-8)),
    "adam-params": (lambda: fc.train.AdamOptimizer(0.02, beta1=0.8, beta2=0.99, epsilon=1e-3),
                    ref_adam(0.02, 0.8, 0.99, 1e-3)),
}


def _quadratic(dtype):
    """Two variables and hand-built gradients of sum((w - t)^2) + sum((b - u)^2)."""
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((3, 2)).astype(dtype)
    b0 = rng.standard_normal(2).astype(dtype)
    t = rng.standard_normal((3, 2)).astype(dtype)
    u = rng.standard_normal(2).astype(dtype)
    w = fc.Variable(w0, name="w")
    b = fc.Variable(b0, name="b")
    grads = [(2.0 * (w - fc.constant(t)), w), (2.0 * (b - fc.constant(u)), b)]
    return (w, b), (w0, b0), (t, u), grads


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("which", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_optimizer_matches_tf1_rule(which, backend, dtype):
    make, ref = OPTIMIZERS[which]
    (w, b), values, targets, grads = _quadratic(dtype)
    step = fc.train.get_or_create_global_step()
    train_op = make().apply_gradients(grads, global_step=step)
    states = [{}, {}]
    expect = list(values)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    with _session(backend) as sess:
        sess.run(fc.global_variables_initializer())
        for t in range(1, STEPS + 1):
            assert sess.run(train_op) is None
            expect = [ref(x, 2 * (x - tg), st, t) for x, tg, st in zip(expect, targets, states)]
            got = sess.run([w, b])
            for g, e in zip(got, expect):
                assert g.dtype == dtype
                np.testing.assert_allclose(g, e, rtol=rtol, atol=rtol)
            assert sess.run(step) == t
        assert sess.compile_count == 4  # init, the train step, [w, b], the step


@pytest.mark.parametrize("backend", BACKENDS)
def test_learning_rate_tensor_and_float32_hyper_on_float64(backend):
    w = fc.Variable(np.array([1.0, -2.0]), name="w")  # float64
    lr = fc.placeholder(fc.float32, [], name="lr")
    mom = fc.constant(0.5, fc.float32)
    train_op = fc.train.MomentumOptimizer(lr, mom).apply_gradients([(2.0 * w, w)])
    ref = np.array([1.0, -2.0])
    accum = np.zeros(2)
    with _session(backend) as sess:
        sess.run(fc.global_variables_initializer())
        for rate in (0.1, 0.05, 0.2):
            sess.run(train_op, {lr: rate})
            r = np.float64(np.float32(rate))
            accum = accum * 0.5 + 2.0 * ref
            ref = ref - accum * r
            np.testing.assert_allclose(sess.run(w), ref, rtol=1e-12)


def test_slots_named_initialized_and_global():
    w = fc.Variable(np.ones((2, 2), np.float32), name="w")
    with fc.variable_scope("layer"):
        b = fc.get_variable("b", [2], initializer=fc.zeros_initializer())
    grads = [(fc.ones_like(w.value()), w), (fc.ones_like(b.value()), b)]
    mom = fc.train.MomentumOptimizer(0.1, 0.9)
    mom.apply_gradients(grads)
    adam = fc.train.AdamOptimizer()
    assert adam.apply_gradients(grads).name == "Adam"
    assert adam.apply_gradients(grads, name="step").name == "step"
    names = [v.op.name for v in fc.global_variables()]
    for name in ("w/Momentum", "layer/b/Momentum", "w/Adam", "w/Adam_1", "layer/b/Adam",
                 "layer/b/Adam_1", "beta1_power", "beta2_power"):
        assert name in names, name
    assert mom.get_slot(w, "momentum").op.name == "w/Momentum"
    assert adam.get_slot(b, "m").op.name == "layer/b/Adam"
    assert adam.get_slot(b, "v").op.name == "layer/b/Adam_1"
    assert adam.get_slot_names() == ["m", "v"]
    assert {v.op.name for v in fc.trainable_variables()} == {"w", "layer/b"}
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        assert np.all(sess.run(adam.get_slot(w, "v")) == 0)
        assert sess.run(mom.get_slot(b, "momentum")).shape == (2,)
        b1, b2 = sess.run(["beta1_power:0", "beta2_power:0"])
        assert b1 == np.float32(0.9) and b2 == np.float32(0.999)


def test_slots_created_once_per_variable():
    w = fc.Variable(np.ones(2, np.float32), name="w")
    opt = fc.train.AdamOptimizer()
    opt.apply_gradients([(w * 1.0, w)])
    opt.apply_gradients([(w * 2.0, w)])
    assert len(opt.variables()) == 4


def test_global_step_helpers():
    assert fc.train.get_global_step() is None
    step = fc.train.get_or_create_global_step()
    assert step.op.name == "global_step" and step.dtype == fc.int64
    assert fc.train.get_or_create_global_step() is step
    assert fc.train.get_global_step() is step
    assert step in fc.global_variables() and step not in fc.trainable_variables()
    with pytest.raises(ValueError, match="global_step"):
        fc.train.create_global_step()
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        assert sess.run(step) == 0


def test_global_step_increments_after_the_updates():
    w = fc.Variable(np.float32(1.0), name="w")
    step = fc.train.get_or_create_global_step()
    op = fc.train.GradientDescentOptimizer(0.5).apply_gradients([(w * 2.0, w)],
                                                                 global_step=step)
    assert op.type == "assign_add" and op.name == "GradientDescent"  # TF1's names
    assert [c.name for c in op.control_inputs] == ["GradientDescent/update"]
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        for _ in range(3):
            sess.run(op)
        assert sess.run(step) == 3
        assert sess.run(w) == np.float32(0.0)


def test_none_gradients_are_skipped_and_all_none_is_an_error():
    w = fc.Variable(np.float32(1.0), name="w")
    v = fc.Variable(np.float32(5.0), name="v")
    op = fc.train.GradientDescentOptimizer(1.0).apply_gradients([(None, v), (w * 1.0, w)])
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        sess.run(op)
        assert sess.run([w, v]) == [0.0, 5.0]
    with pytest.raises(ValueError, match=r"No gradients provided.*w:0.*v:0"):
        fc.train.AdamOptimizer().apply_gradients([(None, w), (None, v)])
    with pytest.raises(ValueError, match="shape"):
        fc.train.GradientDescentOptimizer(1.0).apply_gradients([(fc.ones([2]), w)])


# Saver ------------------------------------------------------------------------------------
def _saver_graph():
    with fc.variable_scope("layer"):
        w = fc.get_variable("w", [2, 3], initializer=fc.random_normal_initializer(seed=1))
    n = fc.Variable(np.arange(4, dtype=np.int32), name="n")
    return w, n


def test_saver_round_trip_with_run_counter(tmp_path):
    w, n = _saver_graph()
    saver = fc.train.Saver(format="npz")  # V2 (the default): tests/test_checkpoint_v2.py
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        saved = sess.run([w, n])
        counter = sess._run_counter
        path = saver.save(sess, str(tmp_path / "model"))
        assert path == str(tmp_path / "model.npz") and os.path.exists(path)
        sess.run([w.assign(np.zeros((2, 3), np.float32)), n.assign_add(np.ones(4, np.int32))])
        saver.restore(sess, path)
        assert sess._run_counter == counter
        got = sess.run([w, n])
    np.testing.assert_array_equal(got[0], saved[0])
    np.testing.assert_array_equal(got[1], saved[1])
    with np.load(path, allow_pickle=False) as data:
        assert sorted(data.files) == sorted(["layer/w", "n", fc.train.saver.RUN_COUNTER_KEY])


def test_saver_restores_into_a_fresh_session_and_global_step_path(tmp_path):
    w, n = _saver_graph()
    step = fc.train.get_or_create_global_step()
    saver = fc.train.Saver([w, step], format="npz")
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        sess.run(step.assign_add(7))
        path = saver.save(sess, str(tmp_path / "ckpt"), global_step=step)
        saved = sess.run(w)
    assert path.endswith("ckpt-7.npz")
    assert fc.train.latest_checkpoint(str(tmp_path)) == path
    with fc.Session() as sess:  # nothing initialized: restore is the initialization
        saver.restore(sess, path)
        np.testing.assert_array_equal(sess.run(w), saved)
        assert sess.run(step) == 7


def test_saver_mismatch_names_the_variable_and_changes_nothing(tmp_path):
    with fc.Graph().as_default():
        fc.Variable(np.zeros((2, 3), np.float32), name="layer/w")
        fc.Variable(np.zeros(5, np.int32), name="n")  # wrong shape
        with fc.Session() as sess:
            sess.run(fc.global_variables_initializer())
            bad_shape = fc.train.Saver().save(sess, str(tmp_path / "bad_shape"))
    with fc.Graph().as_default():
        fc.Variable(np.zeros((2, 3), np.float64), name="layer/w")  # wrong dtype
        with fc.Session() as sess:
            sess.run(fc.global_variables_initializer())
            missing = fc.train.Saver().save(sess, str(tmp_path / "missing"))
    w, n = _saver_graph()
    saver = fc.train.Saver()
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        before, counter = sess.run([w, n]), sess._run_counter
        with pytest.raises(ValueError, match=r"'n:0'.*int32\[5\].*int32\[4\]"):
            saver.restore(sess, bad_shape)
        with pytest.raises(ValueError, match=r"(?s)'layer/w:0'.*float64.*'n:0'.*not in"):
            saver.restore(sess, missing)
        with pytest.raises(ValueError, match="not found"):
            saver.restore(sess, str(tmp_path / "nothing"))
        assert sess._run_counter == counter
        after = sess.run([w, n])
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])


def test_saver_rejects_pickled_arrays(tmp_path):
    w, n = _saver_graph()
    path = str(tmp_path / "evil.npz")
    np.savez(path, **{"layer/w": np.array([object()], dtype=object)})
    with fc.Session() as sess:
        with pytest.raises(ValueError, match="object arrays are refused"):
            fc.train.Saver().restore(sess, path)


_FRESH = textwrap.dedent("""
    import json, sys
    import numpy as np
    import compiler as fc
    with fc.variable_scope("layer"):
        w = fc.get_variable("w", [2, 3], initializer=fc.random_normal_initializer(seed=1))
    n = fc.Variable(np.arange(4, dtype=np.int32), name="n")
    with fc.Session() as sess:
        fc.train.Saver().restore(sess, sys.argv[1])
        counter = sess._run_counter
        print(json.dumps({"w": sess.run(w).tolist(), "n": sess.run(n).tolist(),
                          "counter": counter}))
""")


def test_saver_restores_in_a_fresh_process(tmp_path):
    w, n = _saver_graph()
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        sess.run([w.assign(w * 3.0), n.assign(n * 2)])
        path = fc.train.Saver().save(sess, str(tmp_path / "model"))
        counter = sess._run_counter
        saved = sess.run([w, n])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", _FRESH, path], cwd=root, check=True,
                         capture_output=True, text=True, timeout=120)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    np.testing.assert_array_equal(np.array(got["w"], np.float32), saved[0])
    assert got["n"] == saved[1].tolist() and got["counter"] == counter


@pytest.mark.parametrize("backend", BACKENDS)
def test_adam_mixed_dtypes_and_callable_learning_rate(backend):
    a = fc.Variable(np.array([1.0, 2.0], np.float32), name="a")  # first by name: float32
    z = fc.Variable(np.array([3.0]), name="z")  # float64
    opt = fc.train.AdamOptimizer(lambda: 0.1)
    train_op = opt.apply_gradients([(2.0 * a, a), (2.0 * z, z)])
    assert opt._non_slots["beta1_power"].dtype == fc.float32
    ref = ref_adam(0.1, 0.9, 0.999, 1e-8)
    expect, states = [np.array([1.0, 2.0]), np.array([3.0])], [{}, {}]
    with _session(backend) as sess:
        sess.run(fc.global_variables_initializer())
        for t in range(1, 4):
            sess.run(train_op)
            expect = [ref(x, 2 * x, st, t) for x, st in zip(expect, states)]
        got_a, got_z = sess.run([a, z])
    assert got_z.dtype == np.float64
    np.testing.assert_allclose(got_a, expect[0], rtol=1e-5)
    np.testing.assert_allclose(got_z, expect[1], rtol=1e-5)  # float32 beta powers (as TF1)


def test_saver_dict_var_list_ignores_other_keys(tmp_path):
    w, n = _saver_graph()
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        assert fc.train.Saver(format="npz").save(sess, str(tmp_path / "all")).endswith(
            "all.npz")
        saved_n = sess.run(n)
    other = fc.Variable(np.zeros(4, np.int32), name="other")
    saver = fc.train.Saver({"n": other})
    with fc.Session() as sess:
        saver.restore(sess, str(tmp_path / "all"))  # ".npz" may be left out
        np.testing.assert_array_equal(sess.run(other), saved_n)
    with fc.Graph().as_default(), fc.Session() as sess:
        with pytest.raises(ValueError, match="'other:0' is not in the session's graph"):
            saver.save(sess, str(tmp_path / "x"))
    with pytest.raises(ValueError, match="reserved"):
        fc.train.Saver({fc.train.saver.RUN_COUNTER_KEY: other})


# ---- in-place updates ---------------------------------------------------------------------
def _sgd_graph(fetch_weight_too=False):
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 3])
        w = fc.Variable(np.arange(6, dtype=np.float32).reshape(3, 2) / 10, name="w")
        loss = fc.reduce_sum(fc.square(fc.matmul(x, w)))
        train = fc.train.GradientDescentOptimizer(0.1).minimize(loss)
    return g, x, w, loss, train


def test_sgd_step_updates_the_variable_array_in_place():
    from compiler.backends.llvm.target import cpu_schedule
    from compiler.convert import convert
    from compiler.lower import lower_program
    from passes.fusion import plan_kernels
    from passes.manager import run_pipeline
    g, x, w, loss, train = _sgd_graph()
    program = convert(g, [loss], [x], targets=[train])
    program, _ = run_pipeline(program, fc.CompileOptions())
    lowered = lower_program(program, plan_kernels(program), cpu_schedule("host"))
    kinds = {b.name: b.kind for b in lowered.buffers}
    assert [kinds[b] for b in lowered.updates.values()] == ["variable"]
    xv = np.ones((4, 3), np.float32)
    with fc.Session(graph=g) as sess:
        sess.run(fc.variables_initializer([w]))
        before = sess._store.get("w")
        w0 = before.copy()
        _, lv = sess.run([train, loss], {x: xv})
        after = sess._store.get("w")
        assert after is before  # the same array, updated in place
        grad = 2 * xv.T @ (xv @ w0)
        np.testing.assert_allclose(after, w0 - 0.1 * grad, rtol=1e-6)
        np.testing.assert_allclose(lv, np.sum((xv @ w0) ** 2), rtol=1e-6)


def test_fetching_the_variable_with_its_update_sees_the_old_value():
    g, x, w, loss, train = _sgd_graph()
    xv = np.ones((2, 3), np.float32)
    with fc.Session(graph=g) as sess:
        sess.run(fc.variables_initializer([w]))
        w0 = sess.run(w)
        got, _ = sess.run([w, train], {x: xv})
        np.testing.assert_array_equal(got, w0)
        assert not np.array_equal(sess.run(w), w0)


def test_a_read_after_the_update_in_call_order_keeps_the_update_out_of_place():
    # v's update is computed before `late` reads v; `late` must still see the old value
    g = fc.Graph()
    with g.as_default():
        v = fc.Variable(np.ones(4, np.float32), name="v")
        upd = fc.assign_add(v, fc.constant(np.full(4, 2.0, np.float32)))
        late = fc.reduce_sum(v * 3.0)
    with fc.Session(graph=g) as sess:
        sess.run(fc.variables_initializer([v]))
        total, new = sess.run([late, upd])
        assert total == 12.0
        np.testing.assert_array_equal(new, np.full(4, 3.0, np.float32))
        np.testing.assert_array_equal(sess.run(v), np.full(4, 3.0, np.float32))
