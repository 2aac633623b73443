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
