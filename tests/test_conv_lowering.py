"""Lowering of the `conv` primitive (compiler/lower/conv_nests.py): compiled on LLVM and
interpreted, both against jax.lax.conv_general_dilated (an independent implementation),
over random attribute combinations (1 to 3 spatial axes, strides, padding including
negative, lhs and rhs dilation) with a symbolic batch, in float16/32/64; convs whose
operands are fused movement ops (an NCHW input transposed, a filter transposed) and
whose output feeds an elementwise chain (fused as the conv kernel's epilogue); and the
CUDA rendering (NVRTC compiles it; tests/cuda_emulator.py runs it on the CPU)."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest
from cuda_emulator import emulated_gpu

import compiler as tf
from compiler.backends.cuda import emit, nvrtc
from compiler.backends.llvm.target import cpu_schedule
from compiler.convert import convert
from compiler.frontend.core import make
from compiler.interpret import interpret
from compiler.lower import kir as K
from compiler.pipeline import build_program, kernels_text, plan_and_lower
from passes.fusion import format_plan, plan_kernels
from passes.manager import run_pipeline
from runtime.variables import VariableStore

jax.config.update("jax_enable_x64", True)  # float64 references (as test_autodiff_jax.py)
GPU = tf.CompileOptions(device="gpu")
_LAYOUT = {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC"),
           3: ("NDHWC", "DHWIO", "NDHWC")}


def jax_conv(x, w, strides, padding, lhs_dilation, rhs_dilation):
    out = jax.lax.conv_general_dilated(
        x, w, strides, [tuple(p) for p in padding], lhs_dilation, rhs_dilation,
        dimension_numbers=_LAYOUT[x.ndim - 2], precision=jax.lax.Precision.HIGHEST)
    return np.asarray(out)


def _conv(x, w, strides, padding, lhs_dilation=None, rhs_dilation=None):
    n = len(strides)
    return make("conv", [x, w], strides=tuple(strides), padding=tuple(padding),
                lhs_dilation=tuple(lhs_dilation or (1,) * n),
                rhs_dilation=tuple(rhs_dilation or (1,) * n))


def _random_config(rng):
    """(x shape without batch, w shape, attrs) of a valid conv."""
    while True:
        nsp = int(rng.integers(1, 4))
        ci, co = int(rng.integers(1, 5)), int(rng.integers(1, 6))
        size = [int(rng.integers(1, 9 if nsp < 3 else 5)) for _ in range(nsp)]
        k = [int(rng.integers(1, 4)) for _ in range(nsp)]
        attrs = dict(strides=tuple(int(rng.integers(1, 4)) for _ in range(nsp)),
                     padding=tuple((int(rng.integers(-2, 4)), int(rng.integers(-2, 4)))
                                   for _ in range(nsp)),
                     lhs_dilation=tuple(int(rng.integers(1, 4)) for _ in range(nsp)),
                     rhs_dilation=tuple(int(rng.integers(1, 3)) for _ in range(nsp)))
        from compiler.ops.conv import conv_out_size
        outs = [conv_out_size(size[i], k[i], attrs["strides"][i], attrs["padding"][i],
                              attrs["lhs_dilation"][i], attrs["rhs_dilation"][i])
                for i in range(nsp)]
        if min(outs) >= 1:
            return (*size, ci), (*k, ci, co), attrs


def _kernels_dump(g, fetches, feeds, options=None):
    """The `kernels` stage text of the compiled program (lowering only: no LLVM)."""
    options = options or tf.CompileOptions()
    program, _ = run_pipeline(convert(g, fetches, feeds), options)
    return kernels_text(plan_and_lower(program, options)[1])


def _run_both(g, fetches, feeds):
    """The fetches from the compiled default Session (LLVM) and the interpreter."""
    with tf.Session(graph=g) as s:
        got = s.run(fetches, feeds)
    with tf.Session(graph=g, config=tf.ConfigProto(backend="interpret")) as s:
        ref = s.run(fetches, feeds)
    return got, ref


TOL = {"float16": 2e-2, "float32": 2e-5, "float64": 1e-12}


def _close(a, b, dtype="float32"):
    scale = max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    np.testing.assert_allclose(a, b, rtol=TOL[dtype], atol=TOL[dtype] * scale)


def test_random_configs_match_jax_compiled_and_interpreted():
    rng = np.random.default_rng(15)
    configs = [_random_config(rng) for _ in range(14)]
    # the edge cases by name: negative padding on both sides, lhs dilation with padding
    # past the holes, a window as large as the padded input
    configs += [((7, 6, 2), (3, 2, 2, 3), dict(strides=(2, 3), padding=((-1, -2), (2, -1)),
                                             lhs_dilation=(1, 1), rhs_dilation=(1, 2))),
                ((4, 3), (3, 3, 2), dict(strides=(1,), padding=((3, 3),), lhs_dilation=(3,),
                                         rhs_dilation=(1,))),
                ((2, 2, 1), (4, 4, 1, 2), dict(strides=(1, 1), padding=((1, 1), (1, 1)),
                                               lhs_dilation=(1, 1), rhs_dilation=(1, 1)))]
    g = tf.Graph()
    feeds, fetches, want = {}, [], []
    with g.as_default():
        for xs, ws, attrs in configs:
            x = tf.placeholder(tf.float32, [None, *xs])
            w = tf.placeholder(tf.float32, list(ws))
            fetches.append(_conv(x, w, **attrs))
            feeds[x] = rng.standard_normal((3, *xs)).astype(np.float32)
            feeds[w] = rng.standard_normal(ws).astype(np.float32)
            want.append(jax_conv(feeds[x], feeds[w], **attrs))
    got, ref = _run_both(g, fetches, feeds)
    for a, r, j, cfg in zip(got, ref, want, configs):
        assert a.shape == j.shape, cfg
        _close(r, j)
        _close(a, j)
    # the same compiled program at other batch sizes (the batch is a symbol), 0 included
    with tf.Session(graph=g) as s:
        for n in (1, 0):
            sub = {k: v[:n] if k.get_shape().as_list()[0] is None else v
                   for k, v in feeds.items()}
            for a, (_, _, attrs), t in zip(s.run(fetches, sub), configs, fetches):
                x, w = t.op.inputs
                _close(a, jax_conv(sub[x], sub[w], **attrs))


def _fast_configs():
    """(static batch or None, x shape, w shape, attrs) of convs that take the
    register-blocked nest (lhs_dilation 1): channel counts below, at and past a panel
    (with a partial last panel), rows shorter and longer than a register tile, windows
    inside x (a negative pad crops) and reaching padding (window bounds per row, border
    positions), strides and rhs dilation, 1 and 3 spatial axes; and batch tiling (a
    window nearly as large as x, few output positions: a filter gradient's shape) with a
    partial last batch block."""
    return [(None, (9, 8, 3), (3, 3, 3, 40), dict(strides=(1, 1), padding=((1, 1), (1, 1)))),
            (None, (10, 13, 5), (3, 2, 5, 32), dict(strides=(2, 1), padding=((0, 0), (0, 0)))),
            (None, (7, 9, 4), (2, 3, 4, 70), dict(strides=(1, 2), padding=((-1, 0), (0, -2)),
                                                  rhs_dilation=(2, 1))),
            (None, (11, 2), (3, 2, 6), dict(strides=(1,), padding=((2, 1),))),
            (None, (5, 4, 6, 3), (2, 2, 3, 3, 33), dict(strides=(1, 1, 2),
                                                        padding=((1, 0), (0, 1), (1, 1)))),
            (None, (3, 3, 2), (3, 3, 2, 5), dict(strides=(1, 1), padding=((1, 1), (1, 1)))),
            (9, (10, 9, 3), (8, 8, 3, 40), dict(strides=(1, 1), padding=((1, 1), (1, 1)))),
            (13, (7, 3), (6, 3, 4), dict(strides=(1,), padding=((0, 0),), rhs_dilation=(1,)))]


def test_register_blocked_nest_matches_jax_and_says_so_in_the_dump():
    rng = np.random.default_rng(5)
    g = tf.Graph()
    feeds, fetches, want = {}, [], []
    with g.as_default():
        for k, (batch, xs, ws, attrs) in enumerate(_fast_configs()):
            x = tf.placeholder(tf.float64 if k == 1 else tf.float32, [batch, *xs])
            w = tf.placeholder(x.dtype, list(ws))
            y = _conv(x, w, **attrs)
            fetches.append(tf.nn.relu(y - 0.5) if k % 2 else y)
            npdt = x.dtype.as_numpy_dtype
            feeds[x] = rng.standard_normal((batch or 2, *xs)).astype(npdt)
            feeds[w] = rng.standard_normal(ws).astype(npdt)
            nsp = len(attrs["strides"])
            full = {"lhs_dilation": (1,) * nsp, "rhs_dilation": (1,) * nsp, **attrs}
            j = jax_conv(feeds[x].astype(np.float64), feeds[w].astype(np.float64), **full)
            want.append(np.maximum(j - 0.5, 0) if k % 2 else j)
    got, ref = _run_both(g, fetches, feeds)
    # the AVX2 schedule's tile (4 positions x 16 channels) on the same graph
    v3 = tf.ConfigProto(compile_options=tf.CompileOptions(target_cpu="x86-64-v3"))
    with tf.Session(graph=g, config=v3) as sess:
        got_v3 = sess.run(fetches, feeds)
    for k, (a, r, j, a3) in enumerate(zip(got, ref, want, got_v3)):
        dt = "float64" if k == 1 else "float32"
        _close(a.astype(np.float64), j, dt)
        _close(r.astype(np.float64), j, dt)
        _close(a3.astype(np.float64), j, dt)
    kernels = _kernels_dump(g, fetches, list(feeds))
    assert kernels.count("# nest: register-blocked direct conv") == len(fetches), kernels
    tiles = cpu_schedule("host").conv   # AVX-512: 6 x (2 x 16 lanes); AVX2: 4 x (2 x 8)
    assert f"row tiling: {tiles.micro_rows} positions x {tiles.j_vec(4)} channels" in kernels
    assert "x read in place, 2 border position(s) per row" in kernels  # the 3x3, pad 1
    assert kernels.count(f"batch tiling: {tiles.micro_rows} batch entries") == 2


def test_filter_gradient_shape_blocks_the_window_rows(monkeypatch):
    """Batch tiling with a window larger than a block of the packed filter: the window
    rows are summed block by block into the output (the epilogue after the last), here
    with blocks of one row (a schedule whose block budget is tiny) and a partial last
    batch block and panel."""
    from compiler.backends.llvm import target
    from compiler.lower.schedule import conv_tiles
    monkeypatch.setenv("FLOWC_CACHE", "0")   # the schedule is not part of the cache key
    monkeypatch.setattr(target, "conv_tiles", lambda vb: dataclasses.replace(
        conv_tiles(vb), panel_block_bytes=64))
    rng = np.random.default_rng(6)
    attrs = dict(strides=(1, 1), padding=((1, 2), (1, 1)))
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [7, 12, 11, 3])
        w = tf.placeholder(tf.float32, [9, 8, 3, 37])
        y = tf.nn.relu(_conv(x, w, **attrs) - 0.5)
    feeds = {x: rng.standard_normal((7, 12, 11, 3)).astype(np.float32),
             w: rng.standard_normal((9, 8, 3, 37)).astype(np.float32)}
    with tf.Session(graph=g) as s:
        got = s.run(y, feeds)
    want = np.maximum(jax_conv(feeds[x].astype(np.float64), feeds[w].astype(np.float64),
                               lhs_dilation=(1, 1), rhs_dilation=(1, 1), **attrs) - 0.5, 0)
    _close(got.astype(np.float64), want)
    kernels = _kernels_dump(g, [y], [x, w])
    assert "batch tiling" in kernels and "window rows in blocks of 1" in kernels, kernels


def test_float16_and_float64():
    rng = np.random.default_rng(1)
    attrs = dict(strides=(2, 1), padding=((1, 1), (2, 0)), lhs_dilation=(1, 2),
                 rhs_dilation=(1, 1))
    g = tf.Graph()
    feeds, fetches = {}, []
    with g.as_default():
        for dt in (tf.float16, tf.float64):
            x = tf.placeholder(dt, [None, 6, 5, 3])
            w = tf.placeholder(dt, [3, 2, 3, 4])
            fetches.append(_conv(x, w, **attrs))
            feeds[x] = rng.standard_normal((2, 6, 5, 3)).astype(dt.as_numpy_dtype)
            feeds[w] = rng.standard_normal((3, 2, 3, 4)).astype(dt.as_numpy_dtype)
    got, ref = _run_both(g, fetches, feeds)
    for a, r, t in zip(got, ref, fetches):
        x, w = t.op.inputs
        dt = x.dtype.as_numpy_dtype
        assert a.dtype == r.dtype == dt
        j = jax_conv(feeds[x].astype(np.float64), feeds[w].astype(np.float64), **attrs)
        _close(a.astype(np.float64), j, np.dtype(dt).name)
        _close(r.astype(np.float64), j, np.dtype(dt).name)


def _nchw_graph():
    """An NCHW input transposed to NHWC, a filter stored [Co, Ci, H, W] transposed to
    HWIO, and the conv's output through bias, scale/shift and relu."""
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 3, 7, 6], name="x_nchw")
        w = tf.placeholder(tf.float32, [4, 3, 3, 3], name="w_oihw")
        bias = tf.placeholder(tf.float32, [4], name="bias")
        y = _conv(tf.transpose(x, [0, 2, 3, 1]), tf.transpose(w, [2, 3, 1, 0]), (1, 2),
                  ((1, 1), (1, 1)))
        z = tf.nn.relu((y + bias) * 0.5 - 0.25)
    return g, x, w, bias, z


