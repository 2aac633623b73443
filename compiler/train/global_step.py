"""The global step (TF1's `tf.train.get_or_create_global_step` and friends).

The global step is a scalar int64 Variable named `global_step`, non-trainable, created at
the top level of the graph's name scopes (outside any control dependencies) and stored in
the GLOBAL_VARIABLES and `global_step` collections, initialized to 0.
`Optimizer.apply_gradients(..., global_step=step)` increments it after each step's updates.
"""

from __future__ import annotations

import numpy as np

from ..frontend.graph import get_default_graph
from ..frontend.variables import GLOBAL_VARIABLES, Variable

GLOBAL_STEP = "global_step"


def get_global_step(graph=None):
    """The graph's global step Variable, or None when it has none."""
    graph = graph or get_default_graph()
    steps = graph.get_collection(GLOBAL_STEP)
    if len(steps) > 1:
        raise ValueError(f"there are {len(steps)} variables in the {GLOBAL_STEP!r} collection")
    return steps[0] if steps else None


def create_global_step(graph=None):
    """Create the global step; ValueError when the graph has one already."""
    graph = graph or get_default_graph()
    if get_global_step(graph) is not None:
        raise ValueError('"global_step" already exists.')
    with graph.as_default(), graph.name_scope(None), graph.control_dependencies(None):
        return Variable(np.int64(0), trainable=False, name=GLOBAL_STEP,
                        collections=[GLOBAL_VARIABLES, GLOBAL_STEP])


def get_or_create_global_step(graph=None):
    """The graph's global step, created when missing."""
    graph = graph or get_default_graph()
    step = get_global_step(graph)
    return step if step is not None else create_global_step(graph)
