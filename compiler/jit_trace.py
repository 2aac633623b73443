"""The tracing half of `fc.jit` (compiler/jit.py): arguments, their static keys, the
dynamic-dims rule, trees of outputs, tracing into a graph, and recompile reasons.

- `CallShape.of(fn)` flattens a call's arguments (positional, keyword, defaults, `*args`,
  `**kwargs`) into labelled values and rebuilds the call from new values.
- `convert_argument` turns one value into an array (or keeps a Python scalar, a string or
  None as a static constant); anything else raises `TypeError` naming the argument.
- `ArgKey` is what a compile depends on for one argument: an array's dtype and static
  dims (dynamic ones are None), a static value's type and repr. A tuple of them keys the
  per-function cache; `explain_miss` says how two keys differ, in words.
- `DynamicDims` reads the `dynamic_dims=` forms: an axis or list of axes (of every array
  argument), or a dict from argument index or name to an axis or a list of axes.
- `Tree` flattens and rebuilds a nest of tuples, lists, named tuples and dicts.
- `trace(fn, ...)` runs `fn` on placeholders in a fresh `Graph` and returns a `Traced`.

Nothing here compiles or runs anything.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

import numpy as np

from .frontend.array_ops import placeholder
from .frontend.core import convert_to_tensor
from .frontend.graph import Graph, Operation, Tensor
from .frontend.variables import Variable
from .ir import dtypes as T

_STATIC_TYPES = (bool, int, float, str, type(None))
_KINDS = inspect.Parameter


class CallShape:
    """How one function's calls map to a flat list of (label, parameter, value)."""

    def __init__(self, fn, name):
        self.name = name
        try:
            self.sig = inspect.signature(fn)
        except (TypeError, ValueError):
            self.sig = None  # a callable without a signature: positional arguments only
        self.params = list(self.sig.parameters) if self.sig else []

    def flatten(self, args, kwargs):
        """([(label, parameter name, value)], layout) for a call; TypeError on a bad call."""
        if self.sig is None:
            if kwargs:
                raise TypeError(f"{self.name}() takes positional arguments only")
            return [(f"arg{i}", f"arg{i}", v) for i, v in enumerate(args)], None
        try:
            bound = self.sig.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{self.name}(): {e}") from None
        bound.apply_defaults()
        flat, layout = [], []
        for pname, value in bound.arguments.items():
            kind = self.sig.parameters[pname].kind
            if kind is _KINDS.VAR_POSITIONAL:
                layout.append((pname, kind, len(value)))
                flat += [(f"{pname}_{i}", pname, v) for i, v in enumerate(value)]
            elif kind is _KINDS.VAR_KEYWORD:
                layout.append((pname, kind, tuple(value)))
                flat += [(str(k), pname, v) for k, v in value.items()]
            else:
                layout.append((pname, kind, None))
                flat.append((pname, pname, value))
        return flat, layout

    @staticmethod
    def rebuild(layout, values):
        """(args, kwargs) for the call whose flat values are `values`."""
        if layout is None:
            return list(values), {}
        args, kwargs, it = [], {}, iter(values)
        for pname, kind, extra in layout:
            if kind is _KINDS.VAR_POSITIONAL:
                args += [next(it) for _ in range(extra)]
            elif kind is _KINDS.VAR_KEYWORD:
                kwargs.update((k, next(it)) for k in extra)
            elif kind is _KINDS.KEYWORD_ONLY:
                kwargs[pname] = next(it)
            else:
                args.append(next(it))
        return args, kwargs


def is_static(value) -> bool:
    """Python scalars, strings and None are compiled in as constants (numpy scalars are
    0-d arrays)."""
    return isinstance(value, _STATIC_TYPES) and not isinstance(value, np.generic)


def same_static(a, b) -> bool:
    """Whether two static values of one type compile to the same constant: floats compare
    by their bits (-0.0 is not 0.0, every NaN is the same NaN), not by `==`."""
    if a == b:
        return type(a) is not float or a != 0.0 or math.copysign(1.0, a) == math.copysign(
            1.0, b)
    return a != a and b != b


def static_text(value) -> str:
    """The key text of a static value: `repr` tells -0.0 from 0.0 and names one NaN."""
    return f"{type(value).__name__}:{value!r}"