def test_fused_movement_operands_and_elementwise_epilogue():
    rng = np.random.default_rng(2)
    g, x, w, bias, z = _nchw_graph()
    feeds = {x: rng.standard_normal((2, 3, 7, 6)).astype(np.float32),
             w: rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
             bias: rng.standard_normal(4).astype(np.float32)}
    got, ref = _run_both(g, [z], feeds)
    j = jax_conv(feeds[x].transpose(0, 2, 3, 1), feeds[w].transpose(2, 3, 1, 0), (1, 2),
                 ((1, 1), (1, 1)), (1, 1), (1, 1))
    want = np.maximum((j + feeds[bias]) * 0.5 - 0.25, 0)
    _close(got[0], want)
    _close(ref[0], want)
    # one kernel: the transposes are index arithmetic on the conv's loads, the chain
    # its epilogue
    program, _ = run_pipeline(convert(g, [z], [x, w, bias]), tf.CompileOptions())
    plan = plan_kernels(program)
    assert [gr.kind for gr in plan.groups] == ["conv"], format_plan(plan)


def _cuda_program():
    rng = np.random.default_rng(3)
    g = tf.Graph()
    feeds, fetches = {}, []
    with g.as_default():
        for xs, ws, attrs in [_random_config(rng) for _ in range(3)]:
            x = tf.placeholder(tf.float32, [None, *xs])
            w = tf.placeholder(tf.float32, list(ws))
            fetches.append(tf.nn.relu(_conv(x, w, **attrs)))
            feeds[x] = rng.standard_normal((2, *xs)).astype(np.float32)
            feeds[w] = rng.standard_normal(ws).astype(np.float32)
        x = tf.placeholder(tf.float16, [None, 5, 4, 2])
        w = tf.placeholder(tf.float16, [2, 2, 2, 3])
        fetches.append(_conv(x, w, (1, 1), ((1, 0), (0, 1)), (2, 1), (1, 2)))
        feeds[x] = rng.standard_normal((2, 5, 4, 2)).astype(np.float16)
        feeds[w] = rng.standard_normal((2, 2, 2, 3)).astype(np.float16)
    ins = list(feeds)
    return convert(g, fetches, ins), [feeds[i] for i in ins]


