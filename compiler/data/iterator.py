"""TF1's dataset iterators: `make_one_shot_iterator()`, `make_initializable_iterator()`,
`Iterator.from_structure(...)` with `make_initializer(dataset)`, and `get_next()`.

An iterator is a host object of the graph. `get_next()` adds one placeholder per
component of the element (named `IteratorGetNext`, `IteratorGetNext_1`, ...) and
registers them as one source group with the graph's HostIO (hostio.py): each
`Session.run` that needs any of them pulls one element for the group and feeds it to the
compiled step (rows of the source arrays: views or one gather, never a Python copy per
element). Its state lives per Session (TF1's iterator resource): an initializer run
evaluates the tensors the dataset captured (placeholders read from the run's feeds; other
tensors computed by the Session) and restarts the stream; a one-shot iterator initializes
itself on its first pull in each Session. At the end a pull raises
`tf.errors.OutOfRangeError`; before initialization `FailedPreconditionError`.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

from runtime.errors import (
    FailedPreconditionError,
    FeedError,
    InvalidArgumentError,
    OutOfRangeError,
)

from ..frontend.array_ops import placeholder
from ..frontend.control_flow import no_op
from ..frontend.core import make
from ..frontend.graph import Tensor, TensorShape, get_default_graph
from ..ir import dtypes as T
from ..summary.ops import string  # the host-only string dtype
from . import blocks as B
from . import nest
from .hostio import HostOp, host_io
from .nest import Spec


class Iterator(nest.Described):
    """A TF1 `tf.data.Iterator`; build it with the Dataset methods or `from_structure`
    (`output_types` etc. come from `nest.Described`)."""

    def __init__(self, spec, dataset=None, one_shot=False, name="Iterator"):
        self._spec = spec
        self._dataset = dataset if one_shot else None
        self._one_shot = one_shot
        self._graph = get_default_graph()
        self._states = weakref.WeakKeyDictionary()  # Session -> _State
        self._lock = threading.Lock()
        self._initializer = None
        self._name = name

    # -- TF1's constructors -----------------------------------------------------------------
    @staticmethod
    def from_structure(output_types, output_shapes=None, shared_name=None,
                       output_classes=None):
        """A reinitializable iterator of elements with these types and shapes: bind a dataset
        with `make_initializer(dataset)` (several datasets may take turns)."""
        if output_shapes is None:
            output_shapes = nest.map_structure(lambda _: None, output_types)
        if not nest.same_structure(output_types, output_shapes):
            raise TypeError("Iterator.from_structure: output_types and output_shapes have "
                            "different structures")
        specs = [Spec(T.as_dtype(t), _shape_tuple(s)) for t, s in
                 zip(nest.flatten(output_types), nest.flatten(output_shapes))]
        return Iterator(nest.pack_as(output_types, specs))

    @staticmethod
    def from_string_handle(string_handle, output_types, output_shapes=None,
                           output_classes=None):
        """A feedable iterator: each run pulls from the iterator whose `string_handle()`
        value is fed to the string placeholder `string_handle` (TF1's idiom for switching
        between training and validation iterators with feed_dict)."""
        if not isinstance(string_handle, Tensor) or string_handle.dtype is not string:
            raise TypeError("Iterator.from_string_handle needs a string placeholder "
                            f"(tf.placeholder(tf.string, [])), got {string_handle!r}")
        it = Iterator.from_structure(output_types, output_shapes)
        it._handle_tensor = string_handle
        return it

    @property
    def initializer(self):
        if self._initializer is None:
            raise ValueError("this iterator has no initializer: a one-shot iterator "
                             "initializes itself; for from_structure use make_initializer")
        return self._initializer

    # -- graph ops ------------------------------------------------------------------------------
    def string_handle(self, name=None):
        """A string tensor naming this iterator; fetch it and feed it to the placeholder of
        an iterator made by `from_string_handle`."""
        io = host_io(self._graph)
        handle = io.handles.setdefault(self, f"flowc-iterator-{len(io.handles)}".encode())
        with self._graph.as_default():
            t = make("placeholder", [], name=name or "IteratorToStringHandle", dtype=string,
                     shape=())
        io.add_source(_Fixed([t], [np.asarray(handle, dtype=object)]), [t])
        return t

    def get_next(self, name=None):
        """The next element as tensors in the dataset's structure; one element per run for
        all of them."""
        with self._graph.as_default():
            phs = []
            for s in nest.flatten(self._spec):
                phs.append(placeholder(s.dtype, s.shape, name=name or "IteratorGetNext"))
        host_io(self._graph).add_source(_GetNext(self, phs), phs)
        return nest.pack_as(self._spec, phs)

    def make_initializer(self, dataset, name=None):
        """An op that (re)starts this iterator on `dataset`, whose element types must match
        (shapes must be compatible)."""
        if not hasattr(dataset, "_blocks"):  # a Dataset (dataset.py builds iterators)
            raise TypeError(f"make_initializer takes a Dataset, got {dataset!r}")
        self._check_compatible(dataset)
        with self._graph.as_default():
            op = no_op(name=name or "MakeIterator")

        def run(session, feeds, values):
            self._start(session, dataset, feeds)
        host_io(self._graph).add_op(op, HostOp(run))
        return op

    def _check_compatible(self, dataset):
        """`dataset` (or an iterator) yields elements this iterator's get_next can take."""
        mine, theirs = nest.flatten(self._spec), nest.flatten(dataset._spec)
        if not nest.same_structure(self._spec, dataset._spec) or len(mine) != len(theirs):
            raise TypeError("the dataset's element structure differs from the iterator's "
                            f"({dataset.output_types} vs {self.output_types})")
        for a, b in zip(mine, theirs):
            if a.dtype is not b.dtype:
                raise TypeError(f"the dataset's element types {dataset.output_types} differ "
                                f"from the iterator's {self.output_types}")
            if a.shape is not None and (b.shape is None or len(a.shape) != len(b.shape) or any(
                    x is not None and y is not None and x != y
                    for x, y in zip(a.shape, b.shape))):
                raise TypeError(f"the dataset's element shapes {dataset.output_shapes} are not "
                                f"compatible with the iterator's {self.output_shapes}")

    # -- the host side --------------------------------------------------------------------------
    def _start(self, session, dataset, feeds):
        state = _State(session, dataset, feeds)
        with self._lock:
            self._states[session] = state

    def _pull(self, session, feeds):
        handle = getattr(self, "_handle_tensor", None)
        if handle is not None:
            return self._by_handle(feeds)._pull(session, feeds)
        with self._lock:
            state = self._states.get(session)
            if state is None:
                if not self._one_shot:
                    raise FailedPreconditionError(
                        "GetNext() failed because the iterator has not been initialized: "
                        "run its initializer (sess.run(iterator.initializer)) first")
                state = self._states[session] = _State(session, self._dataset, {})
            element = state.reader.take(1)
        if element is None:
            raise OutOfRangeError(None, None, "End of sequence")
        return [a[0, ...] for a in element]  # 0-d arrays, not numpy scalars

    def _by_handle(self, feeds):
        if self._handle_tensor not in feeds:
            raise InvalidArgumentError(
                None, None, f"this feedable iterator reads {self._handle_tensor.name!r}: feed "
                "it the value of another iterator's string_handle()")
        value = np.asarray(feeds[self._handle_tensor]).item()
        value = value.encode() if isinstance(value, str) else value
        for it, h in host_io(self._graph).handles.items():
            if h == value:
                self._check_compatible(it)
                return it
        raise InvalidArgumentError(None, None, f"{value!r} is not an iterator handle of "
                                   "this graph")


