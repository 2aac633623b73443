"""fc.train.RMSProp/Adagrad/Adadelta/FtrlOptimizer against numpy implementations of TF1's
training kernels (ApplyRMSProp, ApplyCenteredRMSProp, ApplyAdagrad, ApplyAdadelta,
ApplyFtrl/V2) on both backends, their slots, and a small regression trained by each."""

import numpy as np
import pytest

import compiler as fc

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

BACKENDS = ["interpret", "llvm"]
STEPS = 4


# numpy references, written from TF1's documented kernel formulas ------------------------
def ref_rmsprop(lr, rho, momentum, eps, centered):
    def step(w, g, s):
        ms = s.get("ms", np.ones_like(w))
        mg = s.get("mg", np.zeros_like(w))
        mom = s.get("mom", np.zeros_like(w))
        ms = ms + (g * g - ms) * (1 - rho)
        if centered:
            mg = mg + (g - mg) * (1 - rho)
            denom = ms - mg * mg + eps
        else:
            denom = ms + eps
        mom = mom * momentum + g * lr / np.sqrt(denom)
        s.update(ms=ms, mg=mg, mom=mom)
        return w - mom
    return step


def ref_adagrad(lr, init):
    def step(w, g, s):
        acc = s.get("acc", np.full_like(w, init)) + g * g
        s["acc"] = acc
        return w - g * lr / np.sqrt(acc)
    return step


def ref_adadelta(lr, rho, eps):
    def step(w, g, s):
        acc = s.get("acc", np.zeros_like(w))
        upd = s.get("upd", np.zeros_like(w))
        acc = acc * rho + g * g * (1 - rho)
        update = np.sqrt(upd + eps) / np.sqrt(acc + eps) * g
        upd = upd * rho + update * update * (1 - rho)
        s.update(acc=acc, upd=upd)
        return w - update * lr
    return step


def ref_ftrl(lr, lr_power, init, l1, l2, shrink=0.0):
    def step(w, g, s):
        acc = s.get("acc", np.full_like(w, init))
        lin = s.get("lin", np.zeros_like(w))
        g_shrunk = g + 2 * shrink * w
        new_acc = acc + g * g
        lin = lin + g_shrunk - (new_acc ** -lr_power - acc ** -lr_power) / lr * w
        quad = new_acc ** -lr_power / lr + 2 * l2
        w_new = np.where(np.abs(lin) > l1, (np.sign(lin) * l1 - lin) / quad, 0.0)
        s.update(acc=new_acc, lin=lin)
        return w_new.astype(w.dtype)
    return step


OPTIMIZERS = {
    "rmsprop": (lambda: fc.train.RMSPropOptimizer(0.01),
                ref_rmsprop(0.01, 0.9, 0.0, 1e-10, False)),
    "rmsprop-momentum": (lambda: fc.train.RMSPropOptimizer(0.02, decay=0.8, momentum=0.7,
                                                           epsilon=1e-6),
                         ref_rmsprop(0.02, 0.8, 0.7, 1e-6, False)),
    "rmsprop-centered": (lambda: fc.train.RMSPropOptimizer(0.02, momentum=0.5, epsilon=1e-4,
                                                           centered=True),
                         ref_rmsprop(0.02, 0.9, 0.5, 1e-4, True)),
    "adagrad": (lambda: fc.train.AdagradOptimizer(0.1), ref_adagrad(0.1, 0.1)),
    "adagrad-init": (lambda: fc.train.AdagradOptimizer(0.3, initial_accumulator_value=2.0),
                     ref_adagrad(0.3, 2.0)),
    "adadelta": (lambda: fc.train.AdadeltaOptimizer(1.0), ref_adadelta(1.0, 0.95, 1e-8)),
    "adadelta-params": (lambda: fc.train.AdadeltaOptimizer(0.5, rho=0.8, epsilon=1e-3),
                        ref_adadelta(0.5, 0.8, 1e-3)),
    "ftrl": (lambda: fc.train.FtrlOptimizer(0.1), ref_ftrl(0.1, -0.5, 0.1, 0.0, 0.0)),
    "ftrl-l1l2": (lambda: fc.train.FtrlOptimizer(0.2, l1_regularization_strength=0.05,
                                                 l2_regularization_strength=0.1),
                  ref_ftrl(0.2, -0.5, 0.1, 0.05, 0.1)),
    "ftrl-power-shrink": (lambda: fc.train.FtrlOptimizer(
        0.2, learning_rate_power=-0.7, initial_accumulator_value=0.5,
        l1_regularization_strength=0.01, l2_shrinkage_regularization_strength=0.05),
        ref_ftrl(0.2, -0.7, 0.5, 0.01, 0.0, 0.05)),
}


