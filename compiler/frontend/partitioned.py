"""TF1's partitioned variables: the partitioners (`fixed_size_partitioner`,
`min_max_variable_partitioner`, `variable_axis_size_partitioner`), `PartitionedVariable`
and the slice bookkeeping a Saver reads (`SaveSliceInfo`).

A partitioner is a function `partitioner(shape=TensorShape, dtype=DType) -> [int]`: how
many shards each axis of a variable is cut into (TF1 allows one axis > 1).
`get_variable(name, shape, partitioner=p)` (variable_scope.py) then makes one ordinary
Variable per shard, named `name/part_0`, `name/part_1`, ..., split as TF1 splits them: a
dim `d` cut into `n` gives every shard `d // n` rows, the first `d % n` one more. Each
shard's initializer is called with the shard's shape and a `_PartitionInfo` (the full
shape and the shard's offset: variance-scaling initializers take their fans from the full
shape, as TF1's do); a value initializer is sliced per shard under
`name/part_i/PartitionedInitializer/`. Each shard carries a `SaveSliceInfo` (full name,
full shape, offset, shard shape) so a Saver saves the shards as one tensor under the
full name (compiler/train/saveables.py).

`PartitionedVariable` is the list of shards with TF1's surface: iteration, `len`,
`get_variable_list()`, `_get_partitions()`, `name`, `dtype`, `shape`/`get_shape()`,
`as_tensor()` (the shards concatenated: a fresh `concat` + `identity` named after the
variable, with no control dependencies, each time it is converted, as TF1), and
`assign`/`assign_add`/`assign_sub` of a full value (split over the shards: a list of the
shards' assign results, as TF1); also `initializer` (a group of the shards'
initializers, a flowc addition, so that `variables_initializer([pv])` works). It
converts to a tensor wherever a tensor is expected (`fc.convert_to_tensor`, ops,
`Session.run` fetches) through `_as_graph_element`; as in TF1 it has no Python operators
of its own (`x * pv` works through the tensor's).
Nothing here touches the Session's variable store.
"""

from __future__ import annotations

import math

from ..ir import dtypes as T
from .graph import TensorShape

__all__ = ["PartitionedVariable", "SaveSliceInfo", "fixed_size_partitioner",
           "min_max_variable_partitioner", "variable_axis_size_partitioner"]


# ---- partitioners -----------------------------------------------------------------------
def _element_bytes(dtype, bytes_per_string_element):
    dtype = T.as_dtype(dtype)
    return bytes_per_string_element if dtype is T.string else dtype.np.itemsize


def _check_axis(axis, shape, who):
    if not 0 <= axis < len(shape):
        raise ValueError(f"{who}: can not partition on axis {axis} for shape "
                         f"{list(shape)}")


def fixed_size_partitioner(num_shards, axis=0):
    """Cut `axis` into `num_shards` shards (fewer when the dim is smaller), as TF1."""
    if isinstance(num_shards, bool) or not isinstance(num_shards, int) or num_shards < 1:
        raise ValueError(f"fixed_size_partitioner: num_shards must be a positive int, got "
                         f"{num_shards!r}")

    def _partitioner(shape, **unused):
        _check_axis(axis, shape, "fixed_size_partitioner")
        partitions = [1] * len(shape)
        partitions[axis] = min(num_shards, int(shape[axis]))
        return partitions
    return _partitioner


def min_max_variable_partitioner(max_partitions=1, axis=0, min_slice_size=256 << 10,
                                 bytes_per_string_element=16):
    """As many shards of at least `min_slice_size` bytes as fit, at most
    `max_partitions` and at most the dim, at least 1 (TF1's rule)."""
    if max_partitions < 1:
        raise ValueError(f"min_max_variable_partitioner: max_partitions must be >= 1, got "
                         f"{max_partitions}")

    def _partitioner(shape, dtype):
        _check_axis(axis, shape, "min_max_variable_partitioner")
        total = TensorShape(shape).num_elements() * _element_bytes(dtype,
                                                                   bytes_per_string_element)
        partitions = [1] * len(shape)
        partitions[axis] = max(1, min(int(shape[axis]), max_partitions,
                                      int(math.ceil(total / min_slice_size))))
        return partitions
    return _partitioner


