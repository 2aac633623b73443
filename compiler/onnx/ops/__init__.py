"""The ONNX converters, one module per family; importing this package registers every row
of the mapping table (compiler/onnx/table.py). Families: elementwise + activations,
movement + indexing, nn + nn_pool + nn_window (CNN ops), reduce + spectral, transformer +
attention, image + misc (losses, einsum, quantization), rnn, control (If, Loop, Scan),
dynamic (ops whose output shape depends on known inputs), domains (ops outside the
default domain)."""

from . import (  # noqa: F401
    activations,
    attention,
    control,
    domains,
    dynamic,
    elementwise,
    image,
    indexing,
    misc,
    movement,
    nn,
    nn_pool,
    reduce,
    rnn,
    spectral,
    transformer,
)
