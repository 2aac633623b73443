"""What the runtime needs to know about a lowered program's buffers, for every backend:
`layout_of(lowered)` -> `Layout` (a `BufferSpec` per buffer, each buffer's index, the
buffer index of every output and variable update, the calls that touch each buffer).
Plain data from the kernel IR; nothing here generates code."""

from __future__ import annotations

from dataclasses import dataclass

from runtime.executable import BufferSpec

from ..ir import dims as D


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
    """[user op name, kernel name] of each call, in call order (run-metadata timings)."""
    return [[call_node(lowered, c), kname] for c, (kname, _, _) in enumerate(lowered.calls)]


def call_node(lowered, c) -> str:
    """The user op name of call `c` (its kernel's name when lowering recorded none)."""
    nodes = lowered.call_nodes
    return str(nodes[c]) if c < len(nodes) else lowered.calls[c][0]


def layout_of(lowered) -> Layout:
    index = {b.name: i for i, b in enumerate(lowered.buffers)}
    specs = [BufferSpec(b.name, b.dtype.np.name, [D.to_json(d) for d in b.shape], b.kind,
                        b.source, b.desc) for b in lowered.buffers]
    return Layout(specs, index, [index[n] for n in lowered.outputs],
                  {v: index[n] for v, n in lowered.updates.items()}, lowered.errors)


def buffer_lifetimes(lowered, index) -> dict:
    """buffer index -> (first call, last call) that touches it, for memory planning."""
    life = {}
    for c, (_, buf_names, _) in enumerate(lowered.calls):
        for name in buf_names:
            i = index[name]
            first, _ = life.get(i, (c, c))
            life[i] = (first, c)
    return life
