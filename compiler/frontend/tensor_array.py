"""`fc.TensorArray`: TF1's TensorArray with value semantics, backed by one tensor.

A TensorArray of `size` elements of shape S is one tensor of shape [size, *S] (its
`flow`): `write(i, v)` returns a new TensorArray whose buffer is
`dynamic_update_slice(buffer, v, i)` (the primitive checks i at run time, as TF1's
TensorArrayWrite does), `read(i)` is a `gather` with a scalar index (checked the same
way), `stack()` is the buffer itself, `unstack(x)` makes x the buffer, `gather`,
`scatter`, `concat` and `size` are small composites. Gradients therefore come from the
primitives' rules, and a TensorArray in a `while_loop`'s loop variables (or a `cond`'s
results) is its buffer: a composite of `nest.py`, flattened to its `flow`.

The element shape comes from `element_shape=` or from the first write/unstack (TF1's
`infer_shape`); later writes must agree. Before that, the buffer does not exist yet.
The size must be known when the graph is built: a Python int or an int tensor whose
value `static.py` resolves to a dim (`fc.shape(x)[0]`). `dynamic_size=True` is accepted
with such a size; a write at a Python-int index past the end then grows the buffer at
build time, and a run-time index past the end is an error (TF1 would grow the array).
Differences from TF1, documented in docs/tf1_api.md: rows never written read as zeros
(TF1 raises, except for a fully defined element shape), `clear_after_read` is accepted
and not enforced (reading a row twice is fine), and `scatter` with repeated indices adds
the rows (TF1 raises). Nothing here runs a graph.
"""

from __future__ import annotations

from ..ir import dims as D
from ..ir import dtypes as T
from . import nest
from .core import _as_tensor, _graph_of, constant, convert_to_tensor, identity, make, op_scope
from .graph import Tensor, TensorShape, UserRegion
from .static import is_int_like, static_dims


def _size_dim(size, what):
    """`size` (a Python int or an int tensor known at build time) as a dim."""
    if size is None:
        raise ValueError(f"{what}: size is required (a Python int or a tensor such as "
                         "fc.shape(x)[0]); flowc's TensorArrays have a size known when "
                         "the graph is built")
    if is_int_like(size):
        if int(size) < 0:
            raise ValueError(f"{what}: size must be non-negative, got {int(size)}")
        return int(size)
    if isinstance(size, D.DimExpr):
        return size
    t = _as_tensor(size)
    vals = static_dims(t) if isinstance(t, Tensor) and t.shape.ndims == 0 else None
    if vals is None:
        name = t.name if isinstance(t, Tensor) else repr(size)
        raise TypeError(f"{what}: the size {name!r} is only known at run time; flowc needs "
                        "a TensorArray's size when the graph is built (a Python int, or "
                        "a dim such as fc.shape(x)[0])")
    return vals[0]


def _element_shape(shape):
    """element_shape= as a list of dims with None for unknown entries, or None."""
    if shape is None:
        return None
    if isinstance(shape, TensorShape) and not shape.known_rank:
        return None
    return [d if d is None or isinstance(d, D.DimExpr) else int(d) for d in shape]


def _index(index, what):
    if is_int_like(index):
        return constant(int(index), dtype=T.int32, name="index")
    t = convert_to_tensor(index)
    if t.dtype.kind != "int" or t.shape.ndims != 0:
        raise TypeError(f"{what}: the index must be an int scalar, got {t.dtype.name}"
                        f"{list(t.shape) if t.shape.known_rank else '[?]'} ({t.name!r})")
    return t


