"""Nested structures of tensors (TF1's `nest`): lists, tuples, namedtuples (such as
`LSTMStateTuple`) and dicts (in sorted key order), with anything else a leaf.

`flatten(structure)` lists the leaves depth first; `pack_sequence_as(structure, flat)`
rebuilds `structure` with the leaves of `flat`; `assert_same_structure(a, b, what)`
raises a ValueError naming `what` when two structures differ (list and tuple count as
the same, as in TF1's `check_types=False`). The control-flow ops use these for loop
variables and branch results; `is_leaf_hooks` lets a module treat an object with
structure of its own (a TensorArray) as a leaf-like composite by registering a
(predicate, flatten, unflatten) triple.
"""

from __future__ import annotations

#: (predicate(obj), flatten(obj) -> list, unflatten(obj, items) -> obj) per composite type
composite_hooks: list = []


def is_sequence(x) -> bool:
    return isinstance(x, (list, tuple, dict))


def _hook(x):
    for hook in composite_hooks:
        if hook[0](x):
            return hook
    return None


def _children(x) -> list:
    if isinstance(x, dict):
        return [x[k] for k in sorted(x)]
    return list(x)


def flatten(structure) -> list:
    hook = _hook(structure)
    if hook is not None:
        return [leaf for child in hook[1](structure) for leaf in flatten(child)]
    if not is_sequence(structure):
        return [structure]
    return [leaf for child in _children(structure) for leaf in flatten(child)]


def _rebuild(like, items):
    if isinstance(like, dict):
        return type(like)(zip(sorted(like), items))
    if isinstance(like, tuple) and hasattr(like, "_fields"):   # a namedtuple
        return type(like)(*items)
    return type(like)(items)


def pack_sequence_as(structure, flat):
    flat = list(flat)
    count = len(flatten(structure))
    if count != len(flat):
        raise ValueError(f"the structure has {count} leaves, got {len(flat)} values")
    pos = 0

    def build(like):
        nonlocal pos
        hook = _hook(like)
        if hook is not None:
            return hook[2](like, [build(child) for child in hook[1](like)])
        if not is_sequence(like):
            pos += 1
            return flat[pos - 1]
        return _rebuild(like, [build(child) for child in _children(like)])
    return build(structure)


def map_structure(fn, structure):
    return pack_sequence_as(structure, [fn(x) for x in flatten(structure)])


def _shape_of(x):
    hook = _hook(x)
    if hook is not None:
        return (type(x).__name__, tuple(_shape_of(c) for c in hook[1](x)))
    if isinstance(x, dict):
        return ("dict", tuple((k, _shape_of(x[k])) for k in sorted(x)))
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return (type(x).__name__, tuple(_shape_of(c) for c in x))
    if isinstance(x, (list, tuple)):
        return ("seq", tuple(_shape_of(c) for c in x))
    return "."


def assert_same_structure(a, b, what: str):
    if _shape_of(a) != _shape_of(b):
        raise ValueError(f"{what}: the structures differ: {_describe(a)} vs {_describe(b)}")


def _describe(x) -> str:
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k!r}: {_describe(x[k])}" for k in sorted(x)) + "}"
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x).__name__ + "(" + ", ".join(_describe(c) for c in x) + ")"
    if isinstance(x, list):
        return "[" + ", ".join(_describe(c) for c in x) + "]"
    if isinstance(x, tuple):
        return "(" + ", ".join(_describe(c) for c in x) + ("," if len(x) == 1 else "") + ")"
    return "." if _hook(x) is None else type(x).__name__
