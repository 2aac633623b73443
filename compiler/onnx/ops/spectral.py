"""Signal-processing ONNX ops (the reductions family's second module): DFT, STFT, the
window generators and MelWeightMatrix.

A DFT of static length is two matmuls against cos/sin matrices made at import time
(O(n * bins) per transform, no FFT): complex values travel as a trailing axis of extent
2 (real, imaginary), real ones as a trailing axis of extent 1, as in ONNX. Windows and
the mel matrix depend only on static inputs and become constants.
"""

from __future__ import annotations

import numpy as np

from ...frontend import core
from ...frontend import manip_ops as MP
from ...frontend import math_ops as M
from ...frontend.indexing import getitem
from ...ir import dtypes as T
from .. import proto
from ..table import converter


def _output_dtype(cx, default=1):
    return proto.dtype(cx.attr("output_datatype", default), f"{cx!r} output_datatype")


def _window(op_type, terms):
    """A window `sum_i c_i cos(2 pi i n / N)` with N the size (periodic) or size - 1."""
    @converter(op_type, since=17, attrs=("output_datatype", "periodic"), static=(0,))
    def convert(cx):
        size = cx.static_ints(0)
        if size is None or len(size) != 1 or size[0] < 0:
            raise cx.unsupported(f"input 0 (size) must be one int >= 0, got {size}")
        size = size[0]
        dt = _output_dtype(cx)
        denom = size if cx.attr("periodic", 1) else size - 1
        n = np.arange(size, dtype=np.float64)
        w = sum(c * np.cos(2 * np.pi * i * n / denom) for i, c in enumerate(terms))
        return [core.constant(np.asarray(w).astype(dt.np), dtype=dt)]
    convert.__name__ = op_type
    return convert


_window("HannWindow", (0.5, -0.5))
_window("HammingWindow", (25 / 46, -(1 - 25 / 46)))
_window("BlackmanWindow", (0.42, -0.5, 0.08))


@converter("MelWeightMatrix", since=17, attrs=("output_datatype",),
           static=(0, 1, 2, 3, 4))
