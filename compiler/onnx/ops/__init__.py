"""The ONNX converters, one module per family; importing this package registers every row
of the mapping table (compiler/onnx/table.py). spectral.py is the reductions family's
second module (DFT, STFT, windows, MelWeightMatrix); domains.py holds the ops of ONNX
domains other than the default one."""

from . import (  # noqa: F401
    activations,
    attention,
    control,
    domains,
    elementwise,
    image,
    indexing,
    misc,
    movement,
    nn,
    reduce,
    rnn,
    spectral,
    transformer,
)
