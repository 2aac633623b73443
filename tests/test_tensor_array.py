"""tf.TensorArray outside loops, as TF1 programs write it (Python-unrolled use): write,
read, stack, unstack, gather, scatter, concat, size and dynamic_size, against numpy
written here from TF1's documented semantics, on both backends; run-time index errors
naming the op; gradients by finite differences and jax.grad (jnp `.at[].set`); and the
`dynamic_update_slice` primitive that a write is."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from autodiff_check import check_grads

import compiler as tf
from runtime.errors import ExecutionError

BACKENDS = ("llvm", "interpret")
jax.config.update("jax_enable_x64", True)


def _session(backend):
    config = tf.ConfigProto(backend="interpret") if backend == "interpret" else None
    return tf.Session(config=config)


@pytest.fixture(autouse=True)
def _graph():
    with tf.Graph().as_default() as g:
        yield g


@pytest.mark.parametrize("backend", BACKENDS)
def test_write_read_stack_in_a_python_loop(backend):
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    ta = tf.TensorArray(tf.float32, size=4)
    h = x
    for t in range(4):
        h = tf.tanh(h * 0.5 + float(t))
        ta = ta.write(t, h)
    stacked = ta.stack()
    second = ta.read(tf.constant(2))
    assert stacked.shape.as_list() == [4, None, 3]
    xv = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    want, hv = [], xv
    for t in range(4):
        hv = np.tanh(hv * 0.5 + t)
        want.append(hv)
    with _session(backend) as sess:
        got, got2, n = sess.run([stacked, second, ta.size()], {x: xv})
    np.testing.assert_allclose(got, np.stack(want), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got2, want[2], rtol=1e-6, atol=1e-6)
    assert n == 4 and n.dtype == np.int32


@pytest.mark.parametrize("backend", BACKENDS)
def test_unstack_gather_concat_size_with_a_symbolic_size(backend):
    x = tf.placeholder(tf.float64, [None, 2, 3], name="x")
    ta = tf.TensorArray(tf.float64, size=tf.shape(x)[0]).unstack(x)
    idx = tf.placeholder(tf.int32, [None], name="idx")
    g = ta.gather(idx)
    cat = ta.concat()
    xv = np.arange(24.0).reshape(4, 2, 3)
    with _session(backend) as sess:
        got_g, got_cat, n = sess.run([g, cat, ta.size()], {x: xv, idx: [3, 0, 3]})
    np.testing.assert_array_equal(got_g, xv[[3, 0, 3]])
    np.testing.assert_array_equal(got_cat, xv.reshape(8, 3))  # TF1: rows joined on axis 0
    assert n == 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_scatter_writes_rows_and_unwritten_rows_are_zero(backend):
    v = tf.placeholder(tf.float32, [2, 3], name="v")
    ta = tf.TensorArray(tf.float32, size=4, element_shape=[3])
    ta = ta.scatter([3, 1], v).write(0, tf.ones([3]))
    vv = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
    want = np.zeros((4, 3), np.float32)
    want[[3, 1]] = vv
    want[0] = 1
    with _session(backend) as sess:
        got, r2 = sess.run([ta.stack(), ta.read(2)], {v: vv})
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(r2, np.zeros(3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_later_write_overwrites_and_the_old_array_is_unchanged(backend):
    ta0 = tf.TensorArray(tf.int32, size=3).write(1, [1, 2])
    ta1 = ta0.write(1, [7, 8])   # value semantics: ta0 keeps its rows
    with _session(backend) as sess:
        a, b = sess.run([ta0.stack(), ta1.stack()])
    np.testing.assert_array_equal(a, [[0, 0], [1, 2], [0, 0]])
    np.testing.assert_array_equal(b, [[0, 0], [7, 8], [0, 0]])


@pytest.mark.parametrize("backend", BACKENDS)
def test_dynamic_size_grows_on_static_writes(backend):
    ta = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
    for t in range(3):
        ta = ta.write(t, tf.fill([2], float(t + 1)))
    with _session(backend) as sess:
        got, n = sess.run([ta.stack(), ta.size()])
    np.testing.assert_array_equal(got, [[1, 1], [2, 2], [3, 3]])
    assert n == 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_time_index_out_of_range_names_the_op(backend):
    i = tf.placeholder(tf.int32, [], name="i")
    ta = tf.TensorArray(tf.float32, size=3).write(i, tf.ones([2]), name="my_write")
    r = ta.read(i, name="my_read")
    with _session(backend) as sess:
        np.testing.assert_array_equal(sess.run(r, {i: 2}), [1, 1])
        for bad in (3, -1):
            with pytest.raises(ExecutionError, match="my_write.*out of range"):
                sess.run(ta.stack(), {i: bad})
    j = tf.placeholder(tf.int32, [], name="j")
    r2 = tf.TensorArray(tf.float32, size=3, element_shape=[2]).read(j, name="my_read2")
    with _session(backend) as sess:
        with pytest.raises(ExecutionError, match="my_read2.*out of range"):
            sess.run(r2, {j: 5})


def test_build_time_errors_are_clear():
    with pytest.raises(ValueError, match="size is required"):
        tf.TensorArray(tf.float32)
    with pytest.raises(TypeError, match="only known at run time"):
        tf.TensorArray(tf.float32, size=tf.placeholder(tf.int32, []))
    ta = tf.TensorArray(tf.float32, size=2, name="acc")
    with pytest.raises(ValueError, match="'acc'.*out of range for size 2.*dynamic_size"):
        ta.write(2, [1.0])
    with pytest.raises(TypeError, match="'acc'.write.*int32.*float32"):
        ta.write(0, tf.constant([1, 2]))
    with pytest.raises(ValueError, match="'acc'.stack: nothing has been written"):
        ta.stack()
    ta = ta.write(0, [1.0, 2.0])
    with pytest.raises(ValueError, match=r"shape \[3\] does not match the element shape"):
        ta.write(1, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="has 3 rows, the TensorArray has size 2"):
        tf.TensorArray(tf.float32, size=2).unstack(tf.zeros([3, 1]))
    with pytest.raises(TypeError, match="index must be an int scalar"):
        ta.read(tf.constant([0, 1]))


def _unrolled(x, w):
    """rows h_t = sin(h_{t-1} * w) written to a TensorArray, read back in reverse order
    and stacked: exercises write, read and stack gradients."""
    ta = tf.TensorArray(tf.float64, size=3)
    h = x
    for t in range(3):
        h = tf.sin(h * w)
        ta = ta.write(t, h)
    back = tf.TensorArray(tf.float64, size=3)
    for t in range(3):
        back = back.write(t, ta.read(2 - t) * float(t + 1))
    return back.stack() + ta.stack()


@pytest.mark.parametrize("backend", ("interpret", "llvm"))
def test_gradients_by_finite_differences(backend):
    check_grads(_unrolled, [((2,), -1, 1), ((2,), 0.5, 1.5)], backend)
    check_grads(lambda x: tf.TensorArray(tf.float64, size=3).unstack(x).scatter(
        [2, 0], tf.exp(x[:2])).stack() * x, [((3, 2), -1, 1)], backend)


def test_gradients_match_jax():
    def ref(x, w):
        buf, h = jnp.zeros((3, 2)), x
        for t in range(3):
            h = jnp.sin(h * w)
            buf = buf.at[t].set(h)
        back = jnp.zeros((3, 2))
        for t in range(3):
            back = back.at[t].set(buf[2 - t] * (t + 1))
        return jnp.sum((back + buf) ** 2)
    xv, wv = np.array([0.3, -0.7]), np.array([1.1, 0.9])
    x = tf.placeholder(tf.float64, [2])
    w = tf.placeholder(tf.float64, [2])
    loss = tf.reduce_sum(_unrolled(x, w) ** 2)
    grads = tf.gradients(loss, [x, w])
    with tf.Session() as sess:
        got = sess.run([loss] + grads, {x: xv, w: wv})
    want = [ref(xv, wv)] + list(jax.grad(ref, argnums=(0, 1))(xv, wv))
    for g, r in zip(got, want):
        np.testing.assert_allclose(g, np.asarray(r), rtol=1e-10)


def test_a_loop_writes_its_tensor_array_in_place():
    """In a while loop, a write whose buffer is the loop variable stores its row into
    the loop variable's buffer: the kernel has the row loop only, no copy of the array,
    and the loop copies nothing back for it (lower/program.py `_in_place_results`)."""
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    n = tf.shape(x)[0]
    ta = tf.TensorArray(tf.float32, size=n)
    _, ta = tf.while_loop(lambda i, ta: i < n, lambda i, ta: (i + 1, ta.write(i, x[i] * 2)),
                          [0, ta])
    text = tf.dump(ta.stack(), [x], stages=["kernels"])["kernels"]
    kernel = text[text.index("single_dynamic_update_slice("):].split("\n\n")[0]
    assert kernel.count("for ") == 1, kernel     # the row; no copy of the array
    body = text[text.index("while b"):].splitlines()[1:]
    call = next(ln for ln in body if "dynamic_update_slice(" in ln)
    array = call.split("(")[1].split(", ")[2]    # the buffer of its output (param p2)
    assert [ln for ln in body if array in ln] == [call]   # nothing copied back into it
    with tf.Session() as sess:
        xv = np.arange(12, dtype=np.float32).reshape(4, 3)
        np.testing.assert_array_equal(sess.run(ta.stack(), {x: xv}), 2 * xv)


@pytest.mark.parametrize("backend", BACKENDS)
def test_writes_that_read_the_array_stay_correct(backend):
    """Bodies that read the array they write keep TF1's value semantics (these writes
    are not done in place): a row computed from the same row reversed, and the old
    array read by a kernel that runs after the write."""
    x = tf.placeholder(tf.float32, [4, 3], name="x")
    ta = tf.TensorArray(tf.float32, size=4).unstack(x)
    flip = tf.while_loop(lambda i, ta: i < 4,
                         lambda i, ta: (i + 1, ta.write(i, tf.reverse(ta.read(i), [0]))),
                         [0, ta])[1]

    def body(i, ta, acc):
        return i + 1, ta.write(i, x[i] * 2.0), acc + tf.reduce_sum(ta.stack(), axis=0)
    _, doubled, acc = tf.while_loop(lambda i, ta, acc: i < 4, body,
                                    [0, tf.TensorArray(tf.float32, size=4).unstack(x),
                                     tf.zeros([3])])
    xv = np.arange(12, dtype=np.float32).reshape(4, 3)
    total, rows = np.zeros(3, np.float32), xv.copy()
    for i in range(4):
        total = total + rows.sum(0)          # the array before this iteration's write
        rows[i] = xv[i] * 2
    with _session(backend) as sess:
        got_flip, got_rows, got_acc = sess.run([flip.stack(), doubled.stack(), acc],
                                               {x: xv})
    np.testing.assert_array_equal(got_flip, xv[:, ::-1])
    np.testing.assert_array_equal(got_rows, rows)
    np.testing.assert_allclose(got_acc, total, rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_tensor_arrays_as_cond_results(backend):
    x = tf.placeholder(tf.float32, [3], name="x")
    p = tf.placeholder(tf.bool, [], name="p")
    ta = tf.TensorArray(tf.float32, size=2, element_shape=[3])
    out = tf.cond(p, lambda: ta.write(0, x), lambda: ta.write(1, x * 2))
    assert isinstance(out, tf.TensorArray)
    (g,) = tf.gradients(tf.reduce_sum(out.stack() ** 2), x)
    xv = np.array([1, 2, 3], np.float32)
    with _session(backend) as sess:
        for pv, row, scale in ((True, 0, 1), (False, 1, 2)):
            got, dx = sess.run([out.stack(), g], {x: xv, p: pv})
            want = np.zeros((2, 3), np.float32)
            want[row] = xv * scale
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(dx, 2 * scale * scale * xv)


def test_a_probe_that_would_create_variables_is_refused():
    x = tf.placeholder(tf.float32, [4, 2, 3])
    cell = tf.nn.rnn_cell.BasicRNNCell(5)
    out = tf.TensorArray(tf.float32, size=4)

    def body(t, h, out):
        y, h = cell(x[t], h)
        return t + 1, h, out.write(t, y)
    with pytest.raises(ValueError, match="creates the variable 'basic_rnn_cell/kernel'"):
        tf.while_loop(lambda t, h, out: t < 4, body, [0, tf.zeros([2, 5]), out])
    assert tf.global_variables() == []
