"""flowc's workers on Ray (issue 17; docs/execution.md, "Workers on Ray" and "Faults"):
the master's side of a distributed Session.

    connect(target, cluster_spec=None, config=None, ...) -> Cluster   (cluster.py)
    Cluster.register(task, key, exe, options)  ship a compiled partition once (wire.py)
    Cluster.plan(stages, feed_keys, fetch_keys) -> StepPlan           (step.py)
    StepPlan.run(feeds, counter) -> {fetch key: ndarray}
    Cluster.get_variables / set_variables / variable_names (task, ...)
    Cluster.close()

Ray is an optional extra (`pip install 'flowc[distributed]'`): importing this package
never imports Ray; `connect` does.
"""

from .cluster import (
    DEFAULT_TIMEOUT_S,
    LOCAL_TASK,
    Cluster,
    DistributedUnavailable,
    connect,
    parse_target,
    task_names,
)
from .step import Stage, StepPlan
from .wire import RegistrationError, UnsupportedPartition

__all__ = ["DEFAULT_TIMEOUT_S", "LOCAL_TASK", "Cluster", "DistributedUnavailable",
           "RegistrationError", "Stage", "StepPlan", "UnsupportedPartition", "connect",
           "parse_target", "task_names"]
