"""The ONNX converters, one module per family; importing this package registers every row
of the mapping table (compiler/onnx/table.py). spectral.py is the reductions family's
second module (DFT, STFT, windows, MelWeightMatrix); dynamic.py holds the ops whose output
shapes depend on the data (NonZero, Unique, NonMaxSuppression), computed at import."""

from . import (  # noqa: F401
    activations,
    attention,
    control,
    dynamic,
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
