"""Host streams of dataset elements as *blocks*: a block is a tuple of numpy arrays (one
per flat component) sharing a leading axis, k consecutive elements. Sources yield their
arrays whole (from_tensor_slices: one block of views of the source arrays), so a batch of
consecutive elements is a slice view, and a shuffled batch one gather per component.

`Reader` takes elements off a block stream (views inside a block, one concatenation
where a request spans blocks); `shuffled` is TF1's shuffle buffer over element indices
(the buffer holds positions, not copies). Nothing here touches the graph.
"""

from __future__ import annotations

import numpy as np

#: elements per block where a stage makes its own blocks (range, map per element, shuffle)
CHUNK = 1024


class Reader:
    """Elements off a block stream: `take(k)` returns up to k elements as a block (None at
    the end), views when they lie in one block."""

    def __init__(self, blocks):
        self._blocks = iter(blocks)
        self._cur = None
        self._pos = 0

    def _ready(self) -> bool:
        while self._cur is None or self._pos >= len(self._cur[0]):
            block = next(self._blocks, None)
            if block is None:
                return False
            self._cur, self._pos = block, 0
        return True

    def available(self) -> int:
        """Elements left in the current block (0 at the end of the stream)."""
        return len(self._cur[0]) - self._pos if self._ready() else 0

    def take(self, k):
        parts = []
        got = 0
        while got < k and self._ready():
            n = min(k - got, len(self._cur[0]) - self._pos)
            parts.append(tuple(a[self._pos:self._pos + n] for a in self._cur))
            self._pos += n
            got += n
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        return tuple(np.concatenate(cols) for cols in zip(*parts))

    def skip(self, k) -> int:
        """Drop up to k elements; the number dropped."""
        done = 0
        while done < k and self._ready():
            n = min(k - done, len(self._cur[0]) - self._pos)
            self._pos += n
            done += n
        return done


def rechunk(blocks, size=CHUNK):
    """The same elements in blocks of at most `size` (views)."""
    for block in blocks:
        n = len(block[0])
        if n <= size:
            yield block
            continue
        for i in range(0, n, size):
            yield tuple(a[i:i + size] for a in block)


class _Store:
    """Blocks of a stream by global element index, dropped when every element of a block
    has been handed out."""

    def __init__(self):
        self.starts: list[int] = []
        self.blocks: dict[int, tuple] = {}
        self.left: dict[int, int] = {}
        self.end = 0

    def add(self, block):
        self.starts.append(self.end)
        self.blocks[self.end] = block
        self.left[self.end] = len(block[0])
        self.end += len(block[0])

    def gather(self, idx: np.ndarray) -> tuple:
        starts = np.asarray(self.starts)
        which = starts[np.searchsorted(starts, idx, side="right") - 1]
        sample = self.blocks[int(which[0])]
        out = tuple(np.empty((len(idx),) + a.shape[1:], a.dtype) for a in sample)
        for s in np.unique(which):
            s = int(s)
            mask = which == s
            block = self.blocks[s]
            for o, a in zip(out, block):
                o[mask] = a[idx[mask] - s]
            self.left[s] -= int(mask.sum())
            if self.left[s] == 0:
                del self.blocks[s], self.left[s]
                self.starts.remove(s)
        return out


def seeded_rng(seeds, counter: int) -> np.random.Generator:
    """The host generator of a shuffling op: `seeds` is its `(graph seed, op seed)` pair
    (`get_seed`, so `tf.set_random_seed` and `seed=` apply), `counter` tells its uses
    apart (a shuffle's pass, a producer's epoch). A numpy Philox generator keyed by
    `graph seed << 32 | op seed` and `counter`."""
    graph_seed, op_seed = seeds
    key = [(graph_seed & 0xFFFFFFFF) << 32 | (op_seed & 0xFFFFFFFF), counter]
    return np.random.Generator(np.random.Philox(key=np.asarray(key, dtype=np.uint64)))


def shuffled(blocks, buffer_size: int, rng: np.random.Generator, chunk=CHUNK):
    """TF1's shuffle buffer: fill a buffer with the first `buffer_size` elements; then
    each output is a uniformly chosen buffer entry, whose place takes the next input
    element (the last entry once the input is exhausted). The buffer holds element
    positions; each output chunk is one gather from the stored input blocks."""
    source = iter(blocks)
    store = _Store()
    buf: list[int] = []
    nxt = 0  # global index of the next input element
    exhausted = False
    out: list[int] = []
    draws, d = rng.random(chunk), 0
    while True:
        while len(buf) < buffer_size and not exhausted:
            if nxt < store.end:
                buf.append(nxt)
                nxt += 1
                continue
            block = next(source, None)
            if block is None:
                exhausted = True
            elif len(block[0]):
                store.add(block)
        if not buf:
            break
        if d == len(draws):
            draws, d = rng.random(chunk), 0
        j = int(draws[d] * len(buf))
        d += 1
        out.append(buf[j])
        buf[j] = buf[-1]
        buf.pop()
        if len(out) == chunk:
            yield store.gather(np.asarray(out))
            out = []
    if out:
        yield store.gather(np.asarray(out))
