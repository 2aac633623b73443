"""The gradient rule of the `conv` primitive (compiler/autodiff/conv_rules.py).

Both gradients are convs; they are checked against jax's vjp of
`jax.lax.conv_general_dilated` (an independent implementation of the transposes) over
many random configurations — 1 to 3 spatial axes, strides 1-3 (dividing the input or
not), rhs and lhs dilations, padding negative and asymmetric, a symbolic batch — all in
one graph, in the interpreter; then by finite differences (first and second order) and
against jax on the compiled (LLVM) program; the gradient kernels render as CUDA C that
NVRTC compiles and that runs (emulated without a GPU, on the GPU where there is one).
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from cuda_emulator import emulated_gpu

import compiler as fc
from compiler.backends.cuda import emit, nvrtc
from compiler.convert import convert
from compiler.frontend.core import make
from compiler.interpret import interpret
from compiler.lower import kir as K
from compiler.ops.conv import conv_out_size
from compiler.pipeline import build_program, kernels_text, plan_and_lower
from passes.manager import run_pipeline
from runtime import cuda_driver
from runtime.variables import VariableStore
from tests.autodiff_check import check_grads

jax.config.update("jax_enable_x64", True)

_SPATIAL = ("W", "HW", "DHW")
GPU = fc.CompileOptions(device="gpu")


def jax_conv(x, w, strides, padding, lhs_dilation, rhs_dilation):
    sp = _SPATIAL[x.ndim - 3]
    return jax.lax.conv_general_dilated(
        x, w, strides, padding, lhs_dilation, rhs_dilation,
        dimension_numbers=("N" + sp + "C", sp + "IO", "N" + sp + "C"))


def _random_config(rng):
    """Attrs and operand shapes of a conv whose output is not empty."""
    nsp = int(rng.integers(1, 4))
    while True:
        sizes = [int(rng.integers(1, 8 if nsp < 3 else 5)) for _ in range(nsp)]
        window = [int(rng.integers(1, 4)) for _ in range(nsp)]
        attrs = dict(
            strides=tuple(int(rng.integers(1, 4)) for _ in range(nsp)),
            padding=tuple((int(rng.integers(-2, 4)), int(rng.integers(-2, 4)))
                          for _ in range(nsp)),
            lhs_dilation=tuple(int(rng.choice([1, 1, 2, 3])) for _ in range(nsp)),
            rhs_dilation=tuple(int(rng.choice([1, 1, 2])) for _ in range(nsp)))
        out = [conv_out_size(sizes[i], window[i], attrs["strides"][i], attrs["padding"][i],
                             attrs["lhs_dilation"][i], attrs["rhs_dilation"][i])
               for i in range(nsp)]
        if min(out) >= 1:
            break
    n, ci, co = int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
    return (n, *sizes, ci), (*window, ci, co), attrs


_TRAINING_SHAPES = [  # as in training graphs: stride 2 not dividing, SAME-like pads
    ((2, 7, 7, 3), (3, 3, 3, 4), dict(strides=(2, 2), padding=((1, 1), (1, 1)),
                                      lhs_dilation=(1, 1), rhs_dilation=(1, 1))),
    ((2, 6, 5, 2), (2, 3, 2, 3), dict(strides=(3, 2), padding=((0, 1), (2, 0)),
                                      lhs_dilation=(1, 1), rhs_dilation=(2, 1))),
    ((1, 4, 3), (3, 3, 2), dict(strides=(1,), padding=((-1, 2),), lhs_dilation=(2,),
                                rhs_dilation=(1,))),
]


def test_random_configs_match_jax_vjp_in_the_interpreter():
    rng = np.random.default_rng(0)
    _check_against_jax([_random_config(rng) for _ in range(32)] + _TRAINING_SHAPES,
                       "interpret", rng, 1e-10)


def test_random_configs_match_jax_vjp_compiled():
    """The gradient convs' unusual attrs (negative pads, lhs dilation, windows as large
    as the input) through the LLVM nests, in float32."""
    rng = np.random.default_rng(1)
    _check_against_jax([_random_config(rng) for _ in range(6)] + _TRAINING_SHAPES, "llvm",
                       rng, 1e-4)


def _check_against_jax(configs, backend, rng, tol):
    dtype = np.float64 if backend == "interpret" else np.float32
    graph, fetches, feeds, wants = fc.Graph(), [], {}, []
    with graph.as_default():
        for xs, ws, attrs in configs:
            x, w = rng.standard_normal(xs), rng.standard_normal(ws)
            y, vjp = jax.vjp(lambda a, b, attrs=attrs: jax_conv(a, b, **attrs), x, w)
            gy = rng.standard_normal(y.shape)
            xp = fc.placeholder(fc.as_dtype(dtype), [None, *xs[1:]])     # a symbolic batch
            wp = fc.placeholder(fc.as_dtype(dtype), ws)
            out = make("conv", [xp, wp], **attrs)
            grads = fc.gradients(out, [xp, wp], grad_ys=fc.constant(gy.astype(dtype)))
            fetches.append([out, *grads])
            feeds.update({xp: x.astype(dtype), wp: w.astype(dtype)})
            wants.append([np.asarray(y), *map(np.asarray, vjp(gy))])
    config = fc.ConfigProto(backend="interpret") if backend == "interpret" else None
    with fc.Session(graph=graph, config=config) as sess:
        got = sess.run(fetches, feeds)
    for (xs, ws, attrs), g, want in zip(configs, got, wants):
        for what, a, b in zip(("value", "input gradient", "filter gradient"), g, want):
            assert a.shape == b.shape, (what, xs, ws, attrs)
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol,
                                       err_msg=f"{what} of {xs} * {ws} with {attrs}")


def test_gradients_are_convs_of_the_exact_shapes():
    """The rule builds conv primitives (no matmul, no scatter) whose results have the
    operands' shapes, with a symbolic batch as the filter gradient's contracted extent."""
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 9, 9, 3])
        w = fc.placeholder(fc.float32, [3, 3, 3, 8])
        y = make("conv", [x, w], strides=(2, 2), padding=((0, 1), (0, 1)),
                 lhs_dilation=(1, 1), rhs_dilation=(1, 1))
        gx, gw = fc.gradients(fc.reduce_sum(y), [x, w])
    assert gx.shape.as_list() == [None, 9, 9, 3] and gw.shape.as_list() == [3, 3, 3, 8]
    types = {op.type for op in g.get_operations()}
    assert "conv" in types and not types & {"matmul", "scatter_add", "gather"}
    convs = [op for op in g.get_operations() if op.type == "conv"]
    assert len(convs) == 3
    (dx,) = [op for op in convs if op.attrs["lhs_dilation"] == (2, 2)]   # dilated by strides
    assert dx.attrs["strides"] == (1, 1) and dx.outputs[0].shape.as_list() == [None, 9, 9, 3]
    (dw,) = [op for op in convs if op.attrs["rhs_dilation"] == (2, 2)]   # x^T * dy^T
    assert dw.outputs[0].shape.as_list() == [3, 3, 3, 8]


# compiled --------------------------------------------------------------------------------
_FD_CASES = [
    ((2, 5, 6, 2), (3, 2, 2, 3), dict(strides=(2, 1), padding=((1, 1), (0, 1)),
                                      lhs_dilation=(1, 1), rhs_dilation=(1, 2))),
    ((1, 7, 2), (2, 2, 2), dict(strides=(3,), padding=((-1, 2),), lhs_dilation=(2,),
                                rhs_dilation=(1,))),
    ((1, 3, 4, 3, 1), (2, 2, 2, 1, 2), dict(strides=(1, 2, 1), padding=((1, 0),) * 3,
                                            lhs_dilation=(1, 1, 1), rhs_dilation=(1, 1, 1))),
]


def _several(x1, w1, x2, w2, x3, w3):
    """The three FD cases as one output (one compile)."""
    outs = [make("conv", [x, w], **attrs) for (x, w), (_, _, attrs)
            in zip(((x1, w1), (x2, w2), (x3, w3)), _FD_CASES)]
    return fc.concat([fc.reshape(o, [-1]) for o in outs], axis=0)


_SPECS = [s for xs, ws, _ in _FD_CASES for s in ((xs, -1, 1), (ws, -1, 1))]


@pytest.mark.parametrize("backend", ["llvm", "interpret"])
def test_finite_differences(backend):
    check_grads(_several, _SPECS, backend)


def test_second_order_finite_differences_interpreted():
    """The gradient of the gradient: the rule applied to its own gradient convs (lhs
    dilation, negative pads) is right too."""
    check_grads(_several, _SPECS, "interpret", order=2)


def test_small_cnn_gradients_match_jax_grad_compiled():
    """conv -> relu -> strided conv -> sum of squares, with a symbolic batch: d loss / d
    (both filters and the input) on LLVM against jax.grad, in float64; all six convs
    take the register-blocked nest."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 8, 8, 2))
    w1, w2 = rng.standard_normal((3, 3, 2, 4)) * 0.5, rng.standard_normal((2, 2, 4, 3)) * 0.5
    a1 = dict(strides=(1, 1), padding=((1, 1), (1, 1)), lhs_dilation=(1, 1),
              rhs_dilation=(1, 1))
    a2 = dict(strides=(2, 2), padding=((0, 1), (0, 1)), lhs_dilation=(1, 1),
              rhs_dilation=(1, 1))

    def jax_loss(x, w1, w2):
        h = jax.nn.relu(jax_conv(x, w1, **a1))
        return (jax_conv(h, w2, **a2) ** 2).sum()

    g = fc.Graph()
    with g.as_default():
        xp = fc.placeholder(fc.float64, [None, 8, 8, 2])
        v1, v2 = fc.Variable(w1), fc.Variable(w2)
        h = fc.nn.relu(make("conv", [xp, fc.convert_to_tensor(v1)], **a1))
        loss = fc.reduce_sum(fc.square(make("conv", [h, fc.convert_to_tensor(v2)], **a2)))
        grads = fc.gradients(loss, [xp, v1, v2])
        with fc.Session() as sess:
            sess.run(fc.global_variables_initializer())
            got = sess.run([loss] + grads, {xp: x})
        # every conv, the filter gradients whose contracted channel is the symbolic batch
        # included, takes the register-blocked nest (not the slow generic one)
        options = fc.CompileOptions()          # the kernels from lowering alone (no LLVM)
        program, _ = run_pipeline(convert(g, [loss] + grads, [xp]), options)
        kernels = kernels_text(plan_and_lower(program, options)[1])
        assert kernels.count("# nest: register-blocked direct conv") == 6, kernels
    want_loss = jax_loss(x, w1, w2)
    want = jax.grad(jax_loss, argnums=(0, 1, 2))(x, w1, w2)
    np.testing.assert_allclose(got[0], want_loss, rtol=1e-10)
    for a, b in zip(got[1:], want):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-9, atol=1e-10)