def variable_axis_size_partitioner(max_shard_bytes, axis=0, bytes_per_string_element=16,
                                   max_shards=None):
    """Shards of at most `max_shard_bytes` each (at least one slice of `axis` per shard),
    at most `max_shards` of them (TF1's rule)."""
    if max_shard_bytes < 1 or bytes_per_string_element < 1:
        raise ValueError("variable_axis_size_partitioner: both max_shard_bytes and "
                         "bytes_per_string_element must be positive")
    if max_shards is not None and max_shards < 1:
        raise ValueError("variable_axis_size_partitioner: max_shards must be positive")

    def _partitioner(shape, dtype):
        shape = TensorShape(shape)
        _check_axis(axis, shape, "variable_axis_size_partitioner")
        if not shape.is_fully_defined():
            raise ValueError(f"variable_axis_size_partitioner: shape is not fully defined: "
                             f"{shape}")
        size = _element_bytes(dtype, bytes_per_string_element)
        bytes_per_slice = shape.num_elements() / max(int(shape[axis]), 1) * size
        slices_per_shard = max(1, math.floor(max_shard_bytes / bytes_per_slice))
        shards = int(math.ceil(int(shape[axis]) / slices_per_shard))
        if max_shards:
            shards = min(max_shards, shards)
        partitions = [1] * len(shape)
        partitions[axis] = shards
        return partitions
    return _partitioner


# ---- the split --------------------------------------------------------------------------
class _PartitionInfo:
    """What an initializer learns about the shard it fills (TF1's `_PartitionInfo`):
    the full variable's shape and this shard's offset in it."""

    def __init__(self, full_shape, var_offset):
        self.full_shape = list(full_shape)
        self.var_offset = list(var_offset)

    def single_offset(self, shape):
        """The shard's offset along its partitioned axis (0 when it is not cut)."""
        axis = self.single_slice_dim(shape)
        return 0 if axis is None else self.var_offset[axis]

    def single_slice_dim(self, shape):
        """The axis this shard is cut along, or None when `shape` is the full shape."""
        cut = [i for i, (s, f) in enumerate(zip(shape, self.full_shape)) if s != f]
        return cut[0] if cut else None


class SaveSliceInfo:
    """Where a shard sits in its partitioned variable (TF1's `Variable.SaveSliceInfo`):
    `full_name` (the partitioned variable's name), `full_shape`, `var_offset`,
    `var_shape`; `spec` is TF1's slice string ("10 4 0,4:0,4")."""

    def __init__(self, full_name, full_shape, var_offset, var_shape):
        self.full_name = full_name
        self.full_shape = [int(d) for d in full_shape]
        self.var_offset = [int(d) for d in var_offset]
        self.var_shape = [int(d) for d in var_shape]

    @property
    def spec(self) -> str:
        full = " ".join(str(d) for d in self.full_shape)
        sl = ":".join(f"{o},{n}" for o, n in zip(self.var_offset, self.var_shape))
        return f"{full} {sl}"

    def axis(self):
        """The partitioned axis: the first where the shard is smaller than the variable
        (0 for a single shard)."""
        cut = [i for i, (s, f) in enumerate(zip(self.var_shape, self.full_shape)) if s != f]
        return cut[0] if cut else 0

    def __repr__(self):
        return f"SaveSliceInfo({self.full_name!r}, {self.spec!r})"


def check_partitions(name, shape, partitions):
    """(axis, shard count) of a partitioner's answer; ValueError naming the variable
    when it is not a list of positive ints, one per axis, with at most one above 1."""
    try:
        parts = [int(p) for p in partitions]
    except (TypeError, ValueError):
        raise ValueError(f"Variable {name}: the partitioner returned {partitions!r}, not a "
                         "list of ints") from None
    if len(parts) != len(shape) or any(p < 1 for p in parts):
        raise ValueError(f"Variable {name}: partitions {parts} must be positive, one per "
                         f"dimension of shape {list(shape)}")
    cut = [i for i, p in enumerate(parts) if p > 1]
    if len(cut) > 1:
        raise ValueError(f"Variable {name}: can only slice a variable along one dimension: "
                         f"shape {list(shape)}, partitions {parts}")
    axis = cut[0] if cut else 0
    count = parts[axis] if cut else 1
    if count > shape[axis]:
        raise ValueError(f"Variable {name}: cannot cut dimension {axis} of size "
                         f"{shape[axis]} into {count} partitions")
    return axis, count


