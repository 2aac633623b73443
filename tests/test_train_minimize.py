"""fc.train with fc.gradients: compute_gradients / minimize, and the seed's regression
y = tanh(x^T w + b) fitted by SGD as one compiled program per step."""

import numpy as np
import pytest

import compiler as fc

pytestmark = pytest.mark.usefixtures("fresh_default_graph")


def test_compute_gradients_pairs_and_none():
    w = fc.Variable(np.array([1.0, 2.0], np.float32), name="w")
    unused = fc.Variable(np.float32(3.0), name="unused")
    loss = fc.reduce_sum(fc.square(w))
    opt = fc.train.GradientDescentOptimizer(0.1)
    pairs = opt.compute_gradients(loss)
    assert [v for _, v in pairs] == [w, unused]
    assert pairs[1][0] is None
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        np.testing.assert_allclose(sess.run(pairs[0][0]), [2.0, 4.0])
    with pytest.raises(ValueError, match=r"No gradients provided.*\[unused:0\].*loss"):
        opt.minimize(loss, var_list=[unused])


@pytest.mark.parametrize("backend", ["interpret", "llvm"])
def test_minimize_equals_apply_gradients_of_hand_gradients(backend):
    t = np.array([[0.5, -1.0], [2.0, 0.0]], np.float32)
    w = fc.Variable(np.zeros((2, 2), np.float32), name="w")
    loss = fc.reduce_sum(fc.square(w - t))
    step = fc.train.get_or_create_global_step()
    train_op = fc.train.AdamOptimizer(0.1).minimize(loss, global_step=step)
    w2 = fc.Variable(np.zeros((2, 2), np.float32), name="w2")
    hand_op = fc.train.AdamOptimizer(0.1).apply_gradients([(2.0 * (w2 - t), w2)])
    with fc.Session(config=fc.ConfigProto(backend=backend)) as sess:
        sess.run(fc.global_variables_initializer())
        for _ in range(4):
            sess.run([train_op, hand_op])
        np.testing.assert_allclose(sess.run(w), sess.run(w2), rtol=1e-6, atol=1e-7)
        assert sess.run(step) == 4


def test_seed_regression_trained_by_sgd():
    """The seed's example: y_hat = tanh(x^T w + b), squared error, SGD."""
    rng = np.random.default_rng(0)
    true_w, true_b = np.array([[0.7], [-0.4], [0.2]], np.float32), np.float32(0.1)
    xs = rng.standard_normal((64, 3)).astype(np.float32)
    ys = np.tanh(xs @ true_w + true_b)
    x = fc.placeholder(fc.float32, [None, 3], name="x")
    y = fc.placeholder(fc.float32, [None, 1], name="y")
    w = fc.Variable(np.zeros((3, 1), np.float32), name="w")
    b = fc.Variable(np.float32(0.0), name="b")
    loss = fc.reduce_mean(fc.square(fc.tanh(fc.matmul(x, w) + b) - y))
    train_op = fc.train.GradientDescentOptimizer(0.5).minimize(loss)
    with fc.Session() as sess:
        sess.run(fc.global_variables_initializer())
        first = sess.run(loss, {x: xs, y: ys})
        compiles = sess.compile_count
        for _ in range(200):
            sess.run(train_op, {x: xs, y: ys})
        assert sess.compile_count == compiles + 1  # the whole step is one program
        last = sess.run(loss, {x: xs, y: ys})
        np.testing.assert_allclose(sess.run(w), true_w, atol=0.02)
    assert first > 0.05 and last < 1e-4