# CUDA ---------------------------------------------------------------------------------------
def _cuda_grad_program():
    """tf.nn.conv2d (SAME, stride 2, NCHW), conv2d_transpose and conv1d with their
    gradients for a symbolic batch, as one converted program."""
    rng = np.random.default_rng(5)
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 3, 7, 6])
        w = fc.placeholder(fc.float32, [3, 3, 3, 4])
        y = fc.nn.relu(fc.nn.conv2d(x, w, [1, 1, 2, 2], "SAME", data_format="NCHW"))
        wt = fc.placeholder(fc.float32, [2, 2, 2, 4])
        up = fc.nn.conv2d_transpose(y, wt, [fc.shape(x)[0], 2, 8, 6], [1, 1, 2, 2], "VALID",
                                    data_format="NCHW")
        s = fc.placeholder(fc.float32, [None, 9, 2])
        k = fc.placeholder(fc.float32, [3, 2, 3])
        z = fc.nn.conv1d(s, k, 2, "SAME", dilations=2)
        loss = fc.reduce_sum(up * up) + fc.reduce_sum(z * z)
        grads = fc.gradients(loss, [x, w, wt, s, k])
    feeds = {x: rng.standard_normal((2, 3, 7, 6)), w: rng.standard_normal((3, 3, 3, 4)),
             wt: rng.standard_normal((2, 2, 2, 4)), s: rng.standard_normal((2, 9, 2)),
             k: rng.standard_normal((3, 2, 3))}
    ins = list(feeds)
    return convert(g, [loss, *grads], ins), [feeds[i].astype(np.float32) for i in ins]


