"""What a Saver saves: `saveables(var_list) -> {checkpoint key: Variable | Sliced}`.

A whole Variable is saved under its op name (`layer/w`) or its `var_list` dict key. The
shards of a partitioned variable (frontend/partitioned.py: Variables carrying a
`SaveSliceInfo`) are saved as **one whole tensor** under the partitioned variable's full
name (`emb/w`): `value_of` concatenates the shards' values along the partitioned axis and
`assign` splits a restored full value over the shards. So a checkpoint never holds slices,
and it restores into the same variable partitioned differently, or not partitioned at all
(and back), as long as the full name, shape and dtype agree. TF1 writes a partitioned
variable as a full-name entry with `slices` plus one entry per slice; TF1's bundle reader
serves slices of a whole tensor too, so TF1 restores flowc's whole tensors into its own
partitioned variables (docs/checkpoints.md).

`var_list` may be a list (Variables, shards grouped by their SaveSliceInfo's full name,
PartitionedVariables) or a dict key -> Variable, PartitionedVariable or list of shards.
Shards that do not make up their whole variable (one missing, overlapping, or mixed axes)
are a ValueError naming the variable; so is a key given twice. Nothing here reads files.
"""

from __future__ import annotations

import numpy as np

from ..frontend.partitioned import PartitionedVariable
from ..frontend.variables import Variable


class Sliced:
    """The shards of one partitioned variable, in offset order, saved as one tensor."""

    def __init__(self, name, parts):
        infos = [p._get_save_slice_info() for p in parts]
        if any(i is None for i in infos):
            bad = next(p for p, i in zip(parts, infos) if i is None)
            raise ValueError(f"Saver: {bad.name!r} is listed as a shard of {name!r} but is "
                             "not a shard of a partitioned variable")
        order = sorted(range(len(parts)), key=lambda k: infos[k].var_offset)
        self.parts = [parts[k] for k in order]
        infos = [infos[k] for k in order]
        self.name = name
        self.full_shape = tuple(infos[0].full_shape)
        self.axis = _check_cover(name, infos, self.full_shape)
        self.dtype = self.parts[0].dtype
        if any(p.dtype is not self.dtype for p in self.parts):
            raise ValueError(f"Saver: the shards of {name!r} differ in dtype")

    @property
    def shape(self):
        return self.full_shape

    @property
    def graph(self):
        return self.parts[0].graph

    def __repr__(self):
        return f"<Sliced {self.name!r} {len(self.parts)} shards along axis {self.axis}>"


def _check_cover(name, infos, full_shape):
    """The partitioned axis of shards that tile `full_shape` exactly."""
    axis = infos[0].axis() if len(infos) > 1 else 0
    at = 0
    for info in infos:
        want_shape = list(full_shape)
        want_shape[axis] = info.var_shape[axis]
        want_offset = [0] * len(full_shape)
        want_offset[axis] = at
        if (tuple(info.full_shape) != full_shape or info.full_name != name
                or info.var_shape != want_shape or info.var_offset != want_offset):
            raise ValueError(f"Saver: the shards given for partitioned variable {name!r} "
                             f"(shape {list(full_shape)}) do not make up the whole "
                             f"variable: at offset {at} of axis {axis} found the slice "
                             f"{info.spec!r} of {info.full_name!r}; pass all of its shards "
                             "(or the PartitionedVariable)")
        at += info.var_shape[axis]
    if at != full_shape[axis]:
        raise ValueError(f"Saver: the shards given for partitioned variable {name!r} cover "
                         f"{at} of its {full_shape[axis]} rows along axis {axis}; pass all "
                         "of its shards (or the PartitionedVariable)")
    return axis


def saveables(var_list) -> dict:
    """{checkpoint key: Variable or Sliced} (see the module docstring)."""
    out = {}

    def put(key, item):
        if key in out:
            raise ValueError(f"Saver: at least two variables have the same checkpoint name "
                             f"{key!r}")
        out[key] = item

    if isinstance(var_list, dict):
        for key, v in var_list.items():
            if isinstance(v, PartitionedVariable):
                v = v.get_variable_list()
            if isinstance(v, (list, tuple)):
                _check_variables(key, v)
                put(key, Sliced(_full_name(key, v), list(v)))
            else:
                _check_variables(key, [v])
                put(key, v)
        return out
    groups = {}
    for v in var_list:
        if isinstance(v, PartitionedVariable):
            put(v.name, Sliced(v.name, v.get_variable_list()))
            continue
        _check_variables(getattr(v, "name", repr(v)), [v])
        info = v._get_save_slice_info()
        if info is None:
            put(v.op.name, v)
        else:
            groups.setdefault(info.full_name, []).append(v)
    for name, parts in groups.items():
        put(name, Sliced(name, parts))
    return out


def _check_variables(key, items):
    for v in items:
        if not isinstance(v, Variable):
            raise TypeError(f"Saver: {key!r} is not a Variable: {v!r}")


def _full_name(key, parts):
    info = parts[0]._get_save_slice_info() if parts else None
    if info is None:
        raise ValueError(f"Saver: {key!r}: a list must hold the shards of one partitioned "
                         f"variable, got {parts!r}")
    return info.full_name


def store_name(var) -> str:
    """The Session store's name of a whole Variable."""
    return var.op.attrs["var"]


def value_of(store, item, why) -> np.ndarray:
    """The C-ordered value of `item` in the Session's variable store `store`."""
    if isinstance(item, Sliced):
        values = [np.asarray(store.get(store_name(p), why)) for p in item.parts]
        return np.ascontiguousarray(np.concatenate(values, axis=item.axis))
    return np.array(store.get(store_name(item), why), order="C")


def assign(store, item, value):
    """Set `item` in `store` to the full `value` (already checked for dtype and shape)."""
    if not isinstance(item, Sliced):
        store.set(store_name(item), value)
        return
    at = 0
    for p in item.parts:
        n = int(p.shape[item.axis])
        index = [slice(None)] * value.ndim
        index[item.axis] = slice(at, at + n)
        store.set(store_name(p), np.ascontiguousarray(value[tuple(index)]))
        at += n
