"""`fc.train`: TF1's training API — optimizers, the global step and checkpoints.

`GradientDescentOptimizer`, `MomentumOptimizer`, `AdamOptimizer` (optimizers.py),
`RMSPropOptimizer`, `AdagradOptimizer`, `AdadeltaOptimizer`, `FtrlOptimizer` (adaptive.py),
`Saver` (saver.py: `.npz` checkpoints of plain numeric arrays (runtime/npy.py); a bad file
raises `CheckpointError`, a ValueError, from checkpoint.py),
`get_or_create_global_step`, `get_global_step`, `create_global_step` (global_step.py).
See docs/training.md.
"""

from ..summary.writer import FileWriter
from .adaptive import AdadeltaOptimizer, AdagradOptimizer, FtrlOptimizer, RMSPropOptimizer
from .checkpoint import CheckpointError
from .global_step import create_global_step, get_global_step, get_or_create_global_step
from .optimizers import AdamOptimizer, GradientDescentOptimizer, MomentumOptimizer, Optimizer
from .saver import Saver, latest_checkpoint

SummaryWriter = FileWriter  # TF 0.x's name of tf.summary.FileWriter

__all__ = [
    "AdadeltaOptimizer", "AdagradOptimizer", "AdamOptimizer", "CheckpointError",
    "FtrlOptimizer", "RMSPropOptimizer", "create_global_step",
    "get_global_step", "get_or_create_global_step",
    "GradientDescentOptimizer", "latest_checkpoint", "MomentumOptimizer", "Optimizer", "Saver",
]
__all__ += ["SummaryWriter"]
