"""The primitive op table. Importing this package registers every row (see `table.py`)."""

from . import checks, control, conv, elementwise, movement, reduce, sources, window  # noqa: F401  (rows)
from .table import OPS, InferContext, OpDef, get, names, shape_attr_names

__all__ = ["OPS", "OpDef", "InferContext", "get", "names", "shape_attr_names"]
