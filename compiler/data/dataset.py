"""`tf.data.Dataset`: TF1's input pipelines, described in the graph's Python objects
and run on the host by an iterator (iterator.py).

A `Dataset` is an immutable description with an element spec (a nest of `Spec`: dtype
and shape, `None` for a dim that varies, e.g. the batch dim of `batch()` without
`drop_remainder`). `_blocks(ctx)` runs it on the host as a stream of blocks (blocks.py),
where `ctx` (an iterator's state in one Session) holds the values of the graph tensors the
dataset captured (`from_tensor_slices(placeholder)` reads its feed at initialization),
per-iterator state (shuffle epochs, caches) and the Session that runs `map`/`filter`
functions.

`map(fn)` traces `fn` once into the user's graph on placeholders of the element's
components (TF1 traces it into a function of the graph) and runs it compiled by the
Session. Where its ops have batching rules (vectorize.py: elementwise ops, reshapes,
reductions, movement, gathers, matmul; no random draws) their batched form, built beside
it, runs once per block of up to `blocks.CHUNK` elements; otherwise `fn` runs once per
element, its outputs stacked into blocks. `filter(predicate)` does the same with a scalar
bool predicate.
"""

from __future__ import annotations

import numpy as np

from runtime.errors import InvalidArgumentError

from ..frontend.array_ops import placeholder
from ..frontend.core import _default_dtype, _numpy_dtype, convert_to_tensor
from ..frontend.graph import Tensor, get_default_graph, user_location
from ..frontend.random_ops import get_seed
from ..ir import dtypes as T
from . import blocks as B
from . import nest
from .iterator import Iterator
from .nest import Spec
from .vectorize import batch_ops


def _spec_of_tensor(t: Tensor) -> Spec:
    shape = t.shape
    return Spec(t.dtype, tuple(shape.as_list()) if shape.known_rank else None)


class Dataset(nest.Described):
    """Base of every dataset; the TF1 methods build new datasets (the element
    description, `output_types` etc., comes from `nest.Described`)."""

    _spec = None  # a nest of Spec

    # -- sources -----------------------------------------------------------------------
    @staticmethod
    def from_tensor_slices(tensors):
        return TensorSliceDataset(tensors)

    @staticmethod
    def from_tensors(tensors):
        return TensorDataset(tensors)

    @staticmethod
    def range(*args):  # noqa: A003  (TF1's name)
        return RangeDataset(*args)

    @staticmethod
    def zip(datasets):  # noqa: A003
        return ZipDataset(datasets)

    # -- transformations ---------------------------------------------------------------
    def batch(self, batch_size, drop_remainder=False):
        return BatchDataset(self, batch_size, drop_remainder)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True):
        return ShuffleDataset(self, buffer_size, seed, reshuffle_each_iteration)

    def repeat(self, count=None):
        return RepeatDataset(self, count)

    def map(self, map_func, num_parallel_calls=None):  # noqa: A003
        return MapDataset(self, map_func)

    def filter(self, predicate):  # noqa: A003
        return FilterDataset(self, predicate)

    def take(self, count):
        return TakeDataset(self, count)

    def skip(self, count):
        return SkipDataset(self, count)

    def prefetch(self, buffer_size):
        """Accepted for TF1 programs; elements are produced when a run asks for them."""
        return self

    def cache(self, filename=""):
        if filename:
            raise NotImplementedError("Dataset.cache(filename): flowc caches in memory only; "
                                      "call cache() without a file name")
        return CacheDataset(self)

    def concatenate(self, dataset):
        return ConcatenateDataset(self, dataset)

    # -- iterators (iterator.py) ---------------------------------------------------------
    def make_one_shot_iterator(self):
        """An iterator that initializes itself on its first run in each Session; the
        dataset may not read placeholders (TF1: use an initializable iterator)."""
        for t in self._captured():
            if t.op.type == "placeholder":
                raise ValueError(f"make_one_shot_iterator: the dataset reads the placeholder "
                                 f"{t.name!r} (created at {t.op.loc}), which a one-shot "
                                 "iterator cannot be fed; use make_initializable_iterator() "
                                 "and feed it to the initializer")
        return Iterator(self._spec, dataset=self, one_shot=True)

    def make_initializable_iterator(self, shared_name=None):
        it = Iterator(self._spec)
        it._initializer = it.make_initializer(self)
        return it

    # -- the host side -------------------------------------------------------------------
    def _inputs(self) -> tuple:
        return ()

    def _captured(self) -> list:
        """Graph tensors whose values the host needs when the iterator initializes."""
        return [t for d in self._inputs() for t in d._captured()]

    def _blocks(self, ctx):
        raise NotImplementedError