def _quadratic(dtype):
    """Two variables and hand-built gradients of sum((w - t)^2) + sum((b - u)^2)."""
    rng = np.random.default_rng(1)
    w0, t = (rng.standard_normal((3, 2)).astype(dtype) for _ in range(2))
    b0, u = (rng.standard_normal(2).astype(dtype) for _ in range(2))
    w, b = fc.Variable(w0, name="w"), fc.Variable(b0, name="b")
    grads = [(2.0 * (w - fc.constant(t)), w), (2.0 * (b - fc.constant(u)), b)]
    return (w, b), (w0, b0), (t, u), grads


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("which", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_optimizer_matches_tf1_kernel(which, backend, dtype):
    make, ref = OPTIMIZERS[which]
    (w, b), values, targets, grads = _quadratic(dtype)
    step = fc.train.get_or_create_global_step()
    train_op = make().apply_gradients(grads, global_step=step)
    states, expect = [{}, {}], list(values)
    rtol = 2e-5 if dtype == np.float32 else 1e-11
    with fc.Session(config=fc.ConfigProto(backend=backend)) as sess:
        sess.run(fc.global_variables_initializer())
        for t in range(1, STEPS + 1):
            sess.run(train_op)
            expect = [ref(x, 2 * (x - tg), st) for x, tg, st in zip(expect, targets, states)]
            for got, want in zip(sess.run([w, b]), expect):
                assert got.dtype == dtype
                np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
            assert sess.run(step) == t


def test_slot_names_and_initial_values():
    w = fc.Variable(np.ones((2, 2), np.float32), name="w")
    grads = [(w * 1.0, w)]
    rms = fc.train.RMSPropOptimizer(0.1, centered=True)
    rms.apply_gradients(grads)
    ada = fc.train.AdagradOptimizer(0.1, initial_accumulator_value=0.25)
    ada.apply_gradients(grads)
    delta = fc.train.AdadeltaOptimizer()
    delta.apply_gradients(grads)
    ftrl = fc.train.FtrlOptimizer(0.1, initial_accumulator_value=0.5)
    assert ftrl.minimize(fc.reduce_sum(w * w)).name == "Ftrl"
    assert rms.get_slot_names() == ["mg", "momentum", "rms"]
    assert ada.get_slot_names() == ["accumulator"]
    assert delta.get_slot_names() == ["accum", "accum_update"]
    assert ftrl.get_slot_names() == ["accum", "linear"]
    expect = {(rms, "rms"): ("w/RMSProp", 1.0), (rms, "mg"): ("w/RMSProp_1", 0.0),
              (rms, "momentum"): ("w/RMSProp_2", 0.0), (ada, "accumulator"): ("w/Adagrad", 0.25),
              (delta, "accum"): ("w/Adadelta", 0.0), (delta, "accum_update"): ("w/Adadelta_1", 0.0),
              (ftrl, "accum"): ("w/Ftrl", 0.5), (ftrl, "linear"): ("w/Ftrl_1", 0.0)}
    assert {v.op.name for v in fc.trainable_variables()} == {"w"}
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        for (opt, slot), (name, value) in expect.items():
            var = opt.get_slot(w, slot)
            assert var.op.name == name
            np.testing.assert_array_equal(sess.run(var), np.full((2, 2), value, np.float32))
    assert len(rms.variables()) == 3 and len(ftrl.variables()) == 2


def test_plain_rmsprop_has_no_mg_slot():
    w = fc.Variable(np.ones(3, np.float32), name="w")
    opt = fc.train.RMSPropOptimizer(0.1)
    opt.apply_gradients([(w * 1.0, w)])
    assert opt.get_slot_names() == ["momentum", "rms"]
    assert opt.get_slot(w, "momentum").op.name == "w/RMSProp_1"
    assert opt.get_slot(w, "mg") is None


@pytest.mark.parametrize("make, culprit", [
    (lambda: fc.train.AdagradOptimizer(0.1, initial_accumulator_value=0.0),
     "initial_accumulator_value"),
    (lambda: fc.train.FtrlOptimizer(0.1, learning_rate_power=0.5), "learning_rate_power"),
    (lambda: fc.train.FtrlOptimizer(0.1, initial_accumulator_value=-1.0),
     "initial_accumulator_value"),
    (lambda: fc.train.FtrlOptimizer(0.1, l1_regularization_strength=-0.1),
     "l1_regularization_strength"),
])
def test_bad_hyperparameters_name_the_argument(make, culprit):
    with pytest.raises(ValueError, match=culprit):
        make()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("make", [
    lambda: fc.train.RMSPropOptimizer(0.02),
    lambda: fc.train.RMSPropOptimizer(0.01, momentum=0.5, centered=True),
    lambda: fc.train.AdagradOptimizer(0.5),
    lambda: fc.train.AdadeltaOptimizer(1.0, rho=0.9, epsilon=1e-2),
    lambda: fc.train.FtrlOptimizer(0.5),
], ids=["rmsprop", "rmsprop-centered", "adagrad", "adadelta", "ftrl"])
def test_tf1_linear_regression_converges(make, backend):
    rng = np.random.default_rng(0)
    xs = rng.uniform(-1, 1, (64, 1)).astype(np.float32)
    ys = 3.0 * xs - 0.5 + 0.01 * rng.standard_normal((64, 1)).astype(np.float32)
    X = fc.placeholder("float", [None, 1])
    Y = fc.placeholder("float", [None, 1])
    W = fc.Variable(np.zeros((1, 1), np.float32), name="weight")
    b = fc.Variable(np.zeros(1, np.float32), name="bias")
    cost = fc.reduce_mean(fc.square(fc.matmul(X, W) + b - Y))
    global_step = fc.train.get_or_create_global_step()
    optimizer = make().minimize(cost, global_step=global_step)
    with fc.Session(config=fc.ConfigProto(backend=backend)) as sess:
        sess.run(fc.global_variables_initializer())
        first = sess.run(cost, feed_dict={X: xs, Y: ys})
        for _ in range(300):
            sess.run(optimizer, feed_dict={X: xs, Y: ys})
        last = sess.run(cost, feed_dict={X: xs, Y: ys})
        assert sess.run(global_step) == 300
        assert last < 0.01 * first, (first, last)
        np.testing.assert_allclose(sess.run(W)[0, 0], 3.0, atol=0.1)
