"""`fc.train`: TF1's training API — optimizers, the global step and checkpoints.

`GradientDescentOptimizer`, `MomentumOptimizer`, `AdamOptimizer` (optimizers.py),
`RMSPropOptimizer`, `AdagradOptimizer`, `AdadeltaOptimizer`, `FtrlOptimizer` (adaptive.py),
`Saver` (saver.py: TF1's V2 checkpoints (bundle.py, sstable.py) or `.npz` ones of plain
numeric arrays (runtime/npy.py); a bad file raises `CheckpointError`, a ValueError, from
checkpoint.py), the `checkpoint` state file (`latest_checkpoint`, `get_checkpoint_state`,
`checkpoint_exists`, `get_checkpoint_mtimes`, `remove_checkpoint`: checkpoint_state.py),
`NewCheckpointReader`, `list_variables`, `load_variable` (checkpoint_utils.py),
`export_meta_graph`/`import_meta_graph` (meta_graph.py),
`get_or_create_global_step`, `get_global_step`, `create_global_step` (global_step.py).
session-run hooks (hooks.py) and monitored sessions: `MonitoredSession`,
`MonitoredTrainingSession`, `Scaffold` (monitored.py), `Supervisor` (supervisor.py).
See docs/training.md.
"""

from ..summary.writer import FileWriter
from .adaptive import AdadeltaOptimizer, AdagradOptimizer, FtrlOptimizer, RMSPropOptimizer
from .checkpoint import CheckpointError
from .checkpoint_state import (
    CheckpointState,
    checkpoint_exists,
    get_checkpoint_mtimes,
    get_checkpoint_state,
    latest_checkpoint,
    remove_checkpoint,
    update_checkpoint_state,
)
from .checkpoint_utils import NewCheckpointReader, list_variables, load_variable
from .cluster import ClusterSpec, replica_device_setter
from .global_step import create_global_step, get_global_step, get_or_create_global_step
from .meta_graph import MetaGraphError, export_meta_graph
from .optimizers import AdamOptimizer, GradientDescentOptimizer, MomentumOptimizer, Optimizer
from .saver import Saver, SaverDef, import_meta_graph

SummaryWriter = FileWriter  # TF 0.x's name of tf.summary.FileWriter

__all__ = [
    "AdadeltaOptimizer", "AdagradOptimizer", "AdamOptimizer", "CheckpointError", "ClusterSpec",
    "FtrlOptimizer", "RMSPropOptimizer", "create_global_step",
    "get_global_step", "get_or_create_global_step",
    "GradientDescentOptimizer", "latest_checkpoint", "MomentumOptimizer", "Optimizer", "Saver",
    # checkpoints
    "CheckpointState", "MetaGraphError", "NewCheckpointReader", "SaverDef",
    "checkpoint_exists", "export_meta_graph", "get_checkpoint_mtimes", "get_checkpoint_state",
    "import_meta_graph", "list_variables", "load_variable", "remove_checkpoint",
    "update_checkpoint_state", "replica_device_setter",
]

# -- issue 14 / data: TF1's queue-based input (compiler/data/queues.py, producers.py) --
from ..data import queues as queue_runner  # noqa: E402  (tf.train.queue_runner.QueueRunner)
from ..data.producers import (  # noqa: E402
    batch,
    input_producer,
    range_input_producer,
    shuffle_batch,
    slice_input_producer,
    string_input_producer,
)
from ..data.queues import (  # noqa: E402
    Coordinator,
    QueueRunner,
    add_queue_runner,
    start_queue_runners,
)

__all__ += [
    "Coordinator", "QueueRunner", "add_queue_runner", "batch", "input_producer",
    "queue_runner", "range_input_producer", "shuffle_batch", "slice_input_producer",
    "start_queue_runners", "string_input_producer",
]
# -- end data --

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
__all__ += ["SummaryWriter"]