def _gpu_run(emulated):
    program, arrays = _cuda_grad_program()
    prog, _ = run_pipeline(program, GPU)
    want, _ = interpret(program, arrays)
    if emulated:
        _, low = plan_and_lower(prog, GPU)
        assert sum(k.kind == "conv" for k in low.kernels) >= 5
        module = emit.emit_module(K.LoweredProgram([], low.kernels, [], [], {}), "conv_grad")
        assert len(nvrtc.compile_cubin(module, "sm_90")) > 0
        with emulated_gpu():
            got = build_program(prog, GPU).run(arrays, VariableStore())
    else:
        got = build_program(prog, GPU).run(arrays, VariableStore())
    for a, r in zip(got, want):
        np.testing.assert_allclose(np.asarray(a, np.float64), r, rtol=2e-4, atol=2e-3)


def test_cuda_gradient_kernels_compile_with_nvrtc_and_run_emulated():
    _gpu_run(emulated=True)


@pytest.mark.skipif(not cuda_driver.gpu_available(), reason="no GPU on this machine")
def test_cuda_gradients_on_the_gpu():
    _gpu_run(emulated=False)


@pytest.mark.parametrize("backend", ["llvm", "interpret"])
def test_grad_ys_fed_without_a_static_shape(backend):
    """`tf.gradients(y, [x, w], grad_ys=dy)` with `dy` a placeholder of unknown shape: the
    gradient convs take the forward output's static extents (a reshape of dy), and a dy
    of the wrong size is an error, not a wrong answer."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 7, 7, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    g = fc.Graph()
    with g.as_default():
        xp = fc.placeholder(fc.float32, [None, 7, 7, 3])
        wp = fc.placeholder(fc.float32, [3, 3, 3, 4])
        y = fc.nn.conv2d(xp, wp, strides=[1, 2, 2, 1], padding="SAME")
        dy = fc.placeholder(fc.float32, None)
        gx, gw = fc.gradients(y, [xp, wp], grad_ys=dy)
        config = fc.ConfigProto(backend="interpret") if backend == "interpret" else None
        with fc.Session(graph=g, config=config) as sess:
            dyv = rng.standard_normal((2, 4, 4, 4)).astype(np.float32)
            got_x, got_w = sess.run([gx, gw], {xp: x, wp: w, dy: dyv})
            with pytest.raises(Exception, match="reshape|size"):
                sess.run(gx, {xp: x, wp: w, dy: dyv[:, :3]})
    _, vjp = jax.vjp(lambda a, b: jax_conv(a, b, (2, 2), ((1, 1), (1, 1)), (1, 1), (1, 1)),
                     x, w)
    want_x, want_w = vjp(dyv)
    np.testing.assert_allclose(got_x, want_x, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got_w, want_w, rtol=1e-4, atol=1e-4)
