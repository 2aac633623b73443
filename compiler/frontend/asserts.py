"""TF1's assertions: `tf.Assert`, the `tf.debugging.assert_*` family, `check_numerics` /
`verify_tensor_all_finite`, and the numeric predicates `is_nan`, `is_inf`, `is_finite`.

`Assert(condition, data, summarize)` adds the `check` primitive (compiler/ops/checks.py)
on `reduce_all(condition)` and returns its Operation, as TF1 returns the Assert op: a run
that depends on it (through a fetch, a target, `group` or `control_dependencies`) fails
with `ExecutionError`, an `InvalidArgumentError`, when the condition is false, and
installs no variable update. The message is TF1's: `assertion failed: [item] [item]
...`, each item a string of `data` or the first `summarize` values of a tensor of
`data`, which the Session fills in when the check fails (`failure_message`), from the
same feeds and the variables the failed run saw. The Session compiles every check a run
depends on into the run (`checks_needed`).

Static facts resolve when the graph is built, as TF1 does: `assert_equal` of two
constants, `assert_rank`/`assert_rank_at_least` of a known rank, `assert_type`,
`assert_integer` and `assert_scalar` raise (InvalidArgumentError, ValueError or
TypeError) at once and return a no-op when they hold.
"""

from __future__ import annotations

import numpy as np

from runtime.errors import InvalidArgumentError

from ..ir import dtypes as T
from . import math_ops as M
from .array_ops import rank as rank_of
from .control_flow import control_dependencies, no_op
from .core import _as_tensor, convert_to_tensor, identity, make_op, op_scope
from .graph import Operation, Tensor
from .reduce_ops import reduce_all

#: the user op type of an assertion (the primitive's name)
CHECK_OP = "check"
_DEFAULT_SUMMARIZE = 3


def is_nan(x, name=None) -> Tensor:
    """True where `x` is NaN (floats)."""
    x = convert_to_tensor(x)
    _need_float(x, "is_nan")
    return M.not_equal(x, x, name=name or "IsNan")


def is_inf(x, name=None) -> Tensor:
    """True where `x` is +inf or -inf (floats)."""
    x = convert_to_tensor(x)
    _need_float(x, "is_inf")
    return M.equal(M.abs(x), np.inf, name=name or "IsInf")


def is_finite(x, name=None) -> Tensor:
    """True where `x` is neither NaN nor infinite (floats)."""
    x = convert_to_tensor(x)
    _need_float(x, "is_finite")
    return M.less(M.abs(x), np.inf, name=name or "IsFinite")


def _need_float(x, what):
    if not x.dtype.is_float:
        raise TypeError(f"{what}: {x.name!r} has dtype {x.dtype.name}; it takes floats")


# ---- Assert -------------------------------------------------------------------------------
def Assert(condition, data, summarize=None, name=None) -> Operation:  # noqa: N802 (TF1 name)
    """A run-time check that `condition` (a bool tensor; all of it) holds; see the module
    docstring. `data` is a list of strings and tensors shown in the error."""
    cond = convert_to_tensor(condition)
    if cond.dtype is not T.bool_:
        raise TypeError(f"Assert: the condition {cond.name!r} must be bool, got "
                        f"{cond.dtype.name}")
    data = list(data) if isinstance(data, (list, tuple)) else [data]
    items = [d if isinstance(d, (str, bytes)) else convert_to_tensor(d) for d in data]
    with op_scope(name, "Assert", [cond]) as scope:
        if cond.shape.ndims != 0:
            cond = reduce_all(cond)
        op = make_op(CHECK_OP, [cond], name=scope, message=_static_message(items))
    op._assert_data = (items, _DEFAULT_SUMMARIZE if summarize is None else int(summarize))
    return op


def _static_message(items) -> str:
    """The message with each tensor shown by name (the Session puts values there)."""
    parts = [_text(d) if isinstance(d, (str, bytes)) else f"<{d.name}>" for d in items]
    return "assertion failed: " + " ".join(f"[{p}]" for p in parts)


def _text(d) -> str:
    return d.decode("utf-8", "replace") if isinstance(d, bytes) else d


def summarize_value(value, summarize) -> str:
    """TF1's summary of a tensor's value: its first `summarize` elements."""
    flat = np.asarray(value).reshape(-1)
    shown = " ".join(_element(v) for v in flat[:max(summarize, 0)])
    return shown + ("..." if flat.size > summarize else "")


