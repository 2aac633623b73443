"""TF1 variable sharing: `variable_scope`, `get_variable`, `get_variable_scope`,
`AUTO_REUSE`.

Each graph keeps a stack of `VariableScope`s (`graph._var_scope_stack`, the root scope at
the bottom) and a store of the variables made by `get_variable`
(`graph.variable_store`, full name -> Variable). `get_variable("w")` inside
`variable_scope("layer")` names the variable "layer/w" whatever the current name scope
is. Reuse follows TF1: `reuse=True` makes this scope and all scopes inside it reuse
(only existing variables may be returned), `AUTO_REUSE` returns existing variables and
creates missing ones, `None`/`False` inherits the enclosing scope's mode; asking for an
existing variable without reuse, or a missing one with `reuse=True`, raises ValueError
naming the variable, as does sharing with a different shape or dtype.

A `partitioner` (given to `get_variable` or to a `variable_scope`, inherited by inner
scopes) makes `get_variable` return a `PartitionedVariable` (partitioned.py) whose shards
`name/part_0`, `name/part_1`, ... are ordinary Variables in the store; reuse returns
the same PartitionedVariable (checked for shape, dtype and partitions), and asking for a
partitioned name without a partitioner, or an unpartitioned one with, is a ValueError
naming the variable, as TF1.
"""

from __future__ import annotations

import contextlib
import inspect
import weakref

import numpy as np

from ..ir import dtypes as T
from .core import _is_tensor_like, convert_to_tensor, dims_of
from .graph import TensorShape, get_default_graph
from .partitioned import (
    PartitionedVariable,
    SaveSliceInfo,
    _PartitionInfo,
    check_partitions,
    shard_slices,
)
from .variables import Variable

REGULARIZATION_LOSSES = "regularization_losses"


class _AutoReuse:
    def __repr__(self):
        return "AUTO_REUSE"


AUTO_REUSE = _AutoReuse()


class VariableScope:
    """A variable scope: its name, reuse mode, default initializer, dtype,
    regularizer and partitioner, and the name scope opened when it was first entered."""

    def __init__(self, reuse, name="", initializer=None, regularizer=None,
                 dtype=T.float32, name_scope="", partitioner=None):
        self.name = name
        self._reuse = reuse
        self.initializer = initializer
        self.regularizer = regularizer
        self.dtype = T.as_dtype(dtype)
        self.original_name_scope = name_scope
        self.partitioner = partitioner

    @property
    def reuse(self):
        return self._reuse

    def reuse_variables(self):
        """Make this scope reuse variables from now on."""
        self._reuse = True

    def set_initializer(self, initializer):
        self.initializer = initializer

    def set_regularizer(self, regularizer):
        self.regularizer = regularizer

    def set_dtype(self, dtype):
        self.dtype = T.as_dtype(dtype)

    def set_partitioner(self, partitioner):
        self.partitioner = partitioner

    def get_variable(self, name, shape=None, dtype=None, initializer=None, regularizer=None,
                     trainable=None, collections=None, caching_device=None, partitioner=None,
                     **unused):
        """See the module-level `get_variable`; uses this scope instead of the current."""
        return _get_variable(self, name, shape, dtype, initializer, regularizer, trainable,
                             collections, partitioner)

    def __repr__(self):
        return f"<fc.VariableScope {self.name!r} reuse={self._reuse}>"


def _stack(graph):
    if not graph._var_scope_stack:
        graph._var_scope_stack.append(VariableScope(reuse=None))
    return graph._var_scope_stack


def get_variable_scope() -> VariableScope:
    """The current variable scope of the default graph."""
    return _stack(get_default_graph())[-1]


