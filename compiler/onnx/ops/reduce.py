"""Reductions and index-returning ONNX ops: Reduce*, ArgMax/ArgMin, TopK, CumSum, CumProd."""

from __future__ import annotations

from ...frontend import array_ops as A
from ...frontend import core
from ...frontend import indexing as IX
from ...frontend import manip_ops as MP
from ...frontend import math_ops as M
from ...frontend import reduce_ops as R
from ...frontend import scan_ops as S
from ...frontend.control_flow import identity
from ...ir import dtypes as T
from ..table import converter

# The opset from which each reduction takes `axes` as its second input (an attribute
# before).
_AXES_INPUT_FROM = {"ReduceSum": 13}
_REDUCE_ATTRS = ("axes", "keepdims", "noop_with_empty_axes")


def _axes(cx):
    """The reduced axes as a list, None for all, or "noop" (identity) for an empty axes
    input with noop_with_empty_axes=1."""
    if cx.opset >= _AXES_INPUT_FROM.get(cx.op_type, 18):
        if "axes" in cx.attrs:
            raise cx.unsupported(f"attribute axes (opset {cx.opset} takes axes as input 1)")
        axes = cx.static_ints(1)
        if not axes:
            return "noop" if cx.attr("noop_with_empty_axes", 0) else None
        return axes
    if cx.has(1):
        raise cx.unsupported(f"input 1 (axes is an attribute before opset "
                             f"{_AXES_INPUT_FROM.get(cx.op_type, 18)})")
    if cx.attr("noop_with_empty_axes", 0):
        raise cx.unsupported("attribute noop_with_empty_axes (from the opset where axes "
                             "is an input)")
    axes = cx.attr("axes")
    return list(axes) if axes else None


def _reduction(op_type, build):
    """Register `op_type`: `build(x, axes, keepdims)` with axes a list or None (all)."""
    @converter(op_type, attrs=_REDUCE_ATTRS, static=(1,))
    def convert(cx):
        x = cx.input(0)
        axes = _axes(cx)
        if axes == "noop":
            return [identity(x)]
        if x.shape.ndims is None:
            raise cx.unsupported("input 0 of unknown rank")
        keep = bool(cx.attr("keepdims", 1))
        return [build(x, axes, keep)]
    convert.__name__ = op_type
    return convert


def _bool_as(fn, bool_fn):
    """A max/min reduction that takes bools too (as any/all)."""
    def build(x, axes, keep):
        return (bool_fn if x.dtype.is_bool else fn)(x, axes, keepdims=keep)
    return build


_reduction("ReduceSum", lambda x, a, k: R.reduce_sum(x, a, keepdims=k))
_reduction("ReduceMean", lambda x, a, k: R.reduce_mean(x, a, keepdims=k))
_reduction("ReduceProd", lambda x, a, k: R.reduce_prod(x, a, keepdims=k))
_reduction("ReduceMax", _bool_as(R.reduce_max, R.reduce_any))
_reduction("ReduceMin", _bool_as(R.reduce_min, R.reduce_all))
_reduction("ReduceSumSquare", lambda x, a, k: R.reduce_sum(M.multiply(x, x), a, keepdims=k))
_reduction("ReduceL1", lambda x, a, k: R.reduce_sum(M.abs(x), a, keepdims=k))
_reduction("ReduceLogSum", lambda x, a, k: M.log(R.reduce_sum(x, a, keepdims=k)))
_reduction("ReduceLogSumExp", lambda x, a, k: R.reduce_logsumexp(x, a, keepdims=k))


def _l2(x, axes, keep):
    s = R.reduce_sum(M.multiply(x, x), axes, keepdims=keep)
    if x.dtype.is_int:   # ONNX: the square root of the int sum, cast back
        return M.cast(M.sqrt(M.cast(s, T.float64)), x.dtype)
    return M.sqrt(s)


_reduction("ReduceL2", _l2)


def _arg(op_type, fn):
    @converter(op_type, attrs=("axis", "keepdims", "select_last_index"))
    def convert(cx):
        x = cx.input(0)
        if x.shape.ndims is None:
            raise cx.unsupported("input 0 of unknown rank")
        rank = x.shape.ndims
        axis = int(cx.attr("axis", 0))
        if not -rank <= axis < max(rank, 1):
            raise cx.unsupported(f"axis {axis} out of range for rank {rank}")
        axis %= max(rank, 1)
        if cx.attr("select_last_index", 0):
            # The last extremum: the first one of the reversed axis, counted from the end.
            n = MP.gather(A.shape(x, out_type=T.int64), axis)
            first = fn(IX.reverse(x, [axis]), axis, output_type=T.int64)
            out = M.subtract(M.subtract(n, core.constant(1, T.int64)), first)
        else:
            out = fn(x, axis, output_type=T.int64)
        if cx.attr("keepdims", 1):
            out = core.expand_dims(out, axis)
        return [out]
    convert.__name__ = op_type
    return convert


_arg("ArgMax", R.argmax)
_arg("ArgMin", R.argmin)


def _scan_op(op_type, fn):
    @converter(op_type, since=11, attrs=("exclusive", "reverse"), static=(1,))
    def convert(cx):
        axis = cx.static_ints(1)
        if axis is None or len(axis) != 1:
            raise cx.unsupported(f"input 1 (axis) must be one int, got {axis}")
        return [fn(cx.input(0), axis[0], exclusive=bool(cx.attr("exclusive", 0)),
                   reverse=bool(cx.attr("reverse", 0)))]
    convert.__name__ = op_type
    return convert


_scan_op("CumSum", S.cumsum)
_scan_op("CumProd", S.cumprod)


@converter("TopK", attrs=("axis", "k", "largest", "sorted"), static=(1,),
           note="O(n^2) along the axis (a ranking by comparisons); sorted=0 gives sorted "
                "results too")
def top_k(cx):
    x = cx.input(0)
    if x.shape.ndims is None or x.shape.ndims == 0:
        raise cx.unsupported("input 0 of unknown rank or a scalar")
    if cx.opset >= 10:
        if "k" in cx.attrs:
            raise cx.unsupported(f"attribute k (opset {cx.opset} takes k as input 1)")
        k = cx.static_ints(1)
        if k is None or len(k) != 1:
            raise cx.unsupported(f"input 1 (k) must be one int, got {k}")
        k = k[0]
    else:
        if "k" not in cx.attrs:
            raise cx.unsupported("attribute k is missing")
        k = int(cx.attr("k"))
    rank = x.shape.ndims
    axis = int(cx.attr("axis", -1))
    if not -rank <= axis < rank:
        raise cx.unsupported(f"axis {axis} out of range for rank {rank}")
    axis %= rank
    perm = list(range(rank))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    if axis != rank - 1:
        x = MP.transpose(x, perm)
    values, indices = S.top_k_along(x, k, largest=bool(cx.attr("largest", 1)))
    if axis != rank - 1:
        values, indices = MP.transpose(values, perm), MP.transpose(indices, perm)
    return [values, indices]


@converter("Det", since=11)
def det(cx):
    return [S.matrix_determinant(cx.input(0))]