def _element(v) -> str:
    if isinstance(v, (np.floating, float)):
        return np.format_float_positional(v, trim="-") if np.isfinite(v) else str(v)
    return str(v.item() if isinstance(v, np.generic) else v)


def failure_message(op: Operation, values: dict) -> str:
    """TF1's message of the failed assertion `op`, with the values (tensor -> array) of
    its data tensors; a tensor without a value keeps its name."""
    items, summarize = op._assert_data
    parts = []
    for d in items:
        if isinstance(d, (str, bytes)):
            parts.append(_text(d))
        elif d in values:
            parts.append(summarize_value(values[d], summarize))
        else:
            parts.append(f"<{d.name}>")
    return "assertion failed: " + " ".join(f"[{p}]" for p in parts)


def data_tensors(op: Operation) -> list:
    return [d for d in op._assert_data[0] if isinstance(d, Tensor)]


def checks_needed(fetch_ops, fed) -> list:
    """The assertion ops a run of `fetch_ops` depends on (through data and control
    inputs, stopping at fed tensors), in a stable order."""
    return ops_needed(fetch_ops, fed, (CHECK_OP,))


def ops_needed(fetch_ops, fed, types) -> list:
    """The ops of `types` a run of `fetch_ops` depends on, in creation order."""
    out, seen, stack = [], set(), list(fetch_ops)
    while stack:
        op = stack.pop()
        if op in seen:
            continue
        seen.add(op)
        if op.type in types:
            out.append(op)
        stack.extend(t.op for t in op.inputs if t not in fed)
        stack.extend(op.control_inputs)
    return sorted(out, key=lambda o: o._id)


# ---- the assert_* family -------------------------------------------------------------------
def _compare(fn, sign, x, y, data, summarize, message, name, default_name):
    with op_scope(name, default_name, [x, y]):
        x, y = convert_to_tensor(x, name="x"), convert_to_tensor(y, name="y")
        if data is None:
            data = [f"Condition x {sign} y did not hold element-wise:", f"x ({x.name}) = ", x,
                    f"y ({y.name}) = ", y]
            if message is not None:
                data = [message] + data
        return Assert(reduce_all(fn(x, y)), data, summarize=summarize)


def _one_sided(fn, sign, x, data, summarize, message, name, default_name):
    with op_scope(name, default_name, [x]):
        x = convert_to_tensor(x, name="x")
        if data is None:
            data = [f"Condition x {sign} 0 did not hold element-wise:", f"x ({x.name}) = ", x]
            if message is not None:
                data = [message] + data
        zero = np.zeros((), x.dtype.np)
        return Assert(reduce_all(fn(x, zero)), data, summarize=summarize)


def _static(t: Tensor):
    """The value of a constant tensor, else None."""
    return t.op.attrs["value"].array if t.op.type == "constant" else None


def assert_equal(x, y, data=None, summarize=None, message=None, name=None):
    """Assert `x == y` element-wise; two constants are compared when the graph is built
    (InvalidArgumentError at once if they differ, as TF1)."""
    xs, ys = _maybe_tensor(x), _maybe_tensor(y)
    sx, sy = _static(xs), _static(ys)
    if sx is not None and sy is not None and not np.all(np.equal(sx, sy)):
        text = f"{message + ' ' if message else ''}Condition x == y did not hold " \
               f"element-wise: x ({xs.name}) = {summarize_value(sx, 3)} y ({ys.name}) = " \
               f"{summarize_value(sy, 3)}"
        raise InvalidArgumentError(None, None, text)
    return _compare(M.equal, "==", xs, ys, data, summarize, message, name, "assert_equal")


def _maybe_tensor(v):
    return _as_tensor(v) if isinstance(v, Tensor) or hasattr(v, "_as_graph_element") \
        else convert_to_tensor(v)


def assert_none_equal(x, y, data=None, summarize=None, message=None, name=None):
    return _compare(M.not_equal, "!=", x, y, data, summarize, message, name,
                    "assert_none_equal")


def assert_less(x, y, data=None, summarize=None, message=None, name=None):
    return _compare(M.less, "<", x, y, data, summarize, message, name, "assert_less")


def assert_less_equal(x, y, data=None, summarize=None, message=None, name=None):
    return _compare(M.less_equal, "<=", x, y, data, summarize, message, name,
                    "assert_less_equal")


def assert_greater(x, y, data=None, summarize=None, message=None, name=None):
    return _compare(M.greater, ">", x, y, data, summarize, message, name, "assert_greater")