def mel_weight_matrix(cx):
    mels, dft_length, rate = (cx.static_ints(i) for i in range(3))
    lo, hi = (float(np.asarray(cx.static(i)).reshape(-1)[0]) for i in (3, 4))
    mels, dft_length, rate = mels[0], dft_length[0], rate[0]
    if mels < 0 or dft_length < 1 or rate < 1:
        raise cx.unsupported(f"num_mel_bins {mels}, dft_length {dft_length}, sample_rate "
                             f"{rate} (need >= 0, >= 1, >= 1)")
    bins = np.arange(mels + 2)
    lo_mel = 2595 * np.log1p(lo / 700) / np.log(10)
    hi_mel = 2595 * np.log1p(hi / 700) / np.log(10)
    hz = 700 * np.expm1((bins * ((hi_mel - lo_mel) / (mels + 2)) + lo_mel) / 2595 * np.log(10))
    edge = (((dft_length + 1) * hz) // rate).astype(int)
    out = np.zeros((dft_length // 2 + 1, mels))
    for i in range(mels):
        left, center, right = edge[i], edge[i + 1], edge[i + 2]
        if center == left:
            out[center, i] = 1
        else:
            for j in range(left, center + 1):
                out[j, i] = (j - left) / (center - left)
        for j in range(center, right):
            out[j, i] = (right - j) / (right - center)
    dt = _output_dtype(cx)
    return [core.constant(out.astype(dt.np), dtype=dt)]


def dft_matrices(n_in, length, inverse, onesided):
    """(a, b, c, d) with out_re = re @ a + im @ b, out_im = re @ c + im @ d for a signal
    of n_in samples along the last axis: the forward DFT of length `length` (input cut or
    zero-padded; `onesided`: the first length // 2 + 1 bins), the inverse DFT (scaled by
    1 / length), or with `onesided` the inverse of a one-sided spectrum (a real signal:
    bins past the first length // 2 + 1 are their conjugate mirror)."""
    used = min(n_in, length)
    bins = length // 2 + 1 if onesided and not inverse else length
    k = np.arange(used)[:, None]
    theta = 2 * np.pi * ((k * np.arange(bins)[None, :]) % length) / length
    cos, sin = np.zeros((n_in, bins)), np.zeros((n_in, bins))
    cos[:used], sin[:used] = np.cos(theta), np.sin(theta)
    if not inverse:       # (re + i im)(cos - i sin)
        return cos, sin, -sin, cos
    if not onesided:      # (re + i im)(cos + i sin) / length
        return cos / length, -sin / length, sin / length, cos / length
    # one-sided inverse: input bin k < used (of length // 2 + 1) counted twice, but for
    # bin 0 and (even length) bin length / 2; the imaginary output is 0.
    half = length // 2 + 1
    weight = np.where(np.arange(n_in) < half, 2.0, 0.0)
    weight[0] = 1.0
    if length % 2 == 0 and length // 2 < n_in:
        weight[length // 2] = 1.0
    w = weight[:, None] / length
    return cos * w, -sin * w, None, None


def dft_last(x, length, inverse, onesided, where):
    """The DFT along axis -2 of x [..., n, 1 or 2] (ONNX's real/complex layout)."""
    parts = x.shape[-1]
    n_in = x.shape[-2]
    if not isinstance(n_in, int):
        raise ValueError(f"{where}: the transformed axis must have a static extent, got "
                         f"{n_in}")
    if parts not in (1, 2):
        raise ValueError(f"{where}: the last axis must be 1 (real) or 2 (complex), got "
                         f"{parts}")
    a, b, c, d = dft_matrices(n_in, length, inverse, onesided)
    # In float64, as the reference (numpy's FFT) computes: a float32 sum of n terms
    # leaves ~1e-6 where the exact result is 0 (the imaginary part of a real signal's
    # inverse), beyond the cases' absolute tolerance.
    out_dt = x.dtype
    dt = T.float64
    x = M.cast(x, dt) if out_dt is not dt else x

    def mm(v, m):
        return M.matmul(v, core.constant(m.astype(dt.np), dtype=dt))

    re = getitem(x, (Ellipsis, 0))
    im = getitem(x, (Ellipsis, 1)) if parts == 2 else None
    out_re = mm(re, a) if im is None else M.add(mm(re, a), mm(im, b))
    if c is None:
        out = core.expand_dims(out_re, -1)
    else:
        out_im = mm(re, c) if im is None else M.add(mm(re, c), mm(im, d))
        out = MP.concat([core.expand_dims(out_re, -1), core.expand_dims(out_im, -1)], -1)
    return M.cast(out, out_dt) if out_dt is not dt else out


@converter("DFT", since=17, attrs=("axis", "inverse", "onesided"), static=(1, 2),
           note="a matmul against cos/sin constants (O(n * bins), no FFT); the transformed "
                "axis and dft_length must be static")
def dft(cx):
    x = cx.input(0)
    rank = x.shape.ndims
    if rank is None or rank < 2:
        raise cx.unsupported("input 0 of unknown rank or rank < 2")
    if cx.opset >= 20:
        if "axis" in cx.attrs:
            raise cx.unsupported(f"attribute axis (opset {cx.opset} takes axis as input 2)")
        axis = cx.static_ints(2, [-2])
        if len(axis) != 1:
            raise cx.unsupported(f"input 2 (axis) must be one int, got {axis}")
        axis = axis[0]
    else:
        if cx.has(2):
            raise cx.unsupported("input 2 (axis is an attribute before opset 20)")
        axis = int(cx.attr("axis", 1))
    if not -rank <= axis < rank - 1 and not (axis < 0 and -rank <= axis < -1):
        raise cx.unsupported(f"axis {axis} out of range (not the last, real/imaginary axis) "
                             f"for rank {rank}")
    axis %= rank
    if axis == rank - 1:
        raise cx.unsupported("axis is the last (real/imaginary) axis")
    inverse, onesided = bool(cx.attr("inverse", 0)), bool(cx.attr("onesided", 0))
    n = x.shape[axis]
    if not isinstance(n, int):
        raise cx.unsupported(f"input 0's axis {axis} has the symbolic extent {n}")
    length = cx.static_ints(1)
    if length is None:
        length = 2 * (n - 1) if inverse and onesided else n
    elif len(length) != 1 or length[0] < 1:
        raise cx.unsupported(f"input 1 (dft_length) must be one int >= 1, got {length}")
    else:
        length = length[0]
    if x.shape[-1] not in (1, 2):
        raise cx.unsupported(f"the last axis of input 0 is {x.shape[-1]}, not 1 (real) or "
                             f"2 (complex)")
    if onesided and not inverse and x.shape[-1] == 2:
        raise cx.unsupported("onesided=1 with complex input (ONNX defines the one-sided "
                             "DFT of real input, last axis 1)")
    perm = list(range(rank))
    perm[axis], perm[rank - 2] = perm[rank - 2], perm[axis]
    moved = x if axis == rank - 2 else MP.transpose(x, perm)
    out = dft_last(moved, length, inverse, onesided, repr(cx))
    return [out if axis == rank - 2 else MP.transpose(out, perm)]


@converter("STFT", since=17, attrs=("onesided",), static=(1, 3),
           note="frames gathered with a static index; the signal length must be static")
def stft(cx):
    x = cx.input(0)
    if x.shape.ndims != 3 or x.shape[-1] not in (1, 2):
        raise cx.unsupported(f"input 0 must be [batch, length, 1 or 2], got {x.shape}")
    length = x.shape[1]
    if not isinstance(length, int):
        raise cx.unsupported(f"input 0's signal length is symbolic ({length})")
    step = cx.static_ints(1)
    if step is None or len(step) != 1 or step[0] < 1:
        raise cx.unsupported(f"input 1 (frame_step) must be one int >= 1, got {step}")
    step = step[0]
    window = cx.input(2)
    if window is not None and (window.shape.ndims != 1 or not isinstance(window.shape[0],
                                                                         int)):
        raise cx.unsupported(f"input 2 (window) must be a vector of static length, got "
                             f"{window.shape}")
    frame = cx.static_ints(3)
    if frame is not None:
        if len(frame) != 1 or frame[0] < 1:
            raise cx.unsupported(f"input 3 (frame_length) must be one int >= 1, got {frame}")
        frame = frame[0]
        if window is not None and window.shape[0] != frame:
            raise cx.unsupported(f"window length {window.shape[0]} differs from "
                                 f"frame_length {frame}")
    else:
        frame = window.shape[0] if window is not None else length
    if frame > length:
        raise cx.unsupported(f"frame_length {frame} exceeds the signal length {length}")
    onesided = bool(cx.attr("onesided", 1))
    if onesided and x.shape[-1] == 2:
        raise cx.unsupported("onesided=1 (the default) with a complex signal (ONNX defines "
                             "the one-sided STFT of real signals, last axis 1)")
    frames = 1 + (length - frame) // step
    index = np.arange(frames)[:, None] * step + np.arange(frame)[None, :]
    framed = MP.gather(x, core.constant(index.astype(np.int32)), axis=1)  # [b, f, frame, c]
    if window is not None:
        w = window if window.dtype is x.dtype else M.cast(window, x.dtype)
        framed = M.multiply(framed, MP.reshape(w, [frame, 1]))
    return [dft_last(framed, frame, False, onesided, repr(cx))]
