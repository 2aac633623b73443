"""The C ABI model of one ahead-of-time artifact: what `NAME_run` takes and where every
buffer of a `LoweredProgram` lives. `capi.py` emits the wrappers from it, `header.py`
renders NAME.h and `compiler/aot.py` writes the manifest from it, so all three agree.

`abi_model(program, lowered, name)` returns an `AbiModel`:
  - inputs, outputs, variables as `CArg`s (flowc name, C identifier, dtype, JSON dims);
  - symbols with the placeholder axis each one comes from;
  - `homes`: one per buffer, where its memory comes from during `NAME_run`:
      ("input", i)     the caller's input pointer i
      ("variable", v)  variable v's current value (read-only during the run)
      ("const", c)     constant c embedded in the .so
      ("next", v)      variable v's second array, which becomes current on success
      ("output", k)    the caller's output pointer k
      ("arena", s)     slot s of the instance's temporaries arena
  - `output_copies` / `update_copies`: (k or v, buffer) pairs copied after a successful
    run (an output that is an input, a variable, a constant or another output's buffer; an
    update whose buffer lives elsewhere);
  - `slots`: the arena slots, each a list of buffers whose lifetimes do not overlap (a
    slot's size is the largest member's, rounded up to ALIGN bytes).
Dims are in the runtime's JSON form; nothing here emits code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from runtime.signature import format_dim

from ...ir import dims as D

ALIGN = 64

C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto "
    "if inline int long register restrict return short signed sizeof static struct switch "
    "typedef union unsigned void volatile while _Bool _Complex _Imaginary "
    # names the header's declarations use as types
    "int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t size_t".split())

#: numpy dtype name -> C type of one element
C_TYPES = {"float16": "uint16_t", "float32": "float", "float64": "double",
           "int8": "int8_t", "int16": "int16_t", "int32": "int32_t", "int64": "int64_t",
           "uint8": "uint8_t", "uint16": "uint16_t", "uint32": "uint32_t", "uint64": "uint64_t",
           "bool": "uint8_t"}


@dataclass
class CArg:
    name: str           # flowc name (placeholder, fetched tensor, variable)
    c_name: str         # C identifier
    dtype: str          # numpy dtype name
    shape: list         # JSON dims
    loc: str = ""
    reasons: dict = field(default_factory=dict)

    @property
    def c_type(self) -> str:
        return C_TYPES[self.dtype]

    def to_json(self) -> dict:
        return {"name": self.name, "c_name": self.c_name, "dtype": self.dtype,
                "shape": self.shape, "loc": self.loc,
                "reasons": {str(k): v for k, v in self.reasons.items()}}


@dataclass
class AbiModel:
    name: str
    inputs: list        # CArg
    outputs: list       # CArg
    variables: list     # CArg (static shapes)
    symbols: list       # (symbol name, placeholder name, axis)
    checks: list        # (dim, dim, why): equal
    bounds: list        # (dim, dim, why): first <= second
    buffers: list       # (dtype name, itemsize, JSON dims, desc) per program buffer
    homes: list
    output_copies: list
    update_copies: list
    slots: list         # [buffer index]
    errors: dict        # code -> message
    updated: list = field(default_factory=list)  # indices of the variables a run assigns

    def buffer_bytes(self, i):
        dtype, itemsize, shape, _ = self.buffers[i]
        return product([itemsize] + list(shape))

    def slot_bytes(self) -> list:
        """Per slot, the JSON byte sizes of its members (the slot takes their maximum)."""
        return [[self.buffer_bytes(i) for i in slot] for slot in self.slots]

    def temporaries_formula(self) -> str:
        """The arena size in bytes as a formula of the symbols (for the header)."""
        parts = []
        for sizes in self.slot_bytes():
            inner = ", ".join(format_dim(s) for s in sizes)
            parts.append(f"align{ALIGN}({inner})" if len(sizes) == 1
                         else f"align{ALIGN}(max({inner}))")
        return " + ".join(parts) or "0"


def product(dims):
    """The JSON dim of a product, with the integer factors folded."""
    const, terms = 1, []
    for d in dims:
        if isinstance(d, int):
            const *= d
        else:
            terms.append(d)
    if const == 0 or not terms:
        return const
    out = None if const == 1 else const
    for t in terms:
        out = t if out is None else ["*", out, t]
    return out


def c_identifier(name: str, taken: set) -> str:
    """A C identifier for `name`, unique in `taken` (which it is added to)."""
    s = re.sub(r"[^0-9A-Za-z_]", "_", name.rsplit(":", 1)[0] if name.endswith(":0") else name)
    if not s or s[0].isdigit():
        s = "n" + s
    if s in C_KEYWORDS:
        s += "_"
    base, k = s, 2
    while s in taken:
        s = f"{base}_{k}"
        k += 1
    taken.add(s)
    return s


def _args(specs, taken):
    return [CArg(a.name, c_identifier(a.name, taken), a.dtype, list(a.shape), a.loc,
                 dict(a.reasons)) for a in specs]


def abi_model(program, lowered, name: str, lifetimes: dict) -> AbiModel:
    """`lifetimes`: buffer index -> (first call, last call) (compiler/backends/layout.py)."""
    from ...ir.signature import program_signature
    sig = program_signature(program)
    taken = {"inst"} | set(sig.symbols)
    inputs, outputs = _args(sig.inputs, taken), _args(sig.outputs, taken)
    var_taken = {"variable", "run_counter"}
    variables = [CArg(v, c_identifier(v, var_taken), t.dtype.np.name, list(t.shape))
                 for v, t in program.variables().items()]
    symbols = [(s, *(program.symbol_origins.get(s) or ("?", -1))) for s in sig.symbols]
    buffers = [(b.dtype.np.name, b.dtype.np.itemsize, [D.to_json(d) for d in b.shape], b.desc)
               for b in lowered.buffers]
    model = AbiModel(name, inputs, outputs, variables, symbols, list(sig.checks),
                     list(sig.bounds), buffers, [], [], [], [], dict(lowered.errors))
    _place(model, lowered, lifetimes)
    return model


def _place(model, lowered, lifetimes):
    index = {b.name: i for i, b in enumerate(lowered.buffers)}
    var_index = {v.name: j for j, v in enumerate(model.variables)}
    homes = [None] * len(lowered.buffers)
    consts = 0
    for i, b in enumerate(lowered.buffers):
        if b.kind == "input":
            homes[i] = ("input", b.source)
        elif b.kind == "variable":
            homes[i] = ("variable", var_index[b.source])
        elif b.kind == "const":
            homes[i], consts = ("const", consts), consts + 1
    for var, bname in lowered.updates.items():
        i, v = index[bname], var_index[var]
        if homes[i] == ("variable", v):
            continue  # updated in place by its assign kernel: nothing to copy or swap
        model.updated.append(v)
        if homes[i] is None:
            homes[i] = ("next", v)
        if homes[i] != ("next", v):
            model.update_copies.append((v, i))
    for k, bname in enumerate(lowered.outputs):
        i = index[bname]
        if homes[i] is None:
            homes[i] = ("output", k)
        if homes[i] != ("output", k):
            model.output_copies.append((k, i))
    internal = [i for i, h in enumerate(homes) if h is None]
    model.slots = _slots(internal, lifetimes)
    for s, members in enumerate(model.slots):
        for i in members:
            homes[i] = ("arena", s)
    model.homes = homes


def _slots(buffers, lifetimes) -> list:
    """Greedy interval colouring: a buffer joins the first slot whose members all ended
    before it starts."""
    slots, ends = [], []
    for i in sorted(buffers, key=lambda j: (lifetimes.get(j, (0, 0))[0], j)):
        first, last = lifetimes.get(i, (0, 1 << 30))
        for s, end in enumerate(ends):
            if end < first:
                slots[s].append(i)
                ends[s] = last
                break
        else:
            slots.append([i])
            ends.append(last)
    return slots
