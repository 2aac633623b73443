"""Shape and data-movement ONNX ops: reshape, transpose, slicing, gathering, padding,
constants."""

from __future__ import annotations

from ...frontend import core
from ..table import converter


@converter("Constant", attrs=("value",))
def constant(cx):
    if "value" not in cx.attrs:
        raise cx.unsupported("only the `value` attribute form is supported")
    return [core.constant(cx.attr("value"))]
