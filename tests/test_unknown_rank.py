"""Unknown ranks (issue 14, deliverable 0): every gradient rule, the composites and
classic TF1 programs with shape-less placeholders (`tf.placeholder("float")`).

Whatever needs a rank is built when the Session compiles for the fed ranks
(compiler/frontend/deferred.py, compiler/expand.py). Gradients are checked against
finite differences on both backends for every rule of the table with every input of
unknown rank; the programs must give the same numbers as the same program with full
shapes, and errors found only once the rank is known name the op and the user's line."""

import numpy as np
import pytest
from autodiff_check import BACKENDS, build_check, check_grads
from test_autodiff import BINARY, STRUCT, UNARY

import compiler as fc
from compiler.autodiff.rules import RULES
from compiler.errors import CompileError
from compiler.frontend.core import make


def _unknown(specs):
    """The specs with every placeholder of unknown rank, fed the original shape."""
    out = []
    for s in specs:
        shape, low, high = s
        out.append(dict(shape=None, feed=tuple(shape), low=low, high=high))
    return out


CASES = {f"unary_{k}": (fn, [spec]) for k, (fn, spec) in UNARY.items()}
CASES.update({f"binary_{k}": (fn, [((3, 1), *ra), ((1, 4), *rb)])
              for k, (fn, ra, rb) in BINARY.items()})
CASES.update({f"struct_{k}": v for k, v in STRUCT.items()})
CASES["cast"] = (lambda a: make("cast", [a], dtype=fc.float64) * a,
                 [((2, 3), -1, 1)])
# the frontend defers fc.transpose/concat/pad/gather as a whole; these build the
# primitives themselves on unknown-rank inputs
CASES["prim_transpose"] = (lambda a: fc.sin(make("transpose", [a], perm=(2, 0, 1))),
                           [((2, 3, 4), -1, 1)])
CASES["prim_concat"] = (lambda a, b: make("concat", [a, b, a], axis=1),
                        [((2, 3), -1, 1), ((2, 1), -1, 1)])
CASES["prim_pad"] = (lambda a: make("pad", [a], pads=((1, 0), (2, 1)), value=0.0),
                     [((2, 3), -1, 1)])
CASES["prim_gather"] = (lambda a: make("gather", [a, fc.constant([2, 0, 2])], axis=1),
                        [((2, 3), -1, 1)])
CASES["broadcast_scalar"] = (lambda a, b: a * b, [((), -1, 1), ((2, 3), -1, 1)])
# the window primitives (issue 15)
_WINDOW = {"window": (2, 2), "strides": (2, 1), "padding": ((1, 0), (0, 1)),
           "rhs_dilation": (1, 1)}
# their spatial extents must be static: adding a constant of the fed shape fixes the fed
# rank's dims when convert unifies them (the input keeps an unknown rank while built)
CASES["prim_patches"] = (lambda a: make("patches", [a + fc.zeros([1, 3, 3, 2], fc.float64)],
                                        value=0.0, **_WINDOW), [((1, 3, 3, 2), -1, 1)])
CASES["prim_fold"] = (lambda a: make("fold", [a + fc.zeros([1, 2, 3, 2, 2, 2], fc.float64)],
                                     shape=(3, 3), **_WINDOW), [((1, 2, 3, 2, 2, 2), -1, 1)])

# the conv primitive (issue 15): the same device fixes the spatial and channel extents
_CONV = {"strides": (2, 1), "padding": ((1, 0), (0, 1)), "lhs_dilation": (1, 1),
         "rhs_dilation": (1, 2)}
CASES["prim_conv"] = (lambda a, w: make("conv", [a + fc.zeros([1, 4, 3, 2], fc.float64),
                                                 w + fc.zeros([2, 2, 2, 3], fc.float64)],
                                        **_CONV),
                      [((1, 4, 3, 2), -1, 1), ((2, 2, 2, 3), -1, 1)])


