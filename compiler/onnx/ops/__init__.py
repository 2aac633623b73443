"""The ONNX converters, one module per family; importing this package registers every row
of the mapping table (compiler/onnx/table.py)."""

from . import control, elementwise, movement, nn, nn_pool, reduce, rnn  # noqa: F401