def shard_slices(shape, axis, count):
    """[(offset, shard shape)] of `count` shards along `axis`: `d // count` rows each,
    the first `d % count` one more (TF1's split)."""
    d = shape[axis]
    base, extra = divmod(d, count)
    out = []
    for i in range(count):
        offset = [0] * len(shape)
        offset[axis] = i * base + min(i, extra)
        part = list(shape)
        part[axis] = base + (1 if i < extra else 0)
        out.append((offset, part))
    return out


# ---- PartitionedVariable ----------------------------------------------------------------
class PartitionedVariable:
    """A variable stored as shards (see the module docstring)."""

    def __init__(self, name, shape, dtype, variable_list, partitions):
        if not variable_list:
            raise ValueError(f"PartitionedVariable {name!r}: no shards")
        self._name = name
        self._shape = TensorShape(shape)
        self._dtype = T.as_dtype(dtype)
        self._variable_list = list(variable_list)
        self._partitions = list(partitions)
        self._axis = next((i for i, p in enumerate(self._partitions) if p > 1), 0)
        self._initializer = None

    def __iter__(self):
        return iter(self._variable_list)

    def __len__(self):
        return len(self._variable_list)

    def get_variable_list(self) -> list:
        return list(self._variable_list)

    def _get_partitions(self) -> list:
        return list(self._partitions)

    def _partition_axes(self) -> list:
        return [i for i, p in enumerate(self._partitions) if p > 1] or [0]

    @property
    def name(self) -> str:
        return self._name

    @property
    def dtype(self):
        return self._dtype

    @property
    def shape(self) -> TensorShape:
        return self._shape

    def get_shape(self) -> TensorShape:
        return self._shape

    @property
    def graph(self):
        return self._variable_list[0].graph

    @property
    def initializer(self):
        """One op running every shard's initializer (made once)."""
        if self._initializer is None:
            from .control_flow import group
            graph = self.graph
            with graph.as_default(), graph.name_scope(None), \
                    graph.control_dependencies(None):
                self._initializer = group(*[v.initializer for v in self._variable_list],
                                          name=f"{self._name}/Initializer_all")
        return self._initializer

    def as_tensor(self):
        """The full value: the shards concatenated (a new op each call, as TF1)."""
        from .core import identity
        from .manip_ops import concat
        graph = self.graph
        with graph.as_default(), graph.control_dependencies(None):
            if len(self._variable_list) == 1:
                with graph.name_scope(None):
                    return identity(self._variable_list[0].value(), name=self._name)
            with graph.name_scope(self._name + "/ConcatPartitions/"):
                joined = concat([v.value() for v in self._variable_list], self._axis)
            with graph.name_scope(None):
                return identity(joined, name=self._name)

    def _as_graph_element(self):
        return self.as_tensor()

    def _apply_assign(self, method, value, name):
        from .core import convert_to_tensor
        from .manip_ops import split
        value = convert_to_tensor(value, dtype=self._dtype)
        if tuple(value.shape) != tuple(self._shape):
            raise ValueError(f"PartitionedVariable {self._name!r}: cannot assign a value of "
                             f"shape {list(value.shape)} to shape {self._shape.as_list()}")
        sizes = [int(v.shape[self._axis]) for v in self._variable_list]
        parts = split(value, sizes, axis=self._axis) if len(sizes) > 1 else [value]
        return [getattr(v, method)(p, name=name) for v, p in zip(self._variable_list, parts)]

    def assign(self, value, use_locking=False, name=None, read_value=True):
        """Assign the full `value`, split over the shards: the shards' assign results."""
        return self._apply_assign("assign", value, name)

    def assign_add(self, value, use_locking=False, name=None, read_value=True):
        return self._apply_assign("assign_add", value, name)

    def assign_sub(self, value, use_locking=False, name=None, read_value=True):
        return self._apply_assign("assign_sub", value, name)

    def __repr__(self):
        return (f"<fc.PartitionedVariable {self._name!r} shape={self._shape.as_list()} "
                f"dtype={self._dtype.name} partitions={self._partitions}>")


def flatten_variables(items) -> list:
    """`items` with every PartitionedVariable replaced by its shards (for var_lists)."""
    out = []
    for v in items:
        out.extend(v.get_variable_list() if isinstance(v, PartitionedVariable) else [v])
    return out