def _prims_on_unknown_ranks(name):
    """Primitive op types of the forward graph of case `name` with an unknown-rank input."""
    fn, specs = CASES[name]
    graph, _, xs, _, _, grads = build_check(fn, _unknown(specs))
    forward = [op for op in graph.get_operations()
               if not op.name.startswith("gradients") and op.type in RULES]
    return {op.type for op in forward if any(not t.shape.known_rank for t in op.inputs)}


def test_every_gradient_rule_is_exercised_with_unknown_ranks():
    covered = set()
    for name in CASES:
        covered |= _prims_on_unknown_ranks(name)
    assert set(RULES) <= covered, sorted(set(RULES) - covered)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_rule_with_unknown_ranks(name, backend):
    fn, specs = CASES[name]
    unknown = check_grads(fn, _unknown(specs), backend)
    if backend == "interpret":   # the same gradients as with the shapes declared
        known = check_grads(fn, specs, backend)
        for a, b in zip(known, unknown):
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


# ---- classic TF1 programs with shape-less placeholders ----------------------------------
def _config(backend):
    return fc.ConfigProto(backend="interpret") if backend == "interpret" else None


def _linear_regression(shaped, backend):
    """TensorFlow-Examples' linear_regression.py: X, Y = tf.placeholder("float")."""
    xs = np.array([3.3, 4.4, 5.5, 6.71, 6.93, 4.168, 9.779, 6.182, 7.59, 2.167, 7.042])
    ys = np.array([1.7, 2.76, 2.09, 3.19, 1.694, 1.573, 3.366, 2.596, 2.53, 1.221, 2.827])
    with fc.Graph().as_default():
        X = fc.placeholder("float", [] if shaped else None)
        Y = fc.placeholder("float", [] if shaped else None)
        W = fc.Variable(0.3, name="weight")
        b = fc.Variable(-0.2, name="bias")
        pred = fc.add(fc.multiply(X, W), b)
        cost = fc.reduce_sum(fc.pow(pred - Y, 2)) / (2 * len(xs))
        train = fc.train.GradientDescentOptimizer(0.01).minimize(cost)
        with fc.Session(config=_config(backend)) as sess:
            sess.run(fc.global_variables_initializer())
            for _ in range(20):
                for x, y in zip(xs, ys):
                    sess.run(train, feed_dict={X: x, Y: y})
            final = cost if shaped else fc.reduce_sum(fc.pow(pred - Y, 2)) / (2 * len(xs))
            if shaped:
                total = sum(sess.run(cost, {X: x, Y: y}) for x, y in zip(xs, ys))
            else:
                total = sess.run(final, {X: xs, Y: ys})  # the whole vector: rank 1
            return sess.run([W, b]), total


def _numpy_linear_regression(xs, ys, steps):
    w, b = np.float32(0.3), np.float32(-0.2)
    for _ in range(steps):
        for x, y in zip(xs, ys):
            r = np.float32(w * np.float32(x) + b - np.float32(y))
            gw, gb = r * np.float32(x) / len(xs), r / len(xs)
            w, b = np.float32(w - 0.01 * gw), np.float32(b - 0.01 * gb)
    return w, b


@pytest.mark.parametrize("backend", BACKENDS)
def test_linear_regression_with_shapeless_placeholders(backend):
    (w, b), total = _linear_regression(False, backend)
    (w2, b2), total2 = _linear_regression(True, backend)
    np.testing.assert_allclose([w, b], [w2, b2], rtol=1e-6)
    np.testing.assert_allclose(total, total2, rtol=1e-5)
    xs = np.array([3.3, 4.4, 5.5, 6.71, 6.93, 4.168, 9.779, 6.182, 7.59, 2.167, 7.042])
    ys = np.array([1.7, 2.76, 2.09, 3.19, 1.694, 1.573, 3.366, 2.596, 2.53, 1.221, 2.827])
    np.testing.assert_allclose([w, b], _numpy_linear_regression(xs, ys, 20), rtol=1e-4)


