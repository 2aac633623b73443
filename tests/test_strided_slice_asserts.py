"""`tf.strided_slice` with TF1's masks (against a numpy implementation of TF's dense-spec
canonicalization written here), its gradient (finite differences and jax), the
assertions (`tf.Assert`, `assert_*`, `check_numerics`) as run-time checks of the compiled
step on both backends, their static forms, and the deprecated TF 0.x aliases."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from autodiff_check import check_grads

import compiler as tf

BACKENDS = [None, tf.ConfigProto(backend="interpret")]
IDS = ["llvm", "interpret"]


# ---- a reference of TF's strided_slice (tensorflow/core/util/strided_slice_op.cc) ---------
def _tf_strided_slice(x, begin, end, strides, begin_mask=0, end_mask=0, ellipsis_mask=0,
                      new_axis_mask=0, shrink_axis_mask=0):
    """Expand the sparse spec to one entry per input dim, canonicalize begin/end per TF's
    rules, gather the indices dim by dim, then insert new axes and drop shrunk ones."""
    dense, final = [], []   # dense: (begin, end, stride, bmask, emask, shrink) per input dim
    n_real = sum(1 for i in range(len(begin)) if not (new_axis_mask >> i) & 1
                 and not (ellipsis_mask >> i) & 1)
    has_ellipsis = any((ellipsis_mask >> i) & 1 for i in range(len(begin)))
    for i in range(len(begin)):
        if (ellipsis_mask >> i) & 1:
            for _ in range(x.ndim - n_real):
                dense.append((0, 0, 1, 1, 1, 0))
                final.append("keep")
        elif (new_axis_mask >> i) & 1:
            final.append("new")
        else:
            shrink = (shrink_axis_mask >> i) & 1
            dense.append((begin[i], end[i], strides[i], (begin_mask >> i) & 1,
                          (end_mask >> i) & 1, shrink))
            final.append("drop" if shrink else "keep")
    if not has_ellipsis:
        while len(dense) < x.ndim:
            dense.append((0, 0, 1, 1, 1, 0))
            final.append("keep")
    out = x
    for axis, (b, e, s, bm, em, shrink) in enumerate(dense):
        dim = x.shape[axis]
        if shrink:
            idx = [b + dim if b < 0 else b]
        else:
            lo, hi = (0, dim) if s > 0 else (-1, dim - 1)

            def canon(v, masked, which, lo=lo, hi=hi, s=s, dim=dim):
                if masked:
                    return (lo, hi)[which] if s > 0 else (lo, hi)[1 - which]
                v = v + dim if v < 0 else v
                return min(max(v, lo), hi)
            bb, ee = canon(b, bm, 0), canon(e, em, 1)
            idx = list(range(bb, ee, s))
        out = np.take(out, np.array(idx, dtype=np.int64), axis=axis)
    shape, k = [], 0
    for f in final:
        if f == "new":
            shape.append(1)
        else:
            if f == "keep":
                shape.append(out.shape[k])
            k += 1
    return out.reshape(shape)


SPECS = [
    # begin, end, strides, begin_mask, end_mask, ellipsis_mask, new_axis_mask, shrink_mask
    ([0, 1, 0], [2, 3, 4], [1, 1, 1], 0, 0, 0, 0, 0),
    ([1, -1, 3], [0, 0, 0], [1, -1, -2], 0, 0b110, 0, 0, 0),
    ([0, 0, 0], [0, 0, 0], [1, 1, 1], 0b111, 0b111, 0, 0, 0),
    ([1, 2, 3], [1, 1, 1], [1, -1, -2], 0b111, 0b011, 0, 0, 0),  # masks override values
    ([1, 0, 0], [0, 0, 0], [1, 1, 1], 0, 0b110, 0, 0, 0b001),
    ([0, -2], [0, 0], [1, 1], 0, 0, 0b01, 0, 0b10),          # x[..., -2]
    ([0, 0, 1], [0, 0, 3], [1, 1, 1], 0, 0, 0b001, 0b010, 0),  # x[..., newaxis, 1:3]
    ([-1, 5, -9], [-3, -7, 2], [-1, -2, 3], 0, 0, 0, 0, 0),   # clamped bounds
    ([0, 2], [2, 0], [1, -1], 0, 0, 0, 0b001, 0),             # newaxis first
]


@pytest.mark.parametrize("config", BACKENDS, ids=IDS)
@pytest.mark.parametrize("spec", SPECS, ids=[str(i) for i in range(len(SPECS))])
def test_strided_slice_masks_match_tf_semantics(spec, config):
    x = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    b, e, s, bm, em, el, na, sh = spec
    want = _tf_strided_slice(x, b, e, s, bm, em, el, na, sh)
    with tf.Graph().as_default():
        xp = tf.placeholder(tf.float32, [2, 3, 4])
        y = tf.strided_slice(xp, b, e, s, begin_mask=bm, end_mask=em, ellipsis_mask=el,
                             new_axis_mask=na, shrink_axis_mask=sh)
        assert y.shape.as_list() == list(want.shape)
        with tf.Session(config=config) as sess:
            got = sess.run(y, {xp: x})
    np.testing.assert_array_equal(got, want)


def test_strided_slice_spec_from_constant_tensors_and_errors():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    with tf.Graph().as_default():
        xp = tf.placeholder(tf.float32, [3, 4])
        y = tf.strided_slice(xp, tf.constant([1, 0]), tf.constant([3, 4]), tf.constant([1, 2]))
        with tf.Session() as sess:
            np.testing.assert_array_equal(sess.run(y, {xp: x}), x[1:3, 0:4:2])
        with pytest.raises(ValueError, match="same length"):
            tf.strided_slice(xp, [0], [1, 2], [1, 1])
        with pytest.raises(ValueError, match="strides\\[1\\] must be non-zero"):
            tf.strided_slice(xp, [0, 0], [1, 2], [1, 0])
        with pytest.raises(TypeError, match="`begin` must be known"):
            tf.strided_slice(xp, tf.placeholder(tf.int32, [2]), [1, 2], [1, 1])
        with pytest.raises(IndexError, match="out of range"):
            tf.strided_slice(xp, [5, 0], [6, 1], [1, 1], shrink_axis_mask=1)


@pytest.mark.parametrize("backend", ["interpret", "llvm"])
def test_strided_slice_gradient_by_finite_differences(backend):
    def build(x):
        return tf.strided_slice(x, [1, -1, 0], [0, 0, 5], [1, -2, 2], end_mask=0b001,
                                shrink_axis_mask=0)
    check_grads(build, [((3, 4, 5), -1.0, 1.0)], backend)


def test_strided_slice_gradient_matches_jax():
    x = np.random.default_rng(1).standard_normal((3, 4, 5))
    w = np.random.default_rng(2).standard_normal((3, 2, 5))
    with tf.Graph().as_default():
        xp = tf.placeholder(tf.float64, [3, 4, 5])
        y = tf.strided_slice(xp, [0, 3, 0], [0, 0, 0], [1, -2, 1], begin_mask=0b101,
                             end_mask=0b101)
        (g,) = tf.gradients(tf.reduce_sum(y * w), [xp])
        with tf.Session() as sess:
            got = sess.run(g, {xp: x})
    jax.config.update("jax_enable_x64", True)
    want = jax.grad(lambda a: jnp.sum(a[:, 3:0:-2, :] * w))(x)
    np.testing.assert_allclose(got, want, rtol=1e-12)


# ---- assertions -----------------------------------------------------------------------------
@pytest.mark.parametrize("config", BACKENDS, ids=IDS)
def test_failed_assertion_stops_the_step_with_tf1_message(config):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None], name="x")
        v = tf.Variable(1.0, name="v")
        check = tf.assert_positive(x, message="x must be positive")
        with tf.control_dependencies([check]):
            y = tf.identity(x * 2.0)
            step = tf.assign_add(v, 1.0)
        with tf.Session(config=config) as sess:
            sess.run(tf.global_variables_initializer())
            np.testing.assert_array_equal(sess.run(y, {x: [1.0, 2.0]}), [2.0, 4.0])
            with pytest.raises(tf.errors.InvalidArgumentError) as info:
                sess.run([y, step], {x: [1.0, -2.5, 3.0, 4.0]})
            assert sess.run(v) == 1.0           # the failed step installed no update
            sess.run(step, {x: [0.5]})
            assert sess.run(v) == 2.0
    text = str(info.value)
    assert "assertion failed: [x must be positive] [Condition x > 0 did not hold " \
           "element-wise:] [x (x:0) = ] [1 -2.5 3...]" in text
    assert "test_strided_slice_asserts.py" in text   # the user's line


@pytest.mark.parametrize("config", BACKENDS, ids=IDS)
def test_assert_family_conditions(config):
    a = np.array([1, 2, 3], np.int32)
    cases = [  # (builder, holds for (a, b)?)
        (lambda x, y: tf.assert_equal(x, y), lambda p, q: np.all(p == q)),
        (lambda x, y: tf.assert_none_equal(x, y), lambda p, q: np.all(p != q)),
        (lambda x, y: tf.assert_less(x, y), lambda p, q: np.all(p < q)),
        (lambda x, y: tf.assert_less_equal(x, y), lambda p, q: np.all(p <= q)),
        (lambda x, y: tf.assert_greater(x, y), lambda p, q: np.all(p > q)),
        (lambda x, y: tf.assert_greater_equal(x, y), lambda p, q: np.all(p >= q)),
        (lambda x, y: tf.assert_negative(x), lambda p, q: np.all(p < 0)),
        (lambda x, y: tf.assert_non_negative(x), lambda p, q: np.all(p >= 0)),
        (lambda x, y: tf.assert_non_positive(x), lambda p, q: np.all(p <= 0)),
        (lambda x, y: tf.debugging.Assert(tf.reduce_any(x > y), [x]),
         lambda p, q: np.any(p > q)),
    ]
    pairs = [(a, a), (a, a + 1), (a, a - 1), (-a, a * 0), (a * 0, a * 0)]
    with tf.Graph().as_default():
        x = tf.placeholder(tf.int32, [3])
        y = tf.placeholder(tf.int32, [3])
        with tf.Session(config=config) as sess:
            for build, holds in cases:
                op = build(x, y)
                for p, q in pairs:
                    if holds(p, q):
                        sess.run(op, {x: p, y: q})
                    else:
                        with pytest.raises(tf.errors.InvalidArgumentError, match="assertion"):
                            sess.run(op, {x: p, y: q})


@pytest.mark.parametrize("config", BACKENDS, ids=IDS)
def test_check_numerics_and_verify_finite(config):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None])
        y = tf.check_numerics(tf.log(x), "log(x)")
        z = tf.debugging.assert_all_finite(x * 2.0, "doubled")
        with tf.Session(config=config) as sess:
            np.testing.assert_allclose(sess.run(y, {x: [1.0, np.e]}), [0.0, 1.0], rtol=1e-6)
            with pytest.raises(tf.errors.InvalidArgumentError,
                               match=r"\[log\(x\) : Tensor had Inf values\]"):
                sess.run(y, {x: [1.0, 0.0]})
            with pytest.raises(tf.errors.InvalidArgumentError,
                               match=r"\[log\(x\) : Tensor had NaN values\]"):
                sess.run(y, {x: [-1.0]})
            with pytest.raises(tf.errors.InvalidArgumentError, match="doubled"):
                sess.run(z, {x: [3e38]})
            got = sess.run([tf.is_nan(x), tf.is_inf(x), tf.is_finite(x)],
                           {x: [np.nan, -np.inf, 1.0]})
    np.testing.assert_array_equal(got, [[True, False, False], [False, True, False],
                                        [False, False, True]])


def test_static_assertions_resolve_when_the_graph_is_built():
    with tf.Graph().as_default():
        with pytest.raises(tf.errors.InvalidArgumentError, match="x == y did not hold"):
            tf.assert_equal(tf.constant([1, 2]), tf.constant([1, 3]))
        with pytest.raises(ValueError, match="must have rank of 2"):
            tf.assert_rank(tf.placeholder(tf.float32, [3]), 2)
        with pytest.raises(ValueError, match="rank at least 2"):
            tf.assert_rank_at_least(tf.placeholder(tf.float32, [3]), 2)
        with pytest.raises(TypeError, match="must be of type int32"):
            tf.assert_type(tf.constant(1.0), tf.int32)
        with pytest.raises(TypeError, match="Expected integer"):
            tf.assert_integer(tf.constant(1.0))
        with pytest.raises(ValueError, match="Expected scalar"):
            tf.assert_scalar(tf.constant([1.0]))
        with pytest.raises(TypeError, match="must be bool"):
            tf.Assert(tf.constant(1.0), ["x"])
        ok = [tf.assert_rank(tf.placeholder(tf.float32, [3]), 1),
              tf.assert_type(tf.constant(1), tf.int32), tf.assert_integer(tf.constant(1))]
        assert all(o.type == "NoOp" for o in ok)
        # an unknown rank is checked when the run's rank is known
        u = tf.placeholder(tf.float32, name="u")
        r = tf.assert_rank(u, 2)
        with tf.Session() as sess:
            sess.run(r, {u: np.zeros((2, 2))})
            with pytest.raises(tf.errors.InvalidArgumentError, match="must have rank == 2"):
                sess.run(r, {u: np.zeros(3)})


def test_deprecated_aliases_build_the_current_ops(tmp_path):
    with tf.Graph().as_default():
        a = tf.constant([[1.0, -2.0], [3.0, 4.0]])
        b = tf.constant([[2.0, 2.0], [2.0, 2.0]])
        outs = [tf.mul(a, b), tf.sub(a, b), tf.neg(a), tf.select(a > 0, a, b),
                tf.pack([a, b]), tf.unpack(a)[1], tf.concat_v2([a, b], 1)]
        v = tf.Variable(1.0, name="v")
        s = tf.scalar_summary("loss", tf.reduce_sum(a))
        h = tf.histogram_summary("a", a)
        merged = tf.merge_all_summaries()
        assert tf.merge_summary([s, h]) is not None and tf.all_variables() == [v]
        tf.initialize_all_variables()
        with tf.Session() as sess:
            got = sess.run(outs + [merged])
            writer = tf.train.SummaryWriter(str(tmp_path))
            writer.add_summary(got[-1], 1)
            writer.close()
    x, y = np.array([[1.0, -2.0], [3.0, 4.0]]), np.full((2, 2), 2.0)
    want = [x * y, x - y, -x, np.where(x > 0, x, y), np.stack([x, y]), x[1],
            np.concatenate([x, y], 1)]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    assert isinstance(got[-1], bytes) and b"loss" in got[-1]
    assert tf.train.SummaryWriter is tf.summary.FileWriter
