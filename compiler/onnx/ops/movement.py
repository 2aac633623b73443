"""Shape and data-movement ONNX ops: reshape, transpose, squeeze, concat, split, slice,
pad, expand, tile, shape queries and constants (gathers, scatters, masks and block
rearrangements are in indexing.py).

Shapes, axes, pads, starts and sizes are import-time values (`static` inputs); a shape
built from the model's own `Shape` ops (torch's Shape -> Gather -> Concat -> Reshape
idiom) is read with `frontend.static.static_dims`, so symbolic dims (a `dim_param`
batch) stay symbolic. Everything is composed from the movement primitives (reshape,
transpose, broadcast, slice, concat, pad): no copies of their own.
"""

from __future__ import annotations

import math

import numpy as np

from ...frontend import array_ops as A
from ...frontend import core
from ...frontend import manip_ops as MO
from ...frontend.control_flow import identity
from ...frontend.static import static_dims
from ...ir import dims as D
from ...ir import dtypes as T
from .. import proto
from ..table import converter

INT_BIG = 1 << 31  # an end/start at least this large means "to the end" of any axis


# -- helpers shared with indexing.py ---------------------------------------------------

def shape_of(cx, x, what="input 0"):
    if not x.shape.known_rank:
        raise cx.unsupported(f"{what} has unknown rank")
    return tuple(x.shape)


def axis_of(cx, axis, rank, what="axis"):
    axis = int(axis)
    if not -rank <= axis < rank:
        raise cx.unsupported(f"{what} {axis} is out of range for rank {rank}")
    return axis % rank


def dims_input(cx, i):
    """Input i (a shape) as dims: symbolic dims of the model's own Shape ops stay symbolic;
    otherwise its import-time value."""
    t = cx.input(i)
    if t is not None and t.dtype.kind == "int" and t.shape.ndims == 1:
        dims = static_dims(t)
        if dims is not None:
            return list(dims)
    return cx.static_ints(i)


def ints_or_attr(cx, i, attr, switch):
    """Axes/pads/split given as attribute `attr` before opset `switch`, as input i since."""
    if cx.opset < switch:
        return cx.attr(attr)
    return cx.static_ints(i)


def slice_axis(x, axis, begin, size, stride=1):
    shape = tuple(x.shape)
    b = [0] * len(shape)
    s = list(shape)
    st = [1] * len(shape)
    b[axis], s[axis], st[axis] = begin, size, stride
    return core.make("slice", [x], begin=tuple(b), size=tuple(s), stride=tuple(st))


def concat_axis(parts, axis):
    parts = [p for p in parts if p is not None]
    return parts[0] if len(parts) == 1 else core.make("concat", parts, axis=axis)


def scalar_of(t, dtype=None):
    """A one-element tensor as a scalar of `dtype`."""
    out = core.make("reshape", [t], shape=())
    if dtype is not None and out.dtype is not dtype:
        out = core.make("cast", [out], dtype=dtype)
    return out


# -- constants --------------------------------------------------------------------------

@converter("Constant", attrs=("value", "value_float", "value_floats", "value_int",
                              "value_ints", "value_string", "value_strings", "sparse_value"),
           note="value_string(s) are not supported (flowc has no string tensors); "
                "sparse_value becomes a dense constant")
def constant(cx):
    forms = {"value": None, "sparse_value": None, "value_float": np.float32,
             "value_floats": np.float32, "value_int": np.int64, "value_ints": np.int64}
    for name in ("value_string", "value_strings"):
        if name in cx.attrs:
            raise cx.unsupported(f"attribute {name} is not supported (flowc has no string "
                                 f"tensors)")
    for name, dt in forms.items():
        if name in cx.attrs:
            v = cx.attr(name)
            return [core.constant(v if dt is None else np.asarray(v, dt))]
    raise cx.unsupported("it has no value attribute")


@converter("ConstantOfShape", since=9, attrs=("value",), static=(0,))
def constant_of_shape(cx):
    dims = dims_input(cx, 0)
    value = cx.attr("value", np.zeros(1, np.float32))
    if np.asarray(value).size != 1:
        raise cx.unsupported("attribute value must hold one element")
    scalar = core.constant(np.asarray(value).reshape(()))
    return [core.make("broadcast", [scalar], shape=tuple(dims))]