def _classifier(shaped, backend, hidden, keep):
    """Logistic regression (hidden=0) or an MLP with dropout, TF1 tutorial style:
    x = tf.placeholder("float"), y = tf.placeholder("float"), keep_prob likewise."""
    rng = np.random.default_rng(0)
    data = rng.standard_normal((64, 6)).astype(np.float32)
    labels = np.eye(3, dtype=np.float32)[np.argmax(data[:, :3], axis=1)]
    with fc.Graph().as_default():
        fc.set_random_seed(7)
        x = fc.placeholder("float", [None, 6] if shaped else None)
        y = fc.placeholder("float", [None, 3] if shaped else None)
        keep_prob = fc.placeholder(fc.float32, [] if shaped else None)
        h, n = x, 6
        if hidden:
            w1 = fc.Variable(fc.random_normal([6, hidden], seed=1))
            b1 = fc.Variable(fc.zeros([hidden]))
            h = fc.nn.dropout(fc.nn.relu(fc.matmul(x, w1) + b1), keep_prob)
            n = hidden
        W = fc.Variable(fc.random_normal([n, 3], seed=2) * 0.1)
        b = fc.Variable(fc.zeros([3]))
        pred = fc.nn.softmax(fc.matmul(h, W) + b)
        cost = fc.reduce_mean(-fc.reduce_sum(y * fc.log(pred), reduction_indices=1))
        train = fc.train.GradientDescentOptimizer(0.5).minimize(cost)
        correct = fc.equal(fc.argmax(pred, 1), fc.argmax(y, 1))
        accuracy = fc.reduce_mean(fc.cast(correct, "float"))
        with fc.Session(config=_config(backend)) as sess:
            sess.run(fc.global_variables_initializer())
            costs = [sess.run([train, cost], {x: data, y: labels, keep_prob: keep})[1]
                     for _ in range(20)]
            acc = sess.run(accuracy, {x: data, y: labels, keep_prob: 1.0})
            return np.array(costs), acc, sess.run(W)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("hidden,keep", [(0, 1.0), (16, 0.75)])
def test_classifiers_with_shapeless_placeholders(backend, hidden, keep):
    costs, acc, w = _classifier(False, backend, hidden, keep)
    costs2, acc2, w2 = _classifier(True, backend, hidden, keep)
    np.testing.assert_allclose(costs, costs2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w, w2, rtol=1e-4, atol=1e-6)
    assert acc == acc2 and acc > 0.8
    assert costs[-1] < 0.5 * costs[0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_reductions_and_broadcasting_of_shapeless_tensors(backend):
    a, b = fc.placeholder("float"), fc.placeholder("float")
    outs = [fc.reduce_sum(a * b, axis=-1), fc.reduce_mean(a - b, 0, keepdims=True),
            fc.reduce_max(a + b), fc.nn.softmax(a * b), fc.reduce_logsumexp(a, -1),
            fc.transpose(a * 2.0), fc.expand_dims(b, 0)]
    av = np.arange(6, dtype=np.float32).reshape(2, 3)
    bv = np.array([[0.5], [-1.0]], np.float32)       # its extent-1 axis broadcasts
    prod = av * bv
    want = [prod.sum(-1), (av - bv).mean(0, keepdims=True), (av + bv).max(),
            np.exp(prod) / np.exp(prod).sum(-1, keepdims=True),
            np.log(np.exp(av).sum(-1)), (av * 2).T, bv[None]]
    grads = fc.gradients(fc.reduce_sum(outs[0]) + fc.reduce_sum(outs[3] * a), [a, b])
    with fc.Session(config=_config(backend)) as sess:
        got = sess.run(outs, {a: av, b: bv})
        ga, gb = sess.run(grads, {a: av, b: bv})
        assert sess.run(outs[2], {a: av, b: av}) == 10.0   # rank 2, nothing broadcast
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5)
    assert ga.shape == av.shape and gb.shape == bv.shape
    # b is summed back over the axis it was broadcast along
    soft = want[3]
    gprod = soft * (av - (soft * av).sum(-1, keepdims=True))   # d sum(softmax(p) * a)/dp
    np.testing.assert_allclose(gb, (av * (1 + gprod)).sum(-1, keepdims=True), rtol=1e-4)