def test_cuda_renders_conv_kernels_that_nvrtc_compiles_and_that_run_emulated():
    program, arrays = _cuda_program()
    prog, _ = run_pipeline(program, GPU)
    _, low = plan_and_lower(prog, GPU)
    kinds = {k.kind for k in low.kernels}
    assert "conv" in kinds
    module = emit.emit_module(K.LoweredProgram([], low.kernels, [], [], {}), "conv")
    assert len(nvrtc.compile_cubin(module, "sm_90")) > 0
    want, _ = interpret(program, arrays)
    with emulated_gpu():
        got = build_program(prog, GPU).run(arrays, VariableStore())
    for a, r in zip(got, want):
        _close(a.astype(np.float64), r.astype(np.float64), np.dtype(r.dtype).name)


def test_bad_conv_input_names_the_op():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 5, 5, 3])
        w = tf.placeholder(tf.float32, [3, 3, 2, 4])
        with pytest.raises(Exception, match="conv"):
            _conv(x, w, (1, 1), ((0, 0), (0, 0)))


def test_epilogue_fusion_kernel_counts_and_reasons():
    """A ResNet basic block: each conv's batch norm (scale, shift), relu and the
    residual add run in the conv's kernel (2 kernels, not 2 + 2); a conv that is
    fetched, used twice, or reshaped keeps its own kernel and the dump says why."""
    rng = np.random.default_rng(4)
    c = 5
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 6, 7, c], name="x")
        w1 = tf.placeholder(tf.float32, [3, 3, c, c], name="w1")
        w2 = tf.placeholder(tf.float32, [3, 3, c, c], name="w2")
        s1, b1, s2, b2 = (tf.placeholder(tf.float32, [c], name=n)
                          for n in ("s1", "b1", "s2", "b2"))
        pad = ((1, 1), (1, 1))
        hid = tf.nn.relu(_conv(x, w1, (1, 1), pad) * s1 + b1)
        block = tf.nn.relu(_conv(hid, w2, (1, 1), pad) * s2 + b2 + x)
        fetched = _conv(x, w2, (1, 1), pad)
        twice = _conv(hid, w1, (1, 1), pad)
        both = tf.nn.relu(twice) + tf.sigmoid(twice)
        flat = tf.reshape(_conv(x, w1, (2, 2), pad), [-1, 3 * 4 * c]) * 2.0
    feeds = {x: rng.standard_normal((2, 6, 7, c)).astype(np.float32)}
    feeds.update({t: rng.standard_normal((3, 3, c, c)).astype(np.float32) for t in (w1, w2)})
    feeds.update({t: rng.standard_normal(c).astype(np.float32) for t in (s1, b1, s2, b2)})
    fusion = tf.dump([block], feeds=list(feeds), stages=["fusion"])["fusion"]
    assert fusion.startswith("2 kernel(s)") and fusion.count("[conv]") == 2, fusion
    assert fusion.count("    computes conv 'conv") == 2 and "[loop]" not in fusion
    fusion = tf.dump([block, fetched, both, flat], feeds=list(feeds), stages=["fusion"])["fusion"]
    assert "conv 'conv_2' (created at" in fusion and "fetched or assigned: stored" in fusion
    assert "conv: 2 consumers, so no epilogue (stored once)" in fusion, fusion
    assert "conv: its consumer is not an elementwise epilogue of its shape (reshape" in fusion
    got, ref = _run_both(g, [block, flat], feeds)
    f = {k: feeds[k].astype(np.float64) for k in feeds}
    a = ((1, 1), (1, 1), (1, 1))
    h = np.maximum(jax_conv(f[x], f[w1], (1, 1), pad, *a[:2]) * f[s1] + f[b1], 0)
    want = np.maximum(jax_conv(h, f[w2], (1, 1), pad, *a[:2]) * f[s2] + f[b2] + f[x], 0)
    want_flat = jax_conv(f[x], f[w1], (2, 2), pad, *a[:2]).reshape(-1, 3 * 4 * c) * 2.0
    for r in (got, ref):
        _close(r[0].astype(np.float64), want)
        _close(r[1].astype(np.float64), want_flat)