@converter("Range", since=11, attrs=("stash_type",), static=(0, 1, 2),
           note="start, limit and delta must be known at import (or limit a symbolic dim)")
def range_(cx):
    start, limit, delta = (cx.input(i) for i in range(3))
    dt = start.dtype
    vals = []
    for i in range(3):
        d = static_dims(cx.input(i)) if dt.kind == "int" else None
        vals.append(d[0] if d is not None and len(d) == 1 else None)
    if dt.kind == "int" and all(v is not None for v in vals) and \
            not all(isinstance(v, int) for v in vals):  # a symbolic bound (Range(0, dim))
        if not isinstance(vals[2], int):
            raise cx.unsupported("a symbolic delta is not supported")
        return [A.range(cx.input(0), cx.input(1), vals[2], dtype=dt)]
    s, lim, d = (cx.static(i).reshape(()) for i in range(3))
    if d == 0:
        raise cx.unsupported("delta is 0")
    n = max(int(math.ceil((float(lim) - float(s)) / float(d))), 0)
    # ONNX: output[i] = start + i * delta, computed in the inputs' type; from opset 27
    # float16 computes in `stash_type` (float32 by default) and rounds at the end
    work = s.dtype
    if s.dtype == np.float16 and cx.opset >= 27:
        stash = int(cx.attr("stash_type", 1))
        if stash not in (1, 11):
            raise cx.unsupported(f"stash_type {stash} (expected 1 or 11)")
        work = np.dtype(np.float32 if stash == 1 else np.float64)
    if dt.kind == "int":  # an iota: no constant of n elements
        iota = core.make("iota", [], shape=(n,), axis=0, dtype=dt)
        step = core.make("mul", [iota, core.constant(np.asarray(d, dt.np))])
        return [core.make("add", [step, core.constant(np.asarray(s, dt.np))])]
    s, d = s.astype(work), d.astype(work)
    out = s + np.arange(n, dtype=np.int64).astype(work) * d
    return [core.constant(out.astype(cx.static(0).dtype))]


# -- shape queries ----------------------------------------------------------------------

@converter("Shape", attrs=("start", "end"))
def shape(cx):
    x = cx.input(0)
    rank = len(shape_of(cx, x))
    start, end = cx.attr("start", 0), cx.attr("end", rank)
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    full = core.make("shape", [x], dtype=T.int64)
    if start == 0 and end == rank:
        return [full]
    return [core.make("slice", [full], begin=(start,), size=(max(end - start, 0),),
                      stride=(1,))]


@converter("Size")
def size(cx):
    return [A.size(cx.input(0), out_type=T.int64)]


# -- reshaping ---------------------------------------------------------------------------

@converter("Reshape", since=5, attrs=("allowzero",), static=(1,),
           note="the shape must be known at import (a constant, or built from Shape ops: "
                "symbolic dims stay symbolic)")
def reshape(cx):
    x = cx.input(0)
    in_shape = shape_of(cx, x)
    dims = dims_input(cx, 1)
    if not cx.attr("allowzero", 0):
        for k, d in enumerate(dims):
            if isinstance(d, int) and d == 0:
                if k >= len(in_shape):
                    raise cx.unsupported(f"shape entry {k} is 0 (copy the input dim) but "
                                         f"the input has rank {len(in_shape)}")
                dims[k] = in_shape[k]
    return [core.make("reshape", [x], shape=tuple(dims))]


@converter("Flatten", attrs=("axis",))
def flatten(cx):
    x = cx.input(0)
    s = shape_of(cx, x)
    axis = cx.attr("axis", 1)
    if not -len(s) <= axis <= len(s):
        raise cx.unsupported(f"axis {axis} is out of range for rank {len(s)}")
    axis = axis + len(s) if axis < 0 else axis
    return [core.make("reshape", [x], shape=(D.product(s[:axis]), D.product(s[axis:])))]


@converter("Transpose", attrs=("perm",))
def transpose(cx):
    x = cx.input(0)
    rank = len(shape_of(cx, x))
    perm = cx.attr("perm", list(reversed(range(rank))))
    return [core.make("transpose", [x], perm=tuple(int(p) for p in perm))]


