"""`fc.train`: TF1's training API — optimizers, the global step and checkpoints.

`GradientDescentOptimizer`, `MomentumOptimizer`, `AdamOptimizer` (optimizers.py),
`RMSPropOptimizer`, `AdagradOptimizer`, `AdadeltaOptimizer`, `FtrlOptimizer` (adaptive.py),
`Saver` (saver.py: `.npz` checkpoints of plain numeric arrays (runtime/npy.py); a bad file
raises `CheckpointError`, a ValueError, from checkpoint.py),
`get_or_create_global_step`, `get_global_step`, `create_global_step` (global_step.py),
session-run hooks (hooks.py) and monitored sessions: `MonitoredSession`,
`MonitoredTrainingSession`, `Scaffold` (monitored.py), `Supervisor` (supervisor.py).
See docs/training.md.
"""

from .adaptive import AdadeltaOptimizer, AdagradOptimizer, FtrlOptimizer, RMSPropOptimizer
from .checkpoint import CheckpointError
from .global_step import create_global_step, get_global_step, get_or_create_global_step
from .optimizers import AdamOptimizer, GradientDescentOptimizer, MomentumOptimizer, Optimizer
from .saver import Saver, latest_checkpoint

__all__ = [
    "AdadeltaOptimizer", "AdagradOptimizer", "AdamOptimizer", "CheckpointError",
    "FtrlOptimizer", "RMSPropOptimizer", "create_global_step",
    "get_global_step", "get_or_create_global_step",
    "GradientDescentOptimizer", "latest_checkpoint", "MomentumOptimizer", "Optimizer", "Saver",
]
# -- issue 14 / est: session-run hooks and monitored sessions (hooks.py, monitored.py) --
from .hooks import (  # noqa: E402
    CheckpointSaverHook,
    CheckpointSaverListener,
    FeedFnHook,
    FinalOpsHook,
    LoggingTensorHook,
    NanLossDuringTrainingError,
    NanTensorHook,
    SecondOrStepTimer,
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
    StepCounterHook,
    StopAtStepHook,
    SummarySaverHook,
)
from .monitored import (  # noqa: E402
    ChiefSessionCreator,
    MonitoredSession,
    MonitoredTrainingSession,
    Scaffold,
    SingularMonitoredSession,
)
from .supervisor import Supervisor  # noqa: E402

__all__ += [
    "CheckpointSaverHook", "CheckpointSaverListener", "ChiefSessionCreator", "FeedFnHook",
    "FinalOpsHook", "LoggingTensorHook", "MonitoredSession", "MonitoredTrainingSession",
    "NanLossDuringTrainingError", "NanTensorHook", "Scaffold", "SecondOrStepTimer",
    "SessionRunArgs", "SessionRunContext", "SessionRunHook", "SessionRunValues",
    "SingularMonitoredSession", "StepCounterHook", "StopAtStepHook", "SummarySaverHook",
    "Supervisor",
]
# -- end est --