# ---- sources -----------------------------------------------------------------------------
def _component(value, what):
    """A component given to a source: a graph tensor (captured), else a numpy array with
    TF1's dtype rules (numpy keeps its dtype, Python floats are float32, ints int32)."""
    if isinstance(value, Tensor) or hasattr(value, "_as_graph_element") or (
            isinstance(value, list) and any(isinstance(v, Tensor) for v in value)):
        return convert_to_tensor(value)
    try:
        arr = np.asarray(value)
        dtype = _numpy_dtype(value) or _default_dtype(arr)
        return np.asarray(value, dtype=dtype.np)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{what}: cannot use {value!r} as a component: {e}") from None


def _spec_of(value) -> Spec:
    if isinstance(value, Tensor):
        return _spec_of_tensor(value)
    return Spec(T.as_dtype(value.dtype), value.shape)


class _SourceDataset(Dataset):
    def __init__(self, tensors, what):
        self._loc = user_location()
        self._structure = tensors
        self._parts = [_component(v, what) for v in nest.flatten(tensors)]

    def _captured(self):
        return [p for p in self._parts if isinstance(p, Tensor)]

    def _values(self, ctx):
        return [ctx.value(p) if isinstance(p, Tensor) else p for p in self._parts]


class TensorSliceDataset(_SourceDataset):
    def __init__(self, tensors):
        super().__init__(tensors, "Dataset.from_tensor_slices")
        specs = [_spec_of(p) for p in self._parts]
        for p, s in zip(self._parts, specs):
            if s.shape is not None and not s.shape:
                raise ValueError("Dataset.from_tensor_slices: a component must have rank "
                                 f">= 1 to be sliced, got the scalar {_describe(p)}")
        lead = {s.shape[0] for s in specs if s.shape is not None and s.shape[0] is not None}
        if len(lead) > 1:
            raise ValueError("Dataset.from_tensor_slices: the components have different "
                             f"first dimensions {sorted(lead)}")
        self._spec = nest.pack_as(tensors, [s.unbatched() for s in specs])

    def _blocks(self, ctx):
        values = self._values(ctx)
        sizes = {len(v) if v.ndim else None for v in values}
        if None in sizes or len(sizes) != 1:
            raise InvalidArgumentError(
                None, None, f"Dataset.from_tensor_slices (created at {self._loc}): the "
                f"components' first dimensions differ ({[v.shape for v in values]})")
        yield tuple(values)


class TensorDataset(_SourceDataset):
    def __init__(self, tensors):
        super().__init__(tensors, "Dataset.from_tensors")
        self._spec = nest.pack_as(tensors, [_spec_of(p) for p in self._parts])

    def _blocks(self, ctx):
        yield tuple(v[None] for v in self._values(ctx))


class RangeDataset(Dataset):
    def __init__(self, *args):
        if not 1 <= len(args) <= 3:
            raise TypeError(f"Dataset.range takes 1 to 3 arguments, got {len(args)}")
        self._args = tuple(int(a) for a in args)
        if len(args) == 3 and self._args[2] == 0:
            raise ValueError("Dataset.range: step must not be 0")
        self._spec = Spec(T.int64, ())

    def _blocks(self, ctx):
        r = range(*self._args)
        for i in range(0, len(r), B.CHUNK):
            sub = r[i:i + B.CHUNK]
            yield (np.arange(sub.start, sub.stop, sub.step, dtype=np.int64),)


class ZipDataset(Dataset):
    def __init__(self, datasets):
        self._datasets = datasets
        flat = nest.flatten(datasets)
        for d in flat:
            if not isinstance(d, Dataset):
                raise TypeError(f"Dataset.zip takes a nest of datasets, got {d!r}")
        self._spec = nest.pack_as(datasets, [d._spec for d in flat])

    def _inputs(self):
        return tuple(nest.flatten(self._datasets))

    def _blocks(self, ctx):
        readers = [B.Reader(d._blocks(ctx)) for d in self._inputs()]
        while True:
            n = min(r.available() for r in readers)
            if n == 0:
                return
            yield tuple(a for r in readers for a in r.take(n))


class ConcatenateDataset(Dataset):
    def __init__(self, first, second):
        if not nest.same_structure(first._spec, second._spec) or [
                s.dtype for s in nest.flatten(first._spec)] != [
                s.dtype for s in nest.flatten(second._spec)]:
            raise TypeError("Dataset.concatenate: the datasets' element types differ")
        self._first, self._second = first, second
        self._spec = nest.pack_as(first._spec, [
            Spec(a.dtype, _common_shape(a.shape, b.shape))
            for a, b in zip(nest.flatten(first._spec), nest.flatten(second._spec))])

    def _inputs(self):
        return (self._first, self._second)

    def _blocks(self, ctx):
        yield from self._first._blocks(ctx)
        yield from self._second._blocks(ctx)