def assert_greater_equal(x, y, data=None, summarize=None, message=None, name=None):
    return _compare(M.greater_equal, ">=", x, y, data, summarize, message, name,
                    "assert_greater_equal")


def assert_positive(x, data=None, summarize=None, message=None, name=None):
    return _one_sided(M.greater, ">", x, data, summarize, message, name, "assert_positive")


def assert_negative(x, data=None, summarize=None, message=None, name=None):
    return _one_sided(M.less, "<", x, data, summarize, message, name, "assert_negative")


def assert_non_negative(x, data=None, summarize=None, message=None, name=None):
    return _one_sided(M.greater_equal, ">=", x, data, summarize, message, name,
                      "assert_non_negative")


def assert_non_positive(x, data=None, summarize=None, message=None, name=None):
    return _one_sided(M.less_equal, "<=", x, data, summarize, message, name,
                      "assert_non_positive")


def assert_rank(x, rank, data=None, summarize=None, message=None, name=None):
    """Static when the rank of `x` is known (ValueError at once); else a run-time check
    of `tf.rank(x)` (flowc compiles once per fed rank)."""
    return _rank_check(x, rank, "==", data, summarize, message, name, "assert_rank")


def assert_rank_at_least(x, rank, data=None, summarize=None, message=None, name=None):
    return _rank_check(x, rank, ">=", data, summarize, message, name, "assert_rank_at_least")


def _rank_check(x, rank, sign, data, summarize, message, name, default_name):
    x = convert_to_tensor(x)
    want = int(rank)
    ok = (lambda r: r == want) if sign == "==" else (lambda r: r >= want)
    if x.shape.ndims is not None:
        if not ok(x.shape.ndims):
            what = "of" if sign == "==" else "at least"
            raise ValueError(f"{message + ' ' if message else ''}Tensor {x.name} must have "
                             f"rank {what} {want}. Received rank {x.shape.ndims}, shape "
                             f"{x.shape}")
        return no_op(name=name or default_name)
    with op_scope(name, default_name, [x]):
        r = rank_of(x)
        cond = M.equal(r, want) if sign == "==" else M.greater_equal(r, want)
        if data is None:
            data = [message or "", f"Tensor {x.name} must have rank {sign} {want}. Received "
                    "rank: ", r]
        return Assert(cond, data, summarize=summarize)


def assert_type(tensor, tf_type, message=None, name=None):
    """TypeError at once unless `tensor` has dtype `tf_type`; a no-op otherwise."""
    t = _maybe_tensor(tensor)
    want = T.as_dtype(tf_type)
    if t.dtype is not want:
        raise TypeError(f"{message + ' ' if message else ''}{t.name} must be of type "
                        f"{want.name}; got {t.dtype.name}")
    return no_op(name=name or "assert_type")


def assert_integer(x, message=None, name=None):
    t = _maybe_tensor(x)
    if not t.dtype.is_int:
        raise TypeError(f"{message + ' ' if message else ''}Expected integer type for "
                        f"{t.name}, got {t.dtype.name}")
    return no_op(name=name or "assert_integer")


def assert_scalar(tensor, name=None, message=None):
    """ValueError at once unless `tensor` is known to be a scalar; returns the tensor."""
    t = _maybe_tensor(tensor)
    if t.shape.ndims != 0:
        raise ValueError(f"{message + ' ' if message else ''}Expected scalar shape for "
                         f"{t.name}, saw shape: {t.shape}")
    return t


def check_numerics(tensor, message, name=None) -> Tensor:
    """`tensor` unchanged, after run-time checks that it has no NaN and no Inf (TF1's
    messages: `message : Tensor had NaN values`)."""
    x = convert_to_tensor(tensor)
    _need_float(x, "check_numerics")
    with op_scope(name, "CheckNumerics", [x]) as scope:
        no_nan = Assert(reduce_all(M.equal(x, x)), [f"{message} : Tensor had NaN values"],
                        name="NaN")
        no_inf = Assert(reduce_all(M.logical_not(is_inf(x))),
                        [f"{message} : Tensor had Inf values"], name="Inf")
        with control_dependencies([no_nan, no_inf]):
            return identity(x, name=scope)


def verify_tensor_all_finite(t, msg, name=None) -> Tensor:
    """TF1's alias of `check_numerics(t, msg)`."""
    return check_numerics(t, msg, name=name or "VerifyFinite")