class TensorArray:
    """TF1's `tf.TensorArray(dtype, size, dynamic_size, clear_after_read,
    tensor_array_name, handle, flow, infer_shape, element_shape, colocate_with_first_
    write_call, name)`. Every method that changes it returns a new TensorArray."""

    def __init__(self, dtype, size=None, dynamic_size=None, clear_after_read=None,
                 tensor_array_name=None, handle=None, flow=None, infer_shape=True,
                 element_shape=None, colocate_with_first_write_call=True, name=None):
        self._dtype = T.as_dtype(dtype)
        if handle is not None:
            raise TypeError("TensorArray: handle= is not supported (flowc's TensorArrays "
                            "are values; pass size= and use write/unstack)")
        self._name = name or tensor_array_name or "TensorArray"
        self._dynamic_size = bool(dynamic_size)
        self._infer_shape = infer_shape
        self._clear_after_read = clear_after_read
        self._element = _element_shape(element_shape)
        if flow is not None:
            self._buffer = self._checked_buffer(convert_to_tensor(flow), "flow")
            self._size = self._buffer.shape[0]
        else:
            self._buffer = None
            self._size = _size_dim(size, f"TensorArray {self._name!r}")

    # ---- TF1 attributes -------------------------------------------------------------
    @property
    def dtype(self):
        return self._dtype

    @property
    def flow(self) -> Tensor:
        """The buffer [size, *element_shape] (what a while_loop carries)."""
        return self._materialized("flow")

    @property
    def handle(self):
        raise AttributeError("TensorArray.handle: flowc's TensorArrays have no resource "
                             "handle (they are values; use .flow)")

    @property
    def dynamic_size(self) -> bool:
        return self._dynamic_size

    def element_shape(self) -> TensorShape:
        return TensorShape(None if self._element is None else self._element)

    def _known_element(self):
        """The element shape as dims when every entry is known, else None."""
        if self._element is None or any(d is None for d in self._element):
            return None
        return tuple(self._element)

    # ---- building blocks ------------------------------------------------------------
    def _values(self, *extra):
        """Tensors that pick the graph of the ops about to be made."""
        return [t for t in (self._buffer,) + extra if isinstance(t, Tensor)]

    def _derive(self, buffer, element=None, size=None):
        new = object.__new__(TensorArray)
        new.__dict__.update(self.__dict__)
        new._buffer = buffer
        new._element = list(element) if element is not None else self._element
        new._size = self._size if size is None else size
        return new

    def _checked_value(self, value, what):
        v = convert_to_tensor(value, self._dtype) if not isinstance(value, Tensor) else value
        if v.dtype is not self._dtype:
            raise TypeError(f"TensorArray {self._name!r}.{what}: the value {v.name!r} has "
                            f"dtype {v.dtype.name}, the TensorArray holds {self._dtype.name}")
        return v

    def _merge_element(self, shape, what):
        """The element shape after seeing `shape`; ValueError when it disagrees."""
        if not shape.known_rank:
            raise TypeError(f"TensorArray {self._name!r}.{what}: the value has unknown "
                            "rank; give it a shape or pass element_shape=")
        shape = tuple(shape)
        if self._element is None or not self._infer_shape:
            return list(shape) if self._element is None else self._element
        if len(self._element) != len(shape):
            raise ValueError(f"TensorArray {self._name!r}.{what}: a value of shape "
                             f"{list(shape)} does not match the element shape "
                             f"{self._element}")
        out = []
        for have, got in zip(self._element, shape):
            if have is not None and isinstance(have, int) and isinstance(got, int) and \
                    have != got:
                raise ValueError(f"TensorArray {self._name!r}.{what}: a value of shape "
                                 f"{list(shape)} does not match the element shape "
                                 f"{self._element}")
            out.append(got if have is None else have)
        return out

    def _checked_buffer(self, buf, what):
        if buf.dtype is not self._dtype:
            raise TypeError(f"TensorArray {self._name!r}.{what}: {buf.name!r} has dtype "
                            f"{buf.dtype.name}, the TensorArray holds {self._dtype.name}")
        if not buf.shape.known_rank or buf.shape.ndims < 1:
            raise ValueError(f"TensorArray {self._name!r}.{what}: {buf.name!r} must have "
                             "rank >= 1 (its rows are the elements)")
        self._element = self._merge_element(TensorShape(tuple(buf.shape)[1:]), what)
        return buf

    def _zeros(self, element):
        shape = (self._size,) + tuple(element)
        return make("broadcast", [constant(0, dtype=self._dtype)], shape=shape, name="zeros")

    def _materialized(self, what):
        if self._buffer is not None:
            return self._buffer
        element = self._known_element()
        if element is None:
            where = " (a while_loop's loop variable or a cond's result is this buffer, " \
                "made before the body is traced)" if what == "flow" else ""
            raise ValueError(f"TensorArray {self._name!r}.{what}: nothing has been written "
                             f"and the element shape is unknown{where}; write or unstack "
                             "first, or pass element_shape=")
        with op_scope(None, "TensorArray", []):
            return self._zeros(element)

    def _grow_to(self, buf, n):
        """Buffer grown at build time to n rows (dynamic_size with a static index)."""
        extra = n - self._size
        pads = ((0, extra),) + ((0, 0),) * (len(buf.shape) - 1)
        return make("pad", [buf], pads=pads, value=0.0)

    # ---- TF1 methods ----------------------------------------------------------------
    def write(self, index, value, name=None) -> "TensorArray":
        with op_scope(name, "TensorArrayWrite", self._values(value)):
            v = self._checked_value(value, "write")
            element = self._merge_element(v.shape, "write")
            buf = self._buffer if self._buffer is not None else \
                self._zeros([d for d in v.shape])
            size = self._size
            if is_int_like(index) and isinstance(size, int) and int(index) >= size:
                if not self._dynamic_size:
                    raise ValueError(f"TensorArray {self._name!r}.write: index {int(index)} "
                                     f"is out of range for size {size} (pass "
                                     "dynamic_size=True to grow it)")
                buf, size = self._grow_to(buf, int(index) + 1), int(index) + 1
            idx = _index(index, f"TensorArray {self._name!r}.write")
            out = make("dynamic_update_slice", [buf, v, idx])
        return self._derive(out, element, size)

    def read(self, index, name=None) -> Tensor:
        buf = self._materialized("read")
        with op_scope(name, "TensorArrayRead", [buf]) as scope:
            idx = _index(index, f"TensorArray {self._name!r}.read")
            return make("gather", [buf, idx], axis=0, name=scope)

    def stack(self, name=None) -> Tensor:
        buf = self._materialized("stack")
        with op_scope(name, "TensorArrayStack", [buf]) as scope:
            return identity(buf, name=scope)

    def gather(self, indices, element_shape=None, name=None) -> Tensor:
        buf = self._materialized("gather")
        with op_scope(name, "TensorArrayGather", [buf]) as scope:
            idx = convert_to_tensor(indices, T.int32) if not isinstance(indices, Tensor) \
                else indices
            if idx.dtype.kind != "int" or idx.shape.ndims != 1:
                raise TypeError(f"TensorArray {self._name!r}.gather: indices must be a "
                                f"1-D int tensor, got {idx.dtype.name}{list(idx.shape)}")
            return make("gather", [buf, idx], axis=0, name=scope)

    def unstack(self, value, name=None) -> "TensorArray":
        with op_scope(name, "TensorArrayUnstack", self._values(value)):
            v = self._checked_value(value, "unstack")
            if not v.shape.known_rank or v.shape.ndims < 1:
                raise ValueError(f"TensorArray {self._name!r}.unstack: the value must have "
                                 "rank >= 1")
            n = v.shape[0]
            if isinstance(n, int) and isinstance(self._size, int) and n != self._size \
                    and not self._dynamic_size:
                raise ValueError(f"TensorArray {self._name!r}.unstack: the value has {n} "
                                 f"rows, the TensorArray has size {self._size}")
            element = self._merge_element(TensorShape(tuple(v.shape)[1:]), "unstack")
        return self._derive(v, element, n)

    def scatter(self, indices, value, name=None) -> "TensorArray":
        """Rows `value[k]` written at `indices[k]` (repeated indices add, see above)."""
        with op_scope(name, "TensorArrayScatter", self._values(value)):
            v = self._checked_value(value, "scatter")
            if not v.shape.known_rank or v.shape.ndims < 1:
                raise ValueError(f"TensorArray {self._name!r}.scatter: the value must have "
                                 "rank >= 1")
            element = self._merge_element(TensorShape(tuple(v.shape)[1:]), "scatter")
            idx = convert_to_tensor(indices, T.int32) if not isinstance(indices, Tensor) \
                else indices
            if idx.dtype.kind != "int" or idx.shape.ndims != 1:
                raise TypeError(f"TensorArray {self._name!r}.scatter: indices must be a "
                                f"1-D int tensor, got {idx.dtype.name}{list(idx.shape)}")
            buf = self._buffer if self._buffer is not None else self._zeros(element)
            shape = tuple(buf.shape)
            rows = make("scatter_add", [v, idx], shape=shape, axis=0)
            ones = make("broadcast", [constant(1, dtype=T.int32)], shape=tuple(idx.shape))
            hit = make("scatter_add", [ones, idx], shape=(shape[0],), axis=0)
            mask = make("greater", [make("reshape", [hit], shape=(shape[0],) +
                                         (1,) * (len(shape) - 1)),
                                    constant(0, dtype=T.int32)])
            out = make("select", [make("broadcast", [mask], shape=shape), rows, buf])
        return self._derive(out, element)

    def concat(self, name=None) -> Tensor:
        """The elements joined along their first axis (all elements have one shape)."""
        buf = self._materialized("concat")
        if buf.shape.ndims < 2:
            raise ValueError(f"TensorArray {self._name!r}.concat: the elements must have "
                             "rank >= 1")
        shape = tuple(buf.shape)
        with op_scope(name, "TensorArrayConcat", [buf]) as scope:
            return make("reshape", [buf], shape=(D.mul(shape[0], shape[1]),) + shape[2:],
                        name=scope)

    def size(self, name=None) -> Tensor:
        size = self._buffer.shape[0] if self._buffer is not None else self._size
        if isinstance(size, int):
            return constant(size, dtype=T.int32, name=name or "size")
        with op_scope(name, "TensorArraySize", self._values()) as scope:
            buf = self._materialized("size") if self._known_element() is not None or \
                self._buffer is not None else None
            if buf is None:
                raise ValueError(f"TensorArray {self._name!r}.size: a symbolic size needs a "
                                 "buffer; write, unstack or pass element_shape= first")
            shape = make("shape", [buf], dtype=T.int32)
            return make("reshape", [make("slice", [shape], begin=(0,), size=(1,),
                                         stride=(1,))], shape=(), name=scope)

    def _with_flow(self, flow) -> "TensorArray":
        """This TensorArray with `flow` as its buffer (a while_loop's param or output)."""
        flow = convert_to_tensor(flow)
        return self._derive(flow, None, flow.shape[0])

    def identity(self) -> "TensorArray":
        return self._derive(self._buffer)

    def close(self, name=None):
        graph = self._buffer.graph if self._buffer is not None else _graph_of([])
        return graph.create_op("NoOp", [], {}, name=name or "TensorArrayClose")

    def split(self, value, lengths, name=None):
        raise NotImplementedError("TensorArray.split is not supported by flowc (elements "
                                  "of different lengths); use unstack")

    def grad(self, source, flow=None, name=None):
        raise NotImplementedError("TensorArray.grad: flowc differentiates through "
                                  "TensorArrays with fc.gradients; explicit gradient "
                                  "TensorArrays are not supported")

    def __repr__(self):
        el = "?" if self._element is None else self._element
        return f"<TensorArray {self._name!r} {self._dtype.name} size={self._size} " \
               f"element_shape={el}>"