class _GetNext:
    """One `get_next()`'s placeholders: a source group of the HostIO."""

    def __init__(self, iterator, tensors):
        self.iterator = iterator
        self.tensors = tensors

    def pull(self, session, feeds):
        values = self.iterator._pull(session, feeds)
        for t, v in zip(self.tensors, values):
            _check_element(t, v)
        return values


def _check_element(t: Tensor, v: np.ndarray):
    """An element must fit the shape its get_next() placeholder was built with (the
    dataset's spec): the boundary check would reject it, but this names the iterator."""
    shape = t._type.shape
    if shape is None:
        return
    if not _fits(t, v):
        raise InvalidArgumentError(
            None, None, f"the iterator produced an element of shape {list(v.shape)} for "
            f"{t.name!r} (created at {t.op.loc}), which has shape {t.shape.as_list()}")


def _fits(t: Tensor, v: np.ndarray) -> bool:
    want = t.shape.as_list()
    return v.ndim == len(want) and all(w is None or w == g for w, g in zip(want, v.shape))


def _check_fed(t: Tensor, v: np.ndarray):
    """A placeholder a dataset reads gets a value of its declared shape."""
    if t.op.type == "placeholder" and t._type.shape is not None and not _fits(t, v):
        raise FeedError(f"the value fed for {t.op.describe()} has shape {list(v.shape)}; "
                        f"the placeholder has shape {t.shape.as_list()}")


