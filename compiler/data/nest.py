"""Structures of dataset elements, as `tf.data` nests them: a tuple (named tuples
included) or a dict of components, nested, or a single component. A list is a value (an
array), not a structure, as in TF1's `tf.data`, and a `TensorShape` is one value.
Components are flattened depth first, dict keys in sorted order (TF1's `nest` order), and
packed back into the same structure. `Spec` describes one component (dtype, shape);
`Described` gives datasets and iterators TF1's element description from their `_spec`.
"""

from __future__ import annotations

import dataclasses

from ..frontend.graph import Tensor, TensorShape
from ..ir import dtypes as T


def _is_tuple(value) -> bool:
    return isinstance(value, tuple) and not isinstance(value, TensorShape)


def flatten(value) -> list:
    """The components of `value` in nest order."""
    if isinstance(value, dict):
        return [c for k in sorted(value) for c in flatten(value[k])]
    if _is_tuple(value):
        return [c for v in value for c in flatten(v)]
    return [value]


def pack_as(structure, flat):
    """`flat` (a sequence of components) in the shape of `structure`."""
    flat = list(flat)
    packed, used = _pack(structure, flat, 0)
    if used != len(flat):
        raise ValueError(f"the structure has {used} component(s), got {len(flat)} values")
    return packed


def _pack(structure, flat, i):
    if isinstance(structure, dict):
        out = {}
        for k in sorted(structure):
            out[k], i = _pack(structure[k], flat, i)
        return type(structure)((k, out[k]) for k in structure), i
    if _is_tuple(structure):
        parts = []
        for v in structure:
            p, i = _pack(v, flat, i)
            parts.append(p)
        return (type(structure)(*parts) if hasattr(structure, "_fields")
                else tuple(parts)), i
    if i >= len(flat):
        raise ValueError("fewer values than the structure has components")
    return flat[i], i + 1


def map_structure(fn, structure):
    return pack_as(structure, [fn(c) for c in flatten(structure)])


def same_structure(a, b) -> bool:
    if isinstance(a, dict) or isinstance(b, dict):
        return (isinstance(a, dict) and isinstance(b, dict) and sorted(a) == sorted(b)
                and all(same_structure(a[k], b[k]) for k in a))
    if _is_tuple(a) or _is_tuple(b):
        return (_is_tuple(a) and _is_tuple(b) and len(a) == len(b)
                and all(same_structure(x, y) for x, y in zip(a, b)))
    return True


@dataclasses.dataclass(frozen=True)
class Spec:
    """One component of an element: its dtype and shape (None dims vary; None: unknown
    rank)."""
    dtype: T.DType
    shape: tuple | None

    def batched(self, size):
        return Spec(self.dtype, None if self.shape is None else (size,) + self.shape)

    def unbatched(self):
        return Spec(self.dtype, None if self.shape is None else self.shape[1:])


class Described:
    """TF1's element description of an object with `_spec` (a nest of `Spec`): a
    `Dataset` or an `Iterator`."""

    _spec = None

    @property
    def output_types(self):
        return map_structure(lambda s: s.dtype, self._spec)

    @property
    def output_shapes(self):
        return map_structure(lambda s: TensorShape(s.shape), self._spec)

    @property
    def output_classes(self):
        return map_structure(lambda s: Tensor, self._spec)

    @property
    def element_spec(self):
        return self._spec
