"""What the runtime needs to know about a lowered program's buffers, for every backend:
`layout_of(lowered)` -> `Layout` (a `BufferSpec` per buffer, each buffer's index, the
buffer index of every output and variable update, the calls that touch each buffer).
Plain data from the kernel IR; nothing here generates code."""

from __future__ import annotations

from dataclasses import dataclass

from runtime.executable import BufferSpec

from ..ir import dims as D
from ..lower import kir as K


@dataclass(frozen=True)
class Layout:
    specs: list        # BufferSpec per buffer, in the lowered program's order
    index: dict        # buffer name -> index
    outputs: list      # buffer index per output
    updates: dict      # variable name -> buffer index of its new value
    errors: dict       # error code -> message

    def lifetimes(self, lowered) -> dict:
        return buffer_lifetimes(lowered, self.index)


def call_labels(lowered) -> list:
    """[user op name, kernel name] of each call of the host schedule, in program order
    with loop and branch bodies inline (`kir.flat_calls`): the slots of run-metadata
    timings. A call lowering recorded no user name for is named by its kernel."""
    nodes = lowered.call_nodes
    return [[str(nodes[c]) if c < len(nodes) else kname, kname]
            for c, (kname, _, _) in enumerate(K.flat_calls(lowered.calls))]


def layout_of(lowered) -> Layout:
    index = {b.name: i for i, b in enumerate(lowered.buffers)}
    specs = [BufferSpec(b.name, b.dtype.np.name, [D.to_json(d) for d in b.shape], b.kind,
                        b.source, b.desc) for b in lowered.buffers]
    return Layout(specs, index, [index[n] for n in lowered.outputs],
                  {v: index[n] for v, n in lowered.updates.items()}, lowered.errors)


def buffer_lifetimes(lowered, index) -> dict:
    """buffer index -> (first call, last call) that touches it, for memory planning.
    Calls are numbered in program order (loop and branch bodies inline, as
    `kir.flat_calls`); a buffer touched inside a loop lives across the whole loop (its
    cond and body run again), so nothing else shares its memory there."""
    life: dict = {}
    _walk(lowered.calls, index, life, 0)
    return life


def _walk(host, index, life, c) -> int:
    """Record the calls of `host`, numbered from `c`; returns the next number."""
    for st in host:
        if isinstance(st, K.HostWhile):
            start = c
            touched: dict = {}
            c = _walk(st.body, index, touched, _walk(st.cond, index, touched, c))
            touched.setdefault(index[st.pred], (start, start))
            for i in touched:
                first, last = life.get(i, (start, start))
                life[i] = (min(first, start), max(last, c - 1))
        elif isinstance(st, K.HostIf):
            _touch(life, index[st.pred], c)
            c = _walk(st.else_, index, life, _walk(st.then, index, life, c))
        else:
            for name in st[1]:
                _touch(life, index[name], c)
            c += 1
    return c


def _touch(life, i, c):
    first, _ = life.get(i, (c, c))
    life[i] = (first, c)