@contextlib.contextmanager
def variable_scope(name_or_scope, default_name=None, values=None, initializer=None,
                   regularizer=None, caching_device=None, partitioner=None,
                   custom_getter=None, reuse=None, dtype=None, use_resource=None,
                   constraint=None, auxiliary_name_scope=True):
    """Enter a variable scope (and the matching name scope); yields the VariableScope.
    `name_or_scope` is a name (relative to the current variable scope) or a
    VariableScope to re-enter; `default_name` is used (made unique) when it is None."""
    if custom_getter is not None:
        raise NotImplementedError("variable_scope: custom_getter is not supported")
    if name_or_scope is None and default_name is None:
        raise ValueError("variable_scope: name_or_scope and default_name cannot both be None")
    graph = get_default_graph()
    parent = _stack(graph)[-1]
    reuse = _effective_reuse(parent, reuse, name_or_scope)
    if isinstance(name_or_scope, VariableScope):
        base = name_or_scope
        full, name_scope = base.name, base.original_name_scope
        initializer = _first(initializer, base.initializer)
        regularizer = _first(regularizer, base.regularizer)
        dtype = _first(dtype, base.dtype)
        partitioner = _first(partitioner, base.partitioner)
    else:
        short = name_or_scope if name_or_scope is not None else _unique_default(
            graph, parent, default_name)
        full = f"{parent.name}/{short}" if parent.name else short
        name_scope = short
    with _name_scope(graph, name_scope, auxiliary_name_scope) as opened:
        scope = VariableScope(reuse, full, _first(initializer, parent.initializer),
                              _first(regularizer, parent.regularizer),
                              _first(dtype, parent.dtype), name_scope=opened,
                              partitioner=_first(partitioner, parent.partitioner))
        graph._var_scope_stack.append(scope)
        counts = _default_name_counts.setdefault(graph, {})
        before = dict(counts)
        try:
            yield scope
        finally:
            graph._var_scope_stack.pop()
            _close_subscopes(counts, before, full, isinstance(name_or_scope, VariableScope))


def _close_subscopes(counts, before, full, reentered):
    """TF1's exit of a variable scope: the default names made unique inside a scope
    entered by name start again the next time it is entered (so a second model built in
    `variable_scope("Model", reuse=True)` finds `Model/rnn/multi_rnn_cell`, not
    `multi_rnn_cell_1`); re-entering a VariableScope object restores the counts."""
    if reentered:
        counts.clear()
        counts.update(before)
        return
    for key in [k for k in counts if k.startswith(full + "/")]:
        del counts[key]


def _first(value, default):
    return default if value is None else value


def _effective_reuse(parent, reuse, name_or_scope):
    if parent.reuse is True or reuse is True:
        return True
    if reuse is AUTO_REUSE:
        return AUTO_REUSE
    if isinstance(name_or_scope, VariableScope) and name_or_scope.reuse is not None:
        return name_or_scope.reuse
    return parent.reuse


@contextlib.contextmanager
def _name_scope(graph, name_scope, enter):
    """Open the name scope of a variable scope (a name ending in "/" re-enters it)."""
    if not enter:
        current = graph.get_name_scope()
        yield current + "/" if current else ""
        return
    with graph.name_scope(name_scope) as opened:
        yield opened


_default_name_counts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _unique_default(graph, parent, default_name):
    """`default_name`, `default_name_1`, ... unique among the parent's default scopes."""
    counts = _default_name_counts.setdefault(graph, {})
    key = f"{parent.name}/{default_name}"
    k = counts.get(key, 0)
    counts[key] = k + 1
    return default_name if k == 0 else f"{default_name}_{k}"


def get_variable(name, shape=None, dtype=None, initializer=None, regularizer=None,
                 trainable=None, collections=None, caching_device=None, partitioner=None,
                 validate_shape=True, use_resource=None, custom_getter=None, constraint=None,
                 **unused):
    """The variable `name` of the current variable scope: created (with `initializer`,
    else the scope's, else glorot_uniform for floats and zeros otherwise) or, when the
    scope reuses, the existing one. With a `partitioner` (or the scope's) a
    PartitionedVariable. See the module docstring for the reuse errors."""
    return _get_variable(get_variable_scope(), name, shape, dtype, initializer, regularizer,
                         trainable, collections, partitioner)


