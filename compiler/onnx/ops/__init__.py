"""The ONNX converters, one module per family; importing this package registers every row
of the mapping table (compiler/onnx/table.py)."""

from . import activations, control, elementwise, movement, nn, reduce, rnn  # noqa: F401