@converter("Squeeze", attrs=("axes",), static=(1,), note="axes known at import")
def squeeze(cx):
    x = cx.input(0)
    s = shape_of(cx, x)
    axes = ints_or_attr(cx, 1, "axes", 13)
    if axes is None:
        if not all(isinstance(d, int) for d in s):
            raise cx.unsupported(f"without axes, the axes of extent 1 must be known: the "
                                 f"input's shape {[D.format_dim(d) for d in s]} has "
                                 f"symbolic extents")
        axes = [k for k, d in enumerate(s) if d == 1]
    axes = {axis_of(cx, a, len(s), "axes entry") for a in axes}
    for a in axes:
        if isinstance(s[a], int) and s[a] != 1:
            raise cx.unsupported(f"axis {a} has extent {s[a]}, not 1")
    return [core.make("reshape", [x], shape=tuple(d for k, d in enumerate(s)
                                                 if k not in axes))]


@converter("Unsqueeze", attrs=("axes",), static=(1,), note="axes known at import")
def unsqueeze(cx):
    x = cx.input(0)
    s = shape_of(cx, x)
    axes = ints_or_attr(cx, 1, "axes", 13)
    if axes is None:
        raise cx.unsupported("axes are missing")
    rank = len(s) + len(axes)
    axes = sorted(axis_of(cx, a, rank, "axes entry") for a in axes)
    if len(set(axes)) != len(axes):
        raise cx.unsupported(f"axes {axes} repeat an axis")
    rest = iter(s)
    return [core.make("reshape", [x], shape=tuple(1 if k in axes else next(rest)
                                                 for k in range(rank)))]


@converter("Concat", since=4, attrs=("axis",))
def concat(cx):
    parts = [t for t in cx.inputs if t is not None]
    rank = len(shape_of(cx, parts[0]))
    axis = axis_of(cx, cx.attr("axis", 0), rank)
    # zero-extent inputs add nothing (and a concat of one input is that input)
    kept = [p for p in parts if not (isinstance(p.shape[axis], int) and p.shape[axis] == 0)]
    return [identity(concat_axis(kept or parts[:1], axis))]


@converter("Split", attrs=("axis", "split", "num_outputs"), static=(1,),
           note="split sizes known at import; num_outputs with an uneven last chunk")