def test_shape_errors_found_at_compile_time_name_the_op_and_line():
    x = fc.placeholder("float")
    y = fc.transpose(x, [1, 0, 2])
    line = y.op.loc
    with fc.Session() as sess:
        with pytest.raises(CompileError) as info:
            sess.run(y, {x: np.ones((2, 3))})
    msg = str(info.value)
    assert "transpose" in msg and line in msg and "test_unknown_rank.py" in line
    assert msg.count(line) == 2   # the deferred op and the primitive it built: one line
    assert "perm" in msg


@pytest.mark.parametrize("backend", BACKENDS)
def test_more_composites_on_shapeless_tensors(backend):
    """in_top_k, unstack, split, the sparse cross-entropy (its number of classes comes
    from the feed) and tf.losses on shape-less placeholders, with gradients."""
    x, labels = fc.placeholder("float"), fc.placeholder(fc.int32)
    xv = np.array([[0.0, 1.0, 2.0], [3.0, 5.0, 4.0]], np.float32)
    lv = np.array([1, 1], np.int32)
    xent = fc.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=x)
    loss = fc.losses.sparse_softmax_cross_entropy(labels, x)
    outs = [fc.nn.in_top_k(x, labels, 1), fc.unstack(x, 2)[1], fc.split(x, [1, 2], axis=1)[1],
            xent, loss, fc.gradients(loss, [x])[0]]
    with fc.Session(config=_config(backend)) as sess:
        top, row, part, xe, lo, grad = sess.run(outs, {x: xv, labels: lv})
    lse = np.log(np.exp(xv).sum(1))
    want = lse - xv[[0, 1], lv]
    soft = np.exp(xv - lse[:, None])
    np.testing.assert_array_equal(top, [False, True])
    np.testing.assert_array_equal(row, xv[1])
    np.testing.assert_array_equal(part, xv[:, 1:])
    np.testing.assert_allclose(xe, want, rtol=1e-5)
    np.testing.assert_allclose(lo, want.mean(), rtol=1e-5)
    np.testing.assert_allclose(grad, (soft - np.eye(3)[lv]) / 2, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout_mask_is_one_draw_for_value_and_gradient(backend):
    """The mask of a deferred dropout is drawn once per run: the gradient is the kept
    positions scaled by 1/keep_prob of the very value returned."""
    x = fc.placeholder("float")
    keep = fc.placeholder(fc.float32)
    y = fc.nn.dropout(x * 1.0, keep, seed=3)
    (g,) = fc.gradients(fc.reduce_sum(y), [x])
    xv = np.ones((50, 40), np.float32)
    with fc.Session(config=_config(backend)) as sess:
        yv, gv = sess.run([y, g], {x: xv, keep: 0.5})
        yv2 = sess.run(y, {x: xv, keep: 0.5})
    np.testing.assert_array_equal(gv, (yv != 0) * 2.0)
    assert 0.4 < (yv != 0).mean() < 0.6 and not np.array_equal(yv, yv2)   # a new draw
    # the gradient differentiates the forward expansion itself: one draw in the program
    text = fc.dump([y, g], feeds={x: xv, keep: 0.5}, stages=["input"])["input"]
    assert text.count("= random_uniform(") == 1


def test_one_compile_per_fed_rank_with_deferred_ops():
    x = fc.placeholder("float")
    loss = fc.reduce_sum(fc.nn.softmax(x) * x)
    (g,) = fc.gradients(loss, [x])
    with fc.Session() as sess:
        for shape in [(2, 3), (5, 7), (1, 4), (6,), (9,)]:
            v = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
            s = np.exp(v - v.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            got = sess.run(g, {x: v})
            want = s * (v - (s * v).sum(-1, keepdims=True)) + s
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
        assert sess.compile_count == 2


def test_second_derivative_through_a_deferred_op_names_it():
    x = fc.placeholder("float")
    (g,) = fc.gradients(fc.reduce_sum(fc.nn.softmax(x)), [x])
    with pytest.raises(TypeError, match="second derivatives through deferred_grad"):
        fc.gradients(fc.reduce_sum(g), [x])