class _Fixed:
    """A source group with a constant value (an iterator's string handle)."""

    def __init__(self, tensors, values):
        self.tensors = tensors
        self.values = values

    def pull(self, session, feeds):
        return self.values


class _State:
    """An iterator in one Session: `dataset` started with the values its captured
    tensors have for `feeds`."""

    def __init__(self, session, dataset, feeds):
        self.ctx = _Context(session, dataset, feeds)
        self.reader = B.Reader(dataset._blocks(self.ctx))


class _Context:
    """An iterator's run-time state in one Session: the values of captured tensors,
    per-dataset counters (shuffle epochs) and state dicts (caches)."""

    def __init__(self, session, dataset, feeds):
        self.session = session
        self._counts: dict = {}
        self._states: dict = {}
        self._values = _evaluate(session, dataset._captured(), feeds)

    def value(self, tensor) -> np.ndarray:
        return self._values[tensor]

    def count(self, dataset) -> int:
        k = self._counts.get(id(dataset), 0)
        self._counts[id(dataset)] = k + 1
        return k

    def state(self, dataset) -> dict:
        return self._states.setdefault(id(dataset), {})


def _evaluate(session, tensors, feeds) -> dict:
    """Values of captured tensors: fed ones from the feeds, constants from the graph, the
    rest computed by one run of the Session."""
    values, rest = {}, []
    for t in dict.fromkeys(tensors):
        if t in feeds:
            values[t] = np.asarray(feeds[t])
            _check_fed(t, values[t])
        elif t.op.type == "constant":
            values[t] = t.op.attrs["value"].array
        else:
            rest.append(t)
    if rest:
        values.update(zip(rest, session._run_flat(rest, feeds)))
    return values


def _shape_tuple(shape):
    if shape is None:
        return None
    if isinstance(shape, TensorShape):
        return tuple(shape.as_list()) if shape.known_rank else None
    return tuple(None if d is None else int(d) for d in shape)


def make_one_shot_iterator(dataset):
    """`tf.data.make_one_shot_iterator(dataset)` (TF 1.15's spelling)."""
    return dataset.make_one_shot_iterator()


def make_initializable_iterator(dataset, shared_name=None):
    """`tf.data.make_initializable_iterator(dataset)` (TF 1.15's spelling)."""
    return dataset.make_initializable_iterator(shared_name)


def get_output_types(dataset_or_iterator):
    return dataset_or_iterator.output_types


def get_output_shapes(dataset_or_iterator):
    return dataset_or_iterator.output_shapes