def split(cx):
    x = cx.input(0)
    s = shape_of(cx, x)
    axis = axis_of(cx, cx.attr("axis", 0), len(s))
    d = s[axis]
    n = len(cx.node.output)
    sizes = cx.attr("split") if cx.opset < 13 else cx.static_ints(1)
    if sizes is None:
        n = cx.attr("num_outputs", n)
        if isinstance(d, int):
            chunk = -(-d // n)
            sizes = [min(chunk, max(d - chunk * k, 0)) for k in range(n)]
        else:
            part = D.divide_exact(d, n)
            if part is None:
                raise cx.unsupported(f"axis {axis} has the symbolic extent {d}, not "
                                     f"known to divide into {n} parts")
            sizes = [part] * n
    elif len(sizes) != n:
        raise cx.unsupported(f"split has {len(sizes)} entries for {n} outputs")
    if isinstance(d, int) and sum(sizes) != d:
        raise cx.unsupported(f"split {sizes} does not add up to the extent {d} of axis "
                             f"{axis}")
    outs, begin = [], 0
    for size_ in sizes:
        outs.append(slice_axis(x, axis, begin, size_))
        begin = D.add(begin, size_)
    return outs


# -- slicing and padding -----------------------------------------------------------------

def _slice_bounds(cx, d, start, end, step, axis):
    """(begin, size) of ONNX Slice on an axis of extent d."""
    if step == 0:
        raise cx.unsupported(f"step 0 on axis {axis}")
    if isinstance(d, int):
        if step > 0:
            b = min(max(start + d if start < 0 else start, 0), d)
            e = min(max(end + d if end < 0 else end, 0), d)
            return b, max(0, -(-(e - b) // step))
        b = min(max(start + d if start < 0 else start, 0), d - 1)
        e = min(max(end + d if end < 0 else end, -1), d - 1)
        return b, max(0, -(-(b - e) // -step))
    # a symbolic extent: the forms models use (x[a:], x[:b], x[-a:] with step 1)
    if step == 1 and end >= INT_BIG:
        if start >= 0:
            return start, D.sub(d, start)
        return D.add(d, start), -start
    if step == 1 and start >= 0 and 0 <= end < INT_BIG:
        return start, max(end - start, 0)
    if step == 1 and start >= 0 and end < 0:
        return start, D.add(d, end - start)
    if step < 0 and end <= -INT_BIG and (start == -1 or start >= INT_BIG):  # x[::-k]
        return D.sub(d, 1), D.floordiv(D.add(d, -step - 1), -step)
    raise cx.unsupported(f"slice [{start}:{end}:{step}] of axis {axis} with the symbolic "
                         f"extent {D.format_dim(d)}")


@converter("Slice", attrs=("starts", "ends", "axes"), static=(1, 2, 3, 4),
           note="starts/ends/axes/steps known at import; on a symbolic axis the forms "
                "x[a:], x[-a:], x[a:b], x[a:-b] and x[::-k]")
def slice_(cx):
    x = cx.input(0)
    s = shape_of(cx, x)
    if cx.opset < 10:
        starts, ends, axes, steps = cx.attr("starts"), cx.attr("ends"), cx.attr("axes"), None
    else:
        starts, ends = cx.static_ints(1), cx.static_ints(2)
        axes, steps = cx.static_ints(3), cx.static_ints(4)
    if starts is None or ends is None or len(starts) != len(ends):
        raise cx.unsupported("starts and ends must be given, of one length")
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    if not len(axes) == len(steps) == len(starts):
        raise cx.unsupported("starts, ends, axes and steps must have one length")
    begin, size_, stride = [0] * len(s), list(s), [1] * len(s)
    for a, st, en, sp in zip(axes, starts, ends, steps, strict=True):
        a = axis_of(cx, a, len(s), "axes entry")
        begin[a], size_[a] = _slice_bounds(cx, s[a], st, en, sp, a)
        stride[a] = sp
    return [core.make("slice", [x], begin=tuple(begin), size=tuple(size_),
                      stride=tuple(stride))]


def _edge_axis(x, axis, lo, hi, d):
    parts = []
    if lo:
        first = slice_axis(x, axis, 0, 1)
        parts.append(core.make("broadcast", [first], shape=_with(x.shape, axis, lo)))
    parts.append(x)
    if hi:
        last = slice_axis(x, axis, D.sub(d, 1), 1)
        parts.append(core.make("broadcast", [last], shape=_with(x.shape, axis, hi)))
    return concat_axis(parts, axis)


def _wrap_axis(x, axis, lo, hi, d):
    parts = []
    while lo > 0:  # the last `lo` elements, cycled
        take = min(lo, d)
        parts.insert(0, slice_axis(x, axis, d - take, take))
        lo -= take
    parts.append(x)
    while hi > 0:
        take = min(hi, d)
        parts.append(slice_axis(x, axis, 0, take))
        hi -= take
    return concat_axis(parts, axis)


def _with(shape, axis, d):
    out = list(shape)
    out[axis] = d
    return tuple(out)


@converter("Pad", since=2, attrs=("mode", "pads", "value"), static=(1, 2, 3),
           note="modes constant, reflect, edge and wrap; pads, constant_value and axes "
                "must be known at import")
def pad(cx):
    x = cx.input(0)
    s = shape_of(cx, x)
    mode = cx.attr("mode", "constant")
    if cx.opset < 11:
        pads, value, axes = cx.attr("pads"), cx.attr("value", 0.0), None
    else:
        pads = cx.static_ints(1)
        cv = cx.static(2)
        value = 0 if cv is None or np.asarray(cv).size == 0 else np.asarray(cv).reshape(-1)[0]
        axes = cx.static_ints(3)
    if pads is None:
        raise cx.unsupported("pads are missing")
    axes = list(range(len(s))) if axes is None else [axis_of(cx, a, len(s), "axes entry")
                                                    for a in axes]
    if len(pads) != 2 * len(axes):
        raise cx.unsupported(f"pads has {len(pads)} entries for {len(axes)} axes")
    pairs = [[0, 0] for _ in s]
    for k, a in enumerate(axes):
        pairs[a] = [pads[k], pads[k + len(axes)]]
    # negative pads crop
    if any(p < 0 for pair in pairs for p in pair):
        begin = [max(-lo, 0) for lo, _ in pairs]
        size_ = [D.sub(D.sub(d, max(-lo, 0)), max(-hi, 0)) for d, (lo, hi) in zip(s, pairs)]
        x = core.make("slice", [x], begin=tuple(begin), size=tuple(size_),
                      stride=(1,) * len(s))
        s = tuple(x.shape)
        pairs = [[max(lo, 0), max(hi, 0)] for lo, hi in pairs]
    if mode == "constant":
        if x.dtype.kind == "int" and int(value) != float(value):
            raise cx.unsupported(f"constant_value {value} for an int tensor")
        if x.dtype.kind == "int" and abs(int(value)) >= 1 << 53:
            raise cx.unsupported(f"constant_value {value} is not exact as a float")
        return [core.make("pad", [x], pads=tuple(map(tuple, pairs)), value=float(value))]
    if mode not in ("reflect", "edge", "wrap"):
        raise cx.unsupported(f"mode {mode!r} is not supported")
    out = x
    for a, (lo, hi) in enumerate(pairs):
        if not (lo or hi):
            continue
        d = s[a]
        if mode == "reflect":
            out = MO._mirror_axis(out, a, lo, hi, "REFLECT", d)
        elif mode == "edge":
            out = _edge_axis(out, a, lo, hi, d)
        else:
            if not isinstance(d, int) or d == 0:
                raise cx.unsupported(f"wrap padding of axis {a} needs a static non-zero "
                                     f"extent, got {d}")
            out = _wrap_axis(out, a, lo, hi, d)
    return [identity(out)]


@converter("CenterCropPad", since=18, attrs=("axes",), static=(1,),
           note="the target shape known at import; static extents on the cropped axes")
def center_crop_pad(cx):
    x = cx.input(0)
    s = shape_of(cx, x)
    want = cx.static_ints(1)
    axes = cx.attr("axes", list(range(len(s))))
    if len(want) != len(axes):
        raise cx.unsupported(f"shape has {len(want)} entries for {len(axes)} axes")
    out = x
    for a, w in zip(axes, want, strict=True):
        a = axis_of(cx, a, len(s), "axes entry")
        d = s[a]
        if not isinstance(d, int):
            raise cx.unsupported(f"axis {a} has a symbolic extent")
        if w < d:
            out = slice_axis(out, a, (d - w) // 2, w)
        elif w > d:
            lo = (w - d) // 2
            pairs = [(0, 0)] * len(s)
            pairs[a] = (lo, w - d - lo)
            out = core.make("pad", [out], pads=tuple(pairs), value=0.0)
    return [identity(out)]


# -- broadcasting and repetition -------------------------------------------------------

@converter("Expand", since=8, static=(1,),
           note="the shape must be known at import (Shape-built shapes stay symbolic)")
def expand(cx):
    x = cx.input(0)
    s = shape_of(cx, x)
    want = dims_input(cx, 1)
    rank = max(len(s), len(want))
    s_full = (1,) * (rank - len(s)) + tuple(s)
    w_full = (1,) * (rank - len(want)) + tuple(want)
    out = []
    for k, (a, b) in enumerate(zip(s_full, w_full)):
        if isinstance(b, int) and b == 1:
            out.append(a)
        elif isinstance(a, int) and a == 1 or a == b:
            out.append(b)
        elif isinstance(a, int) and isinstance(b, int):
            raise cx.unsupported(f"cannot broadcast extent {a} to {b} on axis {k}")
        else:
            out.append(b)
    return [core.make("broadcast", [x], shape=tuple(out))]


@converter("Tile", since=6, static=(1,), note="repeats must be known at import")
def tile(cx):
    reps = cx.static_ints(1)
    return [MO.tile(cx.input(0), reps)]


def onnx_dtype(cx, code, what):
    try:
        return proto.dtype(code, f"{cx!r} {what}")
    except TypeError as e:
        raise cx.unsupported(str(e)) from None