def test_constant_filter_is_packed_at_compile_time_and_held_once():
    """A filter known at compile time (an OIHW constant transposed to HWIO, as every
    imported ONNX model's) is packed into panels when the program is lowered: no pack
    kernel runs for it, and the unpacked constant leaves the buffer table (nothing else
    reads it). A filter that is a broadcast scalar (too big to fold) keeps its pack
    kernel: a packed constant would be new memory. Results against jax and the
    interpreter; output channels not a multiple of the panel width; a float16 conv (the
    generic nest) reads its constant as it is."""
    rng = np.random.default_rng(7)
    g = tf.Graph()
    fetches, want, dts = [], [], []
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 3, 7, 6], name="x_nchw")
        xv = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
        for dt, co in ((np.float32, 5), (np.float16, 20)):
            wv = rng.standard_normal((co, 3, 3, 3)).astype(dt)
            xt = tf.transpose(tf.cast(x, dt), [0, 2, 3, 1])
            w = tf.transpose(tf.constant(wv, name=f"w_{co}"), [2, 3, 1, 0])
            fetches.append(tf.nn.relu(_conv(xt, w, (1, 2), ((1, 1), (1, 1)))))
            j = jax_conv(xv.astype(dt).astype(np.float64).transpose(0, 2, 3, 1),
                         wv.astype(np.float64).transpose(2, 3, 1, 0), (1, 2),
                         ((1, 1), (1, 1)), (1, 1), (1, 1))
            want.append(np.maximum(j, 0))
            dts.append(np.dtype(dt).name)
        splat = tf.fill([3, 3, 3, 400], 0.02, name="splat")
        fetches.append(_conv(tf.transpose(x, [0, 2, 3, 1]), splat, (1, 1), ((0, 0), (0, 0))))
        want.append(jax_conv(xv.astype(np.float64).transpose(0, 2, 3, 1),
                             np.full((3, 3, 3, 400), 0.02), (1, 1), ((0, 0), (0, 0)),
                             (1, 1), (1, 1)))
        dts.append("float32")
    got, ref = _run_both(g, fetches, {x: xv})
    for a, r, j, dt in zip(got, ref, want, dts):
        _close(a.astype(np.float64), j, dt)
        _close(r.astype(np.float64), j, dt)
    options = tf.CompileOptions()
    program, _ = run_pipeline(convert(g, fetches, [x]), options)
    lowered = plan_and_lower(program, options)[1]
    descs = {b.name: (b.kind, b.desc) for b in lowered.buffers}
    consts = [d for k, d in descs.values() if k == "const"]
    # the float32 filter once, packed (5 channels in one zero-padded panel); the float16
    # filter as it is; no unpacked float32 filter
    assert len(consts) == 2, consts
    packed = [b for b in lowered.buffers if "at compile time" in b.desc]
    assert len(packed) == 1 and packed[0].source.shape[0] == 1, consts
    lanes = packed[0].source.shape[-1]
    assert lanes > 5 and not packed[0].source[..., 5:].any()
    # the broadcast filter: a pack kernel fills its panels on every run
    fills = [c for c in lowered.calls if "_pack_" in c[0]
             and any("'splat'" in descs[n][1] and "packed in" in descs[n][1]
                     for n in c[1])]
    assert len(fills) == 1, lowered.calls