def _get_variable(scope, name, shape, dtype, initializer, regularizer, trainable,
                  collections, partitioner=None, partition_info=None):
    graph = get_default_graph()
    full = f"{scope.name}/{name}" if scope.name else name
    partitioner = _first(partitioner, scope.partitioner)
    if partitioner is not None and partition_info is None:
        return _get_partitioned(scope, full, partitioner, shape, dtype, initializer,
                                regularizer, trainable, collections)
    existing = graph.variable_store.get(full)
    if isinstance(existing, PartitionedVariable) or (
            existing is None and f"{full}/part_0" in graph.variable_store):
        raise ValueError(f"No partitioner was provided, but a partitioned version of the "
                         f"variable was found: {full}/part_0. Perhaps a variable of the "
                         "same name was already created with partitioning?")
    if existing is not None:
        if scope.reuse is None or scope.reuse is False:
            raise ValueError(f"Variable {full} already exists, disallowed. Did you mean to "
                             "set reuse=True or reuse=tf.AUTO_REUSE in VarScope?")
        _check_shared(full, existing, shape, dtype)
        return existing
    if scope.reuse is True:
        raise ValueError(f"Variable {full} does not exist, or was not created with "
                         "tf.get_variable(). Did you mean to set reuse=tf.AUTO_REUSE in "
                         "VarScope?")
    dtype = T.as_dtype(dtype) if dtype is not None else scope.dtype
    if initializer is None:
        initializer = scope.initializer
    make_initial = _initial_value_fn(full, shape, dtype, initializer, partition_info)
    with graph.name_scope(None), graph.control_dependencies(None):
        var = Variable(initial_value=make_initial, name=full, dtype=dtype,
                       trainable=True if trainable is None else trainable,
                       collections=collections)
        graph.variable_store[full] = var
        regularizer = regularizer if regularizer is not None else scope.regularizer
        if regularizer is not None:
            with graph.name_scope(full + "/Regularizer/"):
                loss = regularizer(var)
            if loss is not None:
                graph.add_to_collection(REGULARIZATION_LOSSES, loss)
    return var


def _get_partitioned(scope, full, partitioner, shape, dtype, initializer, regularizer,
                     trainable, collections):
    """The PartitionedVariable `full`: the existing one when the scope reuses, else new
    shards made by `_get_variable` (see the module docstring)."""
    graph = get_default_graph()
    store = graph.variable_store
    if isinstance(store.get(full), Variable):
        raise ValueError(f"A partitioner was provided, but an unpartitioned version of the "
                         f"variable was found: {full}. Perhaps a variable of the same name "
                         "was already created without partitioning?")
    initializer = _first(initializer, scope.initializer)
    given_dtype = None if dtype is None else T.as_dtype(dtype)
    from_value = initializer is not None and not callable(initializer)
    if from_value:
        if shape is not None:
            raise ValueError(f"Variable {full}: if initializer is a constant, do not "
                             "specify shape.")
        initializer = convert_to_tensor(initializer, dtype=None if _is_tensor_like(
            initializer) else (dtype or scope.dtype))
        shape, dtype = tuple(initializer.shape), initializer.dtype
    dtype = T.as_dtype(dtype) if dtype is not None else scope.dtype
    dims = _partition_dims(full, shape)
    existing = store.get(full)
    if existing is not None:
        return _reuse_partitioned(scope, full, existing, partitioner, dims, given_dtype)
    if scope.reuse is True:
        raise ValueError(f"PartitionedVariable {full} does not exist, or was not created "
                         "with tf.get_variable(). Did you mean to set reuse=False or "
                         "reuse=tf.AUTO_REUSE in VarScope?")
    if dims is None:
        raise ValueError(f"Shape of a new partitioned variable ({full}) must be fully "
                         "defined, but instead was None.")
    partitions = partitioner(shape=TensorShape(dims), dtype=dtype)
    axis, count = check_partitions(full, dims, partitions)
    if f"{full}/part_0" in store:
        raise ValueError(f"Partitioned variable with name {full} already exists (its shard "
                         f"{full}/part_0 does). Did you mean to set reuse=True or "
                         "reuse=tf.AUTO_REUSE in VarScope?")
    shards = []
    for i, (offset, part) in enumerate(shard_slices(dims, axis, count)):
        shard_init, shard_shape = initializer, part
        if from_value:
            with graph.name_scope(f"{full}/part_{i}/PartitionedInitializer/"):
                shard_init = _slice(initializer, offset, part)
            shard_shape = None
        short = full[len(scope.name) + 1:] if scope.name else full
        var = _get_variable(scope, f"{short}/part_{i}", shard_shape, dtype, shard_init,
                            regularizer, trainable, collections,
                            partition_info=_PartitionInfo(dims, offset))
        var._set_save_slice_info(SaveSliceInfo(full, dims, offset, part))
        shards.append(var)
    pv = PartitionedVariable(full, dims, dtype, shards, [int(p) for p in partitions])
    store[full] = pv
    return pv