def _unshaped(x) -> bool:
    return isinstance(x, TensorArray) and x._buffer is None and x._known_element() is None


def _items(x):
    if isinstance(x, dict):
        return [x[k] for k in sorted(x)]
    return list(x) if isinstance(x, (list, tuple)) else []


def _rebuild(like, items):
    if isinstance(like, dict):
        return type(like)(zip(sorted(like), items))
    if isinstance(like, tuple) and hasattr(like, "_fields"):
        return type(like)(*items)
    return type(like)(items)


def _replace_leaves(x, fn):
    if isinstance(x, (list, tuple, dict)):
        return _rebuild(x, [_replace_leaves(c, fn) for c in _items(x)])
    return fn(x)


def shape_loop_arrays(structure, call_body):
    """`structure` (a while_loop's loop variables) with every TensorArray that has no
    buffer and no element shape given the element shape it gets when the body first
    writes it (TF1 infers it then). The body is traced once for that, into a throwaway
    region whose ops are removed again (`Graph.discarding_ops`): `call_body(structure)`
    gets params standing for the loop variables. Without such TensorArrays the
    structure is returned as it is and nothing is traced."""
    leaves = []
    _replace_leaves(structure, lambda x: leaves.append(x) or x)
    if not any(_unshaped(x) for x in leaves):
        return structure
    graph = _graph_of([x for x in nest.flatten([x for x in leaves if not _unshaped(x)])
                       if isinstance(x, Tensor)])
    counter = iter(range(len(leaves)))

    def param(t):
        t = convert_to_tensor(t)
        return make("param", [], name="probe", index=next(counter), dtype=t.dtype,
                    shape=tuple(t.shape) if t.shape.known_rank else None)

    def stand_in(x):
        if _unshaped(x):
            return x
        if isinstance(x, TensorArray):
            return x._with_flow(param(x.flow))
        return param(x)
    mark = len(graph.get_operations())
    with graph.discarding_ops(), graph.region_scope(UserRegion("body", "shape probe",
                                                               graph.current_region())):
        result = call_body(_replace_leaves(structure, stand_in))
        made = [op for op in graph.get_operations()[mark:] if op.type == "variable"]
    if made:   # their Python objects (a cell's weights) would outlive the probe's ops
        raise ValueError(f"while_loop: the body creates the variable {made[0].name!r} "
                         f"({made[0].loc}) and a TensorArray loop variable has no "
                         "element_shape; create the variables before the loop (flowc's "
                         "loop bodies cannot create them) or give the TensorArray "
                         "element_shape=")
    found = {}
    _match(structure, result, found)
    return _replace_leaves(structure, lambda x: x._derive(None, found[id(x)])
                           if _unshaped(x) and found.get(id(x)) is not None else x)


def _match(like, got, found):
    """Record, for each unshaped TensorArray of `like`, the element shape of the
    TensorArray at the same place in the body's result `got`."""
    if _unshaped(like):
        if isinstance(got, TensorArray) and got._known_element() is not None:
            found[id(like)] = list(got._known_element())
        return
    if isinstance(like, (list, tuple, dict)) and isinstance(got, (list, tuple, dict)):
        for a, b in zip(_items(like), _items(got)):
            _match(a, b, found)


# A TensorArray in a while_loop's loop_vars (or a cond's results) is its buffer.
nest.composite_hooks.append((lambda x: isinstance(x, TensorArray),
                             lambda ta: [ta.flow], lambda ta, items: ta._with_flow(items[0])))
