"""Neural-network ONNX ops: matrix products, convolutions, pooling, normalization,
softmax."""

from __future__ import annotations

from ...frontend import math_ops as M
from ..table import converter


@converter("MatMul")
def matmul(cx):
    a, b = cx.input(0), cx.input(1)
    if a.shape.ndims is None or b.shape.ndims is None or min(a.shape.ndims,
                                                              b.shape.ndims) < 2:
        raise cx.unsupported("MatMul of operands of rank < 2 or unknown rank")
    return [M.matmul(a, b)]
