"""Gradients of composite models against finite differences (float64): softmax
cross-entropy, a 2-layer MLP loss w.r.t. its weights, an LSTM-like gated step, and the
composite ops built on the primitives (softmax, logsumexp, l2_loss, moments)."""

import numpy as np
import pytest
from autodiff_check import BACKENDS, check_grads

import compiler as fc

RNG = np.random.default_rng(1)
X = RNG.standard_normal((5, 4))
LABELS = np.eye(3)[[0, 2, 1, 1, 0]]


def _xent(logits):
    labels = fc.constant(LABELS, fc.float64)
    return fc.nn.softmax_cross_entropy_with_logits_v2(labels=labels, logits=logits)


def _mlp(w1, b1, w2, b2):
    h = fc.nn.relu(fc.matmul(fc.constant(X, fc.float64), w1) + b1)
    return fc.reduce_mean(_xent(fc.matmul(h, w2) + b2))


def _lstm_step(w, b):
    xh = fc.constant(X, fc.float64)
    z = fc.matmul(xh, w) + b
    i, f, o, j = fc.split(z, 4, axis=1)
    c = fc.sigmoid(f) * 0.5 + fc.sigmoid(i) * fc.tanh(j)
    return fc.tanh(c) * fc.sigmoid(o)


MODELS = {
    "softmax_xent": (_xent, [((5, 3), -2, 2)]),
    "sparse_xent": (lambda z: fc.nn.sparse_softmax_cross_entropy_with_logits(
        labels=fc.constant([0, 2, 1, 1, 0]), logits=z), [((5, 3), -2, 2)]),
    "mlp": (_mlp, [((4, 6), -1, 1), ((6,), -0.5, 0.5), ((6, 3), -1, 1), ((3,), -0.5, 0.5)]),
    "lstm_step": (_lstm_step, [((4, 8), -1, 1), ((8,), -0.5, 0.5)]),
    "softmax": (lambda z: fc.nn.softmax(z), [((2, 4), -2, 2)]),
    "logsumexp": (lambda z: fc.reduce_logsumexp(z, axis=1), [((2, 4), -2, 2)]),
    "l2_loss": (lambda z: fc.nn.l2_loss(z), [((2, 4), -2, 2)]),
    "moments": (lambda z: fc.nn.moments(z, axes=[0])[1], [((5, 4), -2, 2)]),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_model(name, backend):
    fn, specs = MODELS[name]
    check_grads(fn, specs, backend)


def test_mlp_second_order_interpret():
    fn, specs = MODELS["softmax_xent"]
    check_grads(fn, specs, "interpret", order=2)


def test_gradient_graph_compiles_ahead_of_time_and_under_jit(tmp_path):
    import runtime
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, (None, 3), name="x")
        w = fc.Variable(np.arange(6, dtype=np.float32).reshape(3, 2), name="w")
        picked = fc.gather(x, fc.constant([0, 2]), axis=1)
        loss = fc.reduce_sum(fc.tanh(fc.matmul(picked, w[:2])) ** 2)
        gx, gw = fc.gradients(loss, [x, w])
        fc.compile([gx, gw], [x], str(tmp_path), name="grads")
        xv = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
        with fc.Session(graph=g, config=fc.ConfigProto(backend="interpret")) as sess:
            sess.run(fc.global_variables_initializer())
            want = sess.run([gx, gw], {x: xv})
    got = runtime.load(str(tmp_path))(xv)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)

    @fc.jit
    def grad_of(v):
        return fc.gradients(fc.reduce_sum(fc.sin(v) * v), [v])[0]

    v = np.arange(3, dtype=np.float32)
    np.testing.assert_allclose(grad_of(v), np.cos(v) * v + np.sin(v), rtol=1e-5)