def _common_shape(a, b):
    if a is None or b is None or len(a) != len(b):
        return None
    return tuple(x if x == y else None for x, y in zip(a, b))


def _describe(p):
    return repr(p.name) if isinstance(p, Tensor) else f"value of shape {p.shape}"


# ---- transformations -------------------------------------------------------------------
class _UnaryDataset(Dataset):
    def __init__(self, input_dataset):
        if not isinstance(input_dataset, Dataset):
            raise TypeError(f"expected a Dataset, got {input_dataset!r}")
        self._input = input_dataset
        self._spec = input_dataset._spec
        self._loc = user_location()

    def _inputs(self):
        return (self._input,)


def _positive(value, what, allow_minus_one=False):
    value = int(value)
    if value < 0 and not (allow_minus_one and value == -1):
        raise ValueError(f"{what} must be >= 0, got {value}")
    return value


class BatchDataset(_UnaryDataset):
    """`batch_size` is a number, or a scalar int tensor (a placeholder fed to the
    initializer, TF1's idiom for one pipeline with several batch sizes): then the batch
    dim is None even with `drop_remainder`."""

    def __init__(self, input_dataset, batch_size, drop_remainder):
        super().__init__(input_dataset)
        if isinstance(batch_size, Tensor) or hasattr(batch_size, "_as_graph_element"):
            self._size = convert_to_tensor(batch_size)
            if self._size.dtype.kind != "int" or self._size.shape.as_list() != []:
                raise TypeError("Dataset.batch: batch_size must be a scalar int tensor, got "
                                f"{self._size!r}")
            static = None
        else:
            self._size = static = _positive(batch_size, "Dataset.batch: batch_size")
            if static == 0:
                raise ValueError("Dataset.batch: batch_size must be positive")
        self._drop = bool(drop_remainder)
        self._spec = nest.map_structure(
            lambda s: s.batched(static if self._drop else None), self._input._spec)

    def _captured(self):
        own = [self._size] if isinstance(self._size, Tensor) else []
        return own + super()._captured()

    def _blocks(self, ctx):
        size = self._size
        if isinstance(size, Tensor):
            size = int(ctx.value(size))
            if size <= 0:
                raise InvalidArgumentError(None, None, f"Dataset.batch (created at "
                                           f"{self._loc}): batch_size {self._size.name!r} is "
                                           f"{size}; it must be > 0")
        reader = B.Reader(self._input._blocks(ctx))
        while True:
            batch = reader.take(size)
            if batch is None or (self._drop and len(batch[0]) < size):
                return
            yield tuple(a[None] for a in batch)


class RepeatDataset(_UnaryDataset):
    def __init__(self, input_dataset, count):
        super().__init__(input_dataset)
        self._count = -1 if count is None else _positive(count, "Dataset.repeat: count", True)

    def _blocks(self, ctx):
        k = 0
        while self._count < 0 or k < self._count:
            produced = False
            for block in self._input._blocks(ctx):
                produced = produced or len(block[0]) > 0
                yield block
            k += 1
            if not produced:  # an empty dataset repeated forever is empty
                return


class TakeDataset(_UnaryDataset):
    def __init__(self, input_dataset, count):
        super().__init__(input_dataset)
        self._count = _positive(count, "Dataset.take: count", True)

    def _blocks(self, ctx):
        if self._count < 0:
            yield from self._input._blocks(ctx)
            return
        reader, left = B.Reader(self._input._blocks(ctx)), self._count
        while left > 0:
            block = reader.take(min(left, B.CHUNK))
            if block is None:
                return
            left -= len(block[0])
            yield block


class SkipDataset(_UnaryDataset):
    def __init__(self, input_dataset, count):
        super().__init__(input_dataset)
        self._count = _positive(count, "Dataset.skip: count", True)

    def _blocks(self, ctx):
        if self._count < 0:
            return
        reader = B.Reader(self._input._blocks(ctx))
        reader.skip(self._count)
        while reader.available():
            yield reader.take(B.CHUNK)