def test_register_tile_width_fits_the_row():
    """A row of 7 interior positions (ResNet-50's 7x7 stage) takes one tile of 7, not a
    tile of 6 plus a tile of 6 for the seventh position; rows whose count micro_rows
    divides keep micro_rows. Results against jax and the interpreter."""
    from compiler.lower.conv_nests import row_micro
    assert [row_micro(c, 6) for c in (3, 6, 7, 12, 14, 54, 56)] == [3, 6, 7, 6, 7, 6, 7]
    assert row_micro(8, 4) == 4 and row_micro(7, 4) == 4 and row_micro(5, 4) == 5
    for c in range(1, 120):   # never more work (positions + half a position per tile)
        m = row_micro(c, 6)
        assert 4 <= m <= 7 or m == c, c
        assert -(-c // m) * (m + 0.5) <= -(-c // 6) * 6.5, c
    rng = np.random.default_rng(9)
    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 7, 7, 40])
        w = tf.placeholder(tf.float32, [1, 1, 40, 48])
        y = tf.nn.relu(_conv(x, w, (1, 1), ((0, 0), (0, 0))))
    feeds = {x: rng.standard_normal((2, 7, 7, 40)).astype(np.float32),
             w: rng.standard_normal((1, 1, 40, 48)).astype(np.float32)}
    got, ref = _run_both(g, [y], feeds)
    want = np.maximum(jax_conv(feeds[x].astype(np.float64), feeds[w].astype(np.float64),
                               (1, 1), ((0, 0), (0, 0)), (1, 1), (1, 1)), 0)
    _close(got[0].astype(np.float64), want)
    _close(ref[0].astype(np.float64), want)
    if cpu_schedule("host").conv.micro_rows == 6:
        assert "row tiling: 7 positions" in _kernels_dump(g, [y], [x, w])
