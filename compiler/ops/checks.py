"""The run-time check primitive `check`: TF1's `Assert` inside a compiled step.

`check(cond) {message}` takes a bool tensor and returns it unchanged; where an element is
false the run fails. Generated code records an error code (kernel IR `Fail`, the first
one wins) whose message is `message` with the node's description, so the run raises
`ExecutionError` (an `InvalidArgumentError`) and, like every failed run, installs no
variable update. The reference raises `CheckFailed`, which the interpreter reports the
same way. A check is never folded (a false constant condition fails at run time, as in
TF1) and has no gradient. The frontend (compiler/frontend/asserts.py) builds the TF1
API on it; the Session fetches every check a run depends on.
"""

from __future__ import annotations

import numpy as np

from ..ir import dtypes as T
from .table import OpDef, register


class CheckFailed(IndexError):
    """A `check` found a false element (an IndexError, as the interpreter reports the
    faults that generated code flags, e.g. gather's out-of-range index)."""


def _check_infer(in_types, attrs, ctx):
    (t,) = in_types
    if t.dtype is not T.bool_:
        raise TypeError(f"check: the condition must be bool, got {t.dtype.name}")
    return t


def _check_ref(cond, message):
    if not np.all(cond):
        raise CheckFailed(message)
    return np.array(cond)


register(OpDef("check", 1, {"message": "str"}, _check_infer, _check_ref, "movement",
               differentiable=False, foldable=False))