class ShuffleDataset(_UnaryDataset):
    """TF1's shuffle buffer (blocks.shuffled). Seeds follow `tf.set_random_seed`: the
    graph seed and the op seed (`seed=`, or the graph's next op seed) key the generator
    (`blocks.seeded_rng`) with the iteration count when `reshuffle_each_iteration` (else
    0), so each pass of a `repeat` gets a new order.
    The count lives in the iterator's state: re-initializing an iterator replays the same
    sequence of orders."""

    def __init__(self, input_dataset, buffer_size, seed, reshuffle_each_iteration):
        super().__init__(input_dataset)
        self._buffer = _positive(buffer_size, "Dataset.shuffle: buffer_size")
        if self._buffer == 0:
            raise ValueError("Dataset.shuffle: buffer_size must be positive")
        self._seeds = get_seed(seed)
        self._reshuffle = bool(reshuffle_each_iteration)

    def _blocks(self, ctx):
        epoch = ctx.count(self)
        rng = B.seeded_rng(self._seeds, epoch if self._reshuffle else 0)
        yield from B.shuffled(self._input._blocks(ctx), self._buffer, rng)


class CacheDataset(_UnaryDataset):
    """The first complete pass is recorded (per iterator state) and replayed after."""

    def _blocks(self, ctx):
        cached = ctx.state(self)
        if "blocks" in cached:
            yield from cached["blocks"]
            return
        record = []
        for block in self._input._blocks(ctx):
            record.append(block)
            yield block
        cached["blocks"] = record


# ---- functions of elements ------------------------------------------------------------------
class _Traced:
    """`fn` traced into the user's graph on placeholders of the element spec; `vector`
    is its batched form (vectorize.py: placeholders with a leading batch dim and the
    outputs for a whole block), or None when it runs per element."""

    def __init__(self, fn, spec, what):
        graph = get_default_graph()
        with graph.name_scope(what):
            start = len(graph._ops)
            self.inputs, self.outputs, self.structure = _trace(fn, spec)
            ops = graph._ops[start:]
            self.vector = None
            specs = nest.flatten(spec)
            if all(s.shape is not None and None not in s.shape for s in specs):
                with graph.name_scope("batched"):
                    phs = [placeholder(s.dtype, (None,) + s.shape, name="arg") for s in specs]
                    outs = batch_ops(ops, self.inputs, phs, self.outputs)
                if outs is not None:
                    self.vector = (phs, outs)


def _trace(fn, spec):
    specs = nest.flatten(spec)
    phs = [placeholder(s.dtype, s.shape, name="arg") for s in specs]
    args = nest.pack_as(spec, phs)
    out = fn(*args) if type(args) is tuple else fn(args)
    if isinstance(out, list):
        out = tuple(out)
    flat = [convert_to_tensor(o) for o in nest.flatten(out)]
    return phs, flat, out


def _run_traced(ctx, traced: _Traced, block):
    """`traced` applied to each element of `block`: one run per block when vectorized,
    else one run per element with the outputs stacked."""
    session = ctx.session
    if traced.vector is not None:
        phs, outs = traced.vector
        return tuple(session._run_flat(outs, dict(zip(phs, block))))
    rows = []
    for i in range(len(block[0])):
        feeds = dict(zip(traced.inputs, [a[i, ...] for a in block]))
        rows.append(session._run_flat(traced.outputs, feeds))
    return tuple(np.stack([np.asarray(r[k]) for r in rows]) for k in range(len(traced.outputs)))


class _FunctionDataset(_UnaryDataset):
    """A dataset applying a traced function to its input's elements: `_apply(block,
    outputs)` turns the function's outputs for a non-empty block into the output block."""

    def __init__(self, input_dataset, fn, what):
        super().__init__(input_dataset)
        self._fn = _Traced(fn, input_dataset._spec, what)

    @property
    def vectorized(self) -> bool:
        """Whether the function runs once per block (elementwise) instead of per element."""
        return self._fn.vector is not None

    def _blocks(self, ctx):
        for block in B.rechunk(self._input._blocks(ctx)):
            if len(block[0]):
                yield self._apply(block, _run_traced(ctx, self._fn, block))


class MapDataset(_FunctionDataset):
    def __init__(self, input_dataset, fn):
        super().__init__(input_dataset, fn, "MapDataset")
        self._spec = nest.pack_as(self._fn.structure,
                                  [_spec_of_tensor(t) for t in self._fn.outputs])

    def _apply(self, block, outputs):
        return outputs


class FilterDataset(_FunctionDataset):
    def __init__(self, input_dataset, predicate):
        super().__init__(input_dataset, predicate, "FilterDataset")
        out = self._fn.outputs
        if len(out) != 1 or out[0].dtype is not T.bool_ or out[0].shape.as_list() != []:
            raise TypeError("Dataset.filter: the predicate must return one scalar bool tensor, "
                            f"got {[t.type for t in out]}")

    def _apply(self, block, outputs):
        keep = np.asarray(outputs[0], dtype=bool).reshape(-1)
        return tuple(a[keep] for a in block)
