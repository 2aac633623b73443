"""Math ops of the TF1 API: elementwise arithmetic, comparisons, casts, reductions and
matmul, built from primitives. Python scalars take the dtype of the tensor beside them.
"""

from __future__ import annotations

from ..ir import dtypes as T
from .core import binary_operands, convert_to_tensor, make


def _binary(prim, tf_name):
    def fn(x, y, name=None):
        a, b = binary_operands(x, y, tf_name)
        return make(prim, [a, b], name=name or tf_name)
    fn.__name__ = tf_name
    fn.__doc__ = f"Elementwise `{prim}` with broadcasting (TF1 `{tf_name}`)."
    return fn


add = _binary("add", "add")
subtract = _binary("sub", "sub")
multiply = _binary("mul", "mul")
maximum = _binary("maximum", "maximum")
minimum = _binary("minimum", "minimum")


def divide(x, y, name=None):
    """True division: integer operands are converted to float64 first (TF1 `truediv`)."""
    a, b = binary_operands(x, y, "truediv")
    if a.dtype.is_int:
        a, b = cast(a, T.float64), cast(b, T.float64)
    return make("div", [a, b], name=name or "truediv")


def cast(x, dtype, name=None):
    x = convert_to_tensor(x)
    dtype = T.as_dtype(dtype)
    if x.dtype is dtype:
        return x
    return make("cast", [x], name=name or "Cast", dtype=dtype)


def negative(x, name=None):
    return make("neg", [convert_to_tensor(x)], name=name or "Neg")


def matmul(a, b, transpose_a=False, transpose_b=False, name=None):
    a, b = binary_operands(a, b, "MatMul")
    return make("matmul", [a, b], name=name or "MatMul", transpose_a=bool(transpose_a),
                transpose_b=bool(transpose_b))
