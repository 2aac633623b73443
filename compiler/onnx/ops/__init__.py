"""The ONNX converters, one module per family; importing this package registers every row
of the mapping table (compiler/onnx/table.py). spectral.py is the reductions family's
second module (DFT, STFT, windows, MelWeightMatrix)."""

from . import (  # noqa: F401
    activations,
    attention,
    control,
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