def convert_argument(fname, label, value):
    """The value as fc.jit sees it: a static constant or a numpy array of a flowc dtype."""
    if is_static(value) or isinstance(value, np.ndarray):
        arr = value
    else:
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError, OverflowError) as e:
            raise TypeError(f"{fname}(): argument {label!r} ({type(value).__name__}) cannot "
                            f"be converted to an array: {e}") from None
    if isinstance(arr, np.ndarray) and arr.dtype == object:
        raise TypeError(f"{fname}(): argument {label!r} ({type(value).__name__}) is not an "
                        "array of numbers (numpy makes an object array of it)")
    if isinstance(arr, np.ndarray):
        try:
            T.as_dtype(arr.dtype)
        except TypeError:
            raise TypeError(f"{fname}(): argument {label!r} ({type(value).__name__}) has "
                            f"dtype {arr.dtype}; fc.jit takes arrays of "
                            f"{', '.join(d.name for d in T.ALL)}, Python scalars, strings "
                            f"and None") from None
    return arr


@dataclass(frozen=True)
class ArgKey:
    """The static part of one argument: what a compile depends on."""
    label: str
    kind: str            # "array" or "static"
    dtype: str = ""
    shape: tuple = ()    # static dims as ints, dynamic dims as None
    value: str = ""      # "type:repr" of a static value

    def describe(self) -> str:
        if self.kind == "static":
            type_name, text = self.value.split(":", 1)
            return f"the static {type_name} {text}"
        return f"a {self.dtype} array of shape {format_dims(self.shape)}"


def format_dims(shape) -> str:
    dims = ["?" if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def arg_key(label, value, axes) -> ArgKey:
    if not isinstance(value, np.ndarray):
        return ArgKey(label, "static", value=static_text(value))
    shape = tuple(None if a in axes else d for a, d in enumerate(value.shape))
    return ArgKey(label, "array", value.dtype.name, shape)


class DynamicDims:
    """The `dynamic_dims=` rule: which axes of which arguments are symbolic."""

    def __init__(self, spec, call: CallShape):
        self.everywhere = ()
        self.by_arg = {}
        if spec is None:
            return
        if isinstance(spec, dict):
            for k, axes in spec.items():
                if not isinstance(k, (int, str)) or isinstance(k, bool):
                    raise TypeError(f"dynamic_dims keys are argument indices or names, got "
                                    f"{k!r}")
                if isinstance(k, str) and call.sig is not None and k not in call.params:
                    raise ValueError(f"dynamic_dims names {k!r}, which is not a parameter of "
                                     f"{call.name}{call.sig}")
                self.by_arg[k] = _axes(axes)
        else:
            self.everywhere = _axes(spec)

    def check_count(self, fname, n):
        """Argument indices must name one of the call's `n` (flat) arguments."""
        bad = [k for k in self.by_arg if isinstance(k, int) and not -n <= k < n]
        if bad:
            raise ValueError(f"{fname}(): dynamic_dims names argument index {bad[0]}, but "
                             f"the call has {n} argument(s)")

    def axes(self, fname, index, label, pname, value) -> frozenset:
        """The dynamic axes (non-negative) of flat argument `index`."""
        if not isinstance(value, np.ndarray):
            named = [k for k in (index, label, pname) if k in self.by_arg]
            if named:
                raise ValueError(f"{fname}(): dynamic_dims marks argument {label!r}, which "
                                 f"is the static {type(value).__name__} {value!r}")
            return frozenset()
        ndim = value.ndim
        out = {a % ndim for a in self.everywhere if -ndim <= a < ndim}
        for k in (index, label, pname):
            for a in self.by_arg.get(k, ()):
                if not -ndim <= a < ndim:
                    raise ValueError(f"{fname}(): dynamic_dims marks axis {a} of argument "
                                     f"{label!r}, which has shape {value.shape}")
                out.add(a % ndim)
        return frozenset(out)


def _axes(spec) -> tuple:
    items = (spec,) if isinstance(spec, int) else spec
    try:
        axes = tuple(items)
    except TypeError:
        axes = None
    if axes is None or any(not isinstance(a, int) or isinstance(a, bool) for a in axes):
        raise TypeError(f"dynamic_dims: expected an axis or a list of axes, got {spec!r}")
    return axes


class Tree:
    """The structure of a nest of tuples, lists, named tuples and dicts with leaves."""

    def __init__(self, kind, type_=None, children=()):
        self.kind, self.type, self.children = kind, type_, children

    @staticmethod
    def of(nest, is_leaf) -> tuple:
        """(Tree, leaves) of `nest`; a non-leaf, non-container element raises TypeError."""
        leaves = []

        def walk(x):
            if isinstance(x, (list, tuple)):
                return Tree("seq", type(x), [walk(v) for v in x])
            if isinstance(x, dict):
                return Tree("dict", type(x), [(k, walk(v)) for k, v in x.items()])
            leaves.append(is_leaf(x))
            return Tree("leaf")
        return walk(nest), leaves

    def unflatten(self, values):
        it = iter(values)
        return self._build(it)

    def _build(self, it):
        if self.kind == "leaf":
            return next(it)
        if self.kind == "dict":
            return self.type((k, c._build(it)) for k, c in self.children)
        parts = [c._build(it) for c in self.children]
        return self.type(*parts) if hasattr(self.type, "_fields") else self.type(parts)

    def flatten_like(self, nest, path="out"):
        """The leaves of `nest`, which must have this structure (a single leaf may be
        given for a one-leaf tree)."""
        if self.kind == "leaf":
            return [nest]
        if self.kind == "dict":
            if not isinstance(nest, dict) or set(nest) != {k for k, _ in self.children}:
                raise TypeError(f"{path} must be a dict with keys "
                                f"{[k for k, _ in self.children]}, got {_brief(nest)}")
            return [v for k, c in self.children for v in c.flatten_like(nest[k],
                                                                         f"{path}[{k!r}]")]
        if not isinstance(nest, (list, tuple)) or len(nest) != len(self.children):
            raise TypeError(f"{path} must be a sequence of {len(self.children)} entries, got "
                            f"{_brief(nest)}")
        return [v for i, (c, x) in enumerate(zip(self.children, nest))
                for v in c.flatten_like(x, f"{path}[{i}]")]


def _brief(x) -> str:
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape}"
    if isinstance(x, (list, tuple, dict)):
        return f"a {type(x).__name__} of {len(x)}"
    return type(x).__name__