def _partition_dims(full, shape):
    if shape is None:
        return None
    try:
        dims = [int(d) for d in dims_of(shape, f"get_variable {full}")]
    except (TypeError, ValueError):
        raise ValueError(f"Shape of a new partitioned variable ({full}) must be fully "
                         f"defined, but instead was {list(shape)}.") from None
    if not dims or any(d < 0 for d in dims):
        raise ValueError(f"Variable {full}: a partitioned variable needs rank >= 1 and a "
                         f"fully defined shape, got {dims}")
    return dims


def _reuse_partitioned(scope, full, pv, partitioner, dims, dtype):
    if scope.reuse is None or scope.reuse is False:
        raise ValueError(f"Partitioned variable with name {full} already exists. Did you "
                         "mean to set reuse=True or reuse=tf.AUTO_REUSE in VarScope?")
    if dims is not None and list(dims) != pv.shape.as_list():
        raise ValueError(f"Trying to reuse partitioned variable {full}, but specified shape "
                         f"{list(dims)} and found shape {pv.shape.as_list()}.")
    if dtype is not None and dtype is not pv.dtype:
        raise ValueError(f"Trying to reuse partitioned variable {full}, but specified dtype "
                         f"{dtype.name} and found dtype {pv.dtype.name}.")
    if dims is not None:
        partitions = [int(p) for p in partitioner(shape=TensorShape(dims), dtype=dtype)]
        if partitions != pv._get_partitions():
            raise ValueError(f"Trying to reuse partitioned variable {full}, but specified "
                             f"partitions {partitions} and found partitions "
                             f"{pv._get_partitions()}.")
    return pv


def _slice(value, offset, part):
    """value[offset : offset + part] (one shard of a value initializer)."""
    from .indexing import getitem
    return getitem(value, tuple(slice(o, o + n) for o, n in zip(offset, part)))


def _check_shared(full, var, shape, dtype):
    if shape is not None:
        want = tuple(dims_of(shape, "get_variable"))
        if want != tuple(var.shape):
            raise ValueError(f"Trying to share variable {full}, but specified shape "
                             f"{list(want)} and found shape {list(var.shape)}.")
    if dtype is not None and T.as_dtype(dtype) is not var.dtype:
        raise ValueError(f"Trying to share variable {full}, but specified dtype "
                         f"{T.as_dtype(dtype).name} and found dtype {var.dtype.name}.")


def _initial_value_fn(full, shape, dtype, initializer, partition_info=None):
    """A callable building the initial value (called inside the variable's name scope);
    a shard's initializer also gets `partition_info` when it takes that argument."""
    if initializer is not None and not callable(initializer):
        if shape is not None and _is_tensor_like(initializer):
            raise ValueError(f"Variable {full}: if initializer is a constant, do not "
                             "specify shape.")
        return _value_initializer(initializer, dtype)
    if shape is None:
        raise ValueError(f"Shape of a new variable ({full}) must be fully defined, but "
                         "instead was None.")
    try:
        dims = dims_of(shape, f"get_variable {full}")
    except (TypeError, ValueError):
        dims = None
    if dims is None or not all(isinstance(d, int) and d >= 0 for d in dims):
        raise ValueError(f"Shape of a new variable ({full}) must be fully defined, but "
                         f"instead was {list(shape)}.")
    if initializer is None:
        from .init_ops import glorot_uniform_initializer, zeros_initializer
        initializer = glorot_uniform_initializer() if dtype.is_float else zeros_initializer()

    extra = {}
    if partition_info is not None and _takes_partition_info(initializer):
        extra["partition_info"] = partition_info

    def build():
        with get_default_graph().name_scope("Initializer"):
            return initializer(list(dims), dtype=dtype, **extra)
    return build


def _takes_partition_info(fn) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "partition_info" in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _value_initializer(value, dtype):
    def build():
        if _is_tensor_like(value):
            return convert_to_tensor(value)
        return convert_to_tensor(np.asarray(value), dtype=dtype)
    return build
