"""Structured control flow: `param`, `while`, `cond` and `get`.

- `param` {index, dtype, shape}: parameter `index` of the region that holds it (see
  `compiler/ir/regions.py`); each node carries a unique token, set where it is made.
- `while(init..., captured...)` {carried, cond, body}: the first `carried` inputs are the
  initial values of the loop variables, the rest loop-invariant values the bodies use.
  Both regions take every input as a param; `cond` yields one bool scalar, `body` the new
  values of the carried params, with exactly their types (shapes never change across
  iterations). The result is the tuple of the final carried values.
- `cond(pred, operands...)` {then, else}: `pred` a bool scalar; both regions take the
  operands as params and yield results of equal types; the result is the tuple of the
  taken branch's results.
- `get(tuple)` {index}: one element of a region op's tuple (XLA's get-tuple-element).

The interpreter runs these rows itself (their `ref` raises); the rows are of the fusion
class "control", which fusion and lowering plan region by region.
"""

from __future__ import annotations

from ..ir import dims as D
from ..ir import dtypes as T
from ..ir.regions import Region
from ..ir.types import TensorType, TupleType, format_type
from .table import OpDef, register


def _interpreted(*args, **kwargs):
    raise RuntimeError("control-flow ops are evaluated by the interpreter, not by a "
                       "reference function")


def _param_infer(in_types, attrs, ctx):
    if attrs["index"] < 0:
        raise ValueError(f"param: index {attrs['index']} is negative")
    return TensorType(attrs["dtype"], attrs["shape"])


def same_type(got: TensorType, want: TensorType, ctx, what: str):
    """Check that `got` is `want` (dtype and shape); two distinct symbols unify, anything
    else that differs is a ShapeError/TypeError naming `what`."""
    if not isinstance(got, TensorType) or got.dtype is not want.dtype:
        raise TypeError(f"{what} has type {_fmt(got)}, expected {_fmt(want)}")
    if got.shape is None or want.shape is None or len(got.shape) != len(want.shape):
        raise D.ShapeError(f"{what} has shape {_fmt(got)}, expected {_fmt(want)}")
    for a, b in zip(got.shape, want.shape):
        a, b = ctx.table.resolve(a), ctx.table.resolve(b)
        if a == b:
            continue
        sa = a.as_atom() if isinstance(a, D.DimExpr) else None
        sb = b.as_atom() if isinstance(b, D.DimExpr) else None
        if isinstance(sa, D.Sym) and isinstance(sb, D.Sym):
            ctx.unify(a, b)
            continue
        raise D.ShapeError(f"{what} has shape {_fmt(got)}, expected {_fmt(want)} (a "
                           "value's shape must not change across iterations or branches)")


def _fmt(t) -> str:
    return format_type(t) if isinstance(t, (TensorType, TupleType)) else repr(t)


def _check_params(region, in_types, ctx, what: str):
    if not isinstance(region, Region):
        raise TypeError(f"{what} is not a Region: {region!r}")
    if len(region.params) != len(in_types):
        raise ValueError(f"{what} takes {len(region.params)} params, the op has "
                         f"{len(in_types)} inputs")
    for i, (p, t) in enumerate(zip(region.params, in_types)):
        if p.op != "param" or p.attr["index"] != i:
            raise ValueError(f"{what}: param {i} is a {p.op} node with attrs {p.attr}")
        same_type(p.type, t, ctx, f"{what} param {i}")


def _while_infer(in_types, attrs, ctx):
    n = attrs["carried"]
    if not 0 <= n <= len(in_types):
        raise ValueError(f"while: carried={n} with {len(in_types)} inputs")
    cond, body = attrs["cond"], attrs["body"]
    _check_params(cond, in_types, ctx, "while cond")
    _check_params(body, in_types, ctx, "while body")
    if len(cond.results) != 1:
        raise ValueError(f"while cond yields {len(cond.results)} values, expected 1")
    same_type(cond.results[0].type, TensorType(T.bool_, ()), ctx, "while cond's result")
    if len(body.results) != n:
        raise ValueError(f"while body yields {len(body.results)} values for {n} loop "
                         "variables")
    for i in range(n):
        same_type(body.results[i].type, in_types[i], ctx, f"loop variable {i}")
    return TupleType(tuple(in_types[:n]))


def _cond_infer(in_types, attrs, ctx):
    if not in_types:
        raise ValueError("cond needs a predicate input")
    same_type(in_types[0], TensorType(T.bool_, ()), ctx, "cond's predicate")
    then, else_ = attrs["then"], attrs["else"]
    _check_params(then, in_types[1:], ctx, "cond then")
    _check_params(else_, in_types[1:], ctx, "cond else")
    if len(then.results) != len(else_.results):
        raise ValueError(f"cond: then yields {len(then.results)} values, else "
                         f"{len(else_.results)}")
    for i, (a, b) in enumerate(zip(then.results, else_.results)):
        same_type(b.type, a.type, ctx, f"cond result {i} of the else branch")
    return TupleType(tuple(r.type for r in then.results))


def _get_infer(in_types, attrs, ctx):
    tup = in_types[0]
    if not isinstance(tup, TupleType):
        raise TypeError(f"get: its input has type {_fmt(tup)}, not a tuple")
    if not 0 <= attrs["index"] < len(tup.types):
        raise IndexError(f"get: index {attrs['index']} out of range for {_fmt(tup)}")
    return tup.types[attrs["index"]]


register(OpDef("param", 0, {"index": "int", "dtype": "dtype", "shape": "dims"},
               _param_infer, _interpreted, "source", parameter=True, differentiable=False))
register(OpDef("while", None, {"carried": "int", "cond": "region", "body": "region"},
               _while_infer, _interpreted, "control", differentiable=False))
register(OpDef("cond", None, {"then": "region", "else": "region"},
               _cond_infer, _interpreted, "control", differentiable=False))
register(OpDef("get", 1, {"index": "int"}, _get_infer, _interpreted, "control",
               differentiable=False))