@dataclass
class Traced:
    """`fn` traced for one static signature: the graph, the placeholders (one per array
    argument, in argument order), the fetched tensors and the structure of the result."""
    graph: Graph
    feeds: list
    fetches: list
    tree: Tree

    @property
    def outputs(self):
        """The result of `fn` as traced: its structure with Tensors as leaves."""
        return self.tree.unflatten(self.fetches)


def trace(fn, fname, layout, flat, keys) -> Traced:
    """Run `fn` on placeholders (arrays) and the static values, in a fresh graph."""
    graph = Graph()
    with graph.as_default():
        values, feeds = [], []
        for (_, _, value), key in zip(flat, keys):
            if key.kind == "array":
                feeds.append(placeholder(key.dtype, list(key.shape), name=key.label))
                values.append(feeds[-1])
            else:
                values.append(value)
        args, kwargs = CallShape.rebuild(layout, values)
        result = fn(*args, **kwargs)
        tree, fetches = Tree.of(result, lambda x: _output_tensor(fname, x))
    return Traced(graph, feeds, fetches, tree)


def _output_tensor(fname, x) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (Operation, Variable)) or x is None:
        what = "None" if x is None else f"{type(x).__name__} {x.name!r}"
        raise TypeError(f"{fname} returned {what}; an fc.jit function returns a Tensor or "
                        "a tuple, list or dict of Tensors")
    try:
        return convert_to_tensor(x)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{fname} returned a {type(x).__name__}, which is not a Tensor: "
                        f"{e}") from None


def explain_miss(new, old, new_shapes, old_shapes) -> str:
    """Why the key `new` differs from `old`, in words (shapes: the actual shapes of the
    calls that made them, None for static arguments)."""
    if [k.label for k in new] != [k.label for k in old]:
        return (f"the arguments are now ({', '.join(k.label for k in new)}), were "
                f"({', '.join(k.label for k in old)})")
    reasons = []
    for a, b, sa, sb in zip(new, old, new_shapes, old_shapes):
        if a != b:
            reasons.append(_explain_arg(a, b, sa, sb))
    return "; ".join(reasons)


def _explain_arg(a: ArgKey, b: ArgKey, sa, sb) -> str:
    head = f"argument {a.label}"
    if a.kind != b.kind or a.kind == "static":
        hint = ""
        if a.kind == b.kind:
            hint = " (static values are compiled in; pass an array to reuse the code)"
        return f"{head} {b.describe()} -> {a.describe()}{hint}"
    if a.dtype != b.dtype:
        return f"{head} dtype {b.dtype} -> {a.dtype}"
    if len(a.shape) != len(b.shape):
        return f"{head} rank {len(b.shape)} -> {len(a.shape)} (shape {sb} -> {sa})"
    axes = [i for i, (x, y) in enumerate(zip(a.shape, b.shape)) if x != y]
    static = [i for i in axes if a.shape[i] is not None and b.shape[i] is not None]
    text = f"{head} shape {sb} -> {sa}"
    if static:
        which = ", ".join(map(str, static))
        text += (f" (axis {which} {'is' if len(static) == 1 else 'are'} static; mark "
                 f"{'it' if len(static) == 1 else 'them'} in dynamic_dims to reuse the code)")
    return text
