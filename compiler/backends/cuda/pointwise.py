"""The pointwise form of grid kernels: elementwise bodies at memory bandwidth.

A grid kernel whose body has no inner loop and nothing that can fail is bound by memory
traffic, so each thread must keep several loads in flight and move wide words. Here:

- **Flat accesses** (`plan_pointwise`): a Load or Store whose index *is* the flat index of
  the (flattened) parallel nest, i.e. `i_0 * e_1 * ... * e_m + ... + i_m` for loop vars
  `i_k` and extents `e_k` (ints or symbols). Both sides are expanded into polynomials
  over loop vars and symbols with integer coefficients (only add/sub/mul of ints, loop
  vars and symbols; anything else is not flat) and compared exactly.
- **Vector path**: when every Store is flat and unconditional, each thread handles
  groups of G consecutive flat elements, G = 16 bytes / the largest itemsize among the
  flat-accessed buffers: one `fc_vec<T, G>` load (128 bits for the widest type) per
  vector-loaded buffer, all of a trip's loads issued before any computing, the body per
  element (loop vars recovered from the flat index as in the generic form; other loads,
  such as a broadcast bias, stay scalar), then one vector store per stored buffer. Taken
  when every vector-accessed pointer is aligned to its vector's size (checked at run
  time); the last n % G elements run by a scalar tail.
  A misaligned pointer sends every element to that tail loop (one element per thread
  and trip: a rare case -- a slice at an odd offset -- kept out of the unrolled forms,
  whose copies of the body cost NVRTC time for every kernel).
- **Scalar path** (not every store flat: transposes, strided stores): trips of E
  iterations `fc_step` apart without per-element bounds checks, the flat loads of all E
  issued first, then one iteration at a time for the rest.

A thread covers E elements per trip: E = G on the vector path (one 16-byte access of the
widest buffer), E = ILP on the scalar path; the launch's `ilp` says so, so the runtime sizes
the grid as extent / (threads * E). Only loads evaluated on every iteration (not under
an `If`, a `Select` arm or the right side of `&&`/`||`) are hoisted or vector-loaded:
a load under a guard may be out of bounds where the guard is false (concat, pad).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...lower import kir as K
from .indexing import flat_poly, poly

#: bytes of one vector access (128-bit LDG/STG)
VECTOR_BYTES = 16
#: iterations of a pointwise grid-stride loop that one thread runs back to back on the
#: scalar path (their loads are in flight together: memory-level parallelism); the vector
#: path runs one group of G elements per trip
ILP = 4

# ---- flat indices ---------------------------------------------------------------------
# ---- the plan -------------------------------------------------------------------------
def _loads(e, sure, out):
    """Append (Load, sure) for every Load in `e`; `sure`: evaluated on every iteration."""
    if isinstance(e, K.Load):
        out.append((e, sure))
        _loads(e.index, sure, out)
    elif isinstance(e, K.Select):
        _loads(e.cond, sure, out)
        _loads(e.a, False, out)
        _loads(e.b, False, out)
    elif isinstance(e, K.Binary) and e.op in ("logical_and", "logical_or"):
        _loads(e.a, sure, out)
        _loads(e.b, False, out)
    else:
        for name in ("x", "a", "b", "index"):
            v = getattr(e, name, None)
            if v is not None and not isinstance(v, (int, str)):
                _loads(v, sure, out)


def _accesses(stmts, sure, out):
    """Append ("load"|"store", buf, index, sure) in statement order."""
    for s in stmts:
        if isinstance(s, K.If):
            found = []
            _loads(s.cond, sure, found)
            out += [("load", ld.buf, ld.index, ok) for ld, ok in found]
            _accesses(s.then, False, out)
            _accesses(s.else_, False, out)
            continue
        found = []
        for name in ("index", "value"):
            v = getattr(s, name, None)
            if v is not None:
                _loads(v, sure, found)
        out += [("load", ld.buf, ld.index, ok) for ld, ok in found]
        if isinstance(s, K.Store):
            out.append(("store", s.buf, s.index, sure))


@dataclass
class PointwisePlan:
    chain: list
    flat: object            # the flat index polynomial
    hoisted: list           # buffers whose flat loads are issued first (scalar path)
    stored: list            # buffers stored (flat stores index with fc_i directly)
    vec_loads: list         # buffers vector-loaded (vector path); [] without one
    vec_stores: list        # buffers vector-stored
    group: int              # G: elements per vector access
    per_trip: int           # E: elements per thread per trip

    @property
    def vector(self) -> bool:
        return bool(self.vec_stores)


def plan_pointwise(chain, mem, ilp):
    """The pointwise form of the nest `chain` (mem: buffer -> dtype; ilp: the scalar
    unroll wanted)."""
    flat = flat_poly(chain)
    names = {lp.var for lp in chain}
    acc = []
    _accesses(chain[-1].body, True, acc)

    def is_flat(index):
        return flat is not None and poly(index, names) == flat
    stored = {buf for kind, buf, _, _ in acc if kind == "store"}
    hoisted = []
    for kind, buf, index, sure in acc:
        if kind != "load" or buf in hoisted or not (sure and is_flat(index)):
            continue
        if buf in stored:  # hoisting must not move a load past a store of its buffer
            first_store = min(k for k, a in enumerate(acc) if a[0] == "store" and a[1] == buf)
            if any(a[0] == "load" and a[1] == buf and (k > first_store or not is_flat(a[2]))
                   for k, a in enumerate(acc)):
                continue
        hoisted.append(buf)
    stores = [(buf, index, sure) for kind, buf, index, sure in acc if kind == "store"]
    vec_stores = []
    if stores and all(sure and is_flat(index) for _, index, sure in stores):
        vec_stores = sorted({buf for buf, _, _ in stores})
        # a stored buffer that is loaded must be hoisted (its loads see the old values)
        if any(kind == "load" and buf in stored and buf not in hoisted
               for kind, buf, _, _ in acc):
            vec_stores = []
    vec_loads = list(hoisted) if vec_stores else []
    widest = max((mem[b].itemsize for b in vec_loads + vec_stores), default=1)
    group = VECTOR_BYTES // widest if vec_stores else 1
    # the vector path: one G-group per thread and trip (16 bytes of the widest buffer in
    # flight per thread, as 4 float32 are; more groups per trip would only add copies of
    # the body for NVRTC to compile); the scalar path: `ilp` iterations
    return PointwisePlan(chain, flat, hoisted, sorted(stored), vec_loads, vec_stores, group,
                         group if vec_stores else ilp)


# ---- printing -------------------------------------------------------------------------
class _Flat:
    """The KernelPrinter hook (`pr.flat`): flat loads of the listed buffers read
    `names[buf]` (a register or vector element), flat stores write `stores[buf]`."""

    def __init__(self, plan, names, stores=None):
        self.plan, self.names, self.stores = plan, names, stores or {}
        self.vars = {lp.var for lp in plan.chain}

    def _is_flat(self, index):
        return self.plan.flat is not None and poly(index, self.vars) == self.plan.flat

    def load(self, e):
        if e.buf in self.names and self._is_flat(e.index):
            return self.names[e.buf]
        return None

    def store(self, s):
        if s.buf in self.stores and self._is_flat(s.index):
            return self.stores[s.buf]
        return None


def emit_pointwise(pr, chain, ilp=ILP):
    """Print the pointwise grid-stride loop of `chain` with printer `pr` (at least `ilp`
    elements per thread and trip); returns the elements per thread and trip."""
    plan = plan_pointwise(chain, pr.mem, ilp)
    extents = [pr.expr(lp.extent) for lp in chain]
    total = " * ".join(f"(long long)({x})" for x in extents) if len(chain) > 1 \
        else extents[0]
    pr.emit(f"const long long fc_n = {total};")
    pr.emit("const long long fc_t = blockIdx.x * (long long)blockDim.x + threadIdx.x;")
    pr.emit("const long long fc_step = (long long)gridDim.x * blockDim.x;")
    if plan.vector:
        bufs = sorted(set(plan.vec_loads) | set(plan.vec_stores))
        checks = " | ".join(
            f"((unsigned long long){b} & {plan.group * pr.mem[b].itemsize - 1}ull)"
            for b in bufs)
        pr.emit("long long fc_done = 0;  /* elements the vector path ran */")
        pr.block(f"if (({checks}) == 0ull)", lambda: _vector_path(pr, plan, extents))
        pr.emit(f"/* the last fc_n % {plan.group} elements, or all when a pointer is "
                "misaligned */")
        pr.block("for (long long fc_j = fc_done + fc_t; fc_j < fc_n; fc_j += fc_step)",
                 lambda: _element(pr, plan, extents, "fc_j", None))
    else:
        _scalar_path(pr, plan, extents)
    return plan.per_trip


def _element(pr, plan, extents, flat_index, flat):
    """One iteration at flat index `flat_index`: loop vars, then the body with `flat`."""
    pr.emit("{")
    pr.depth += 1
    pr.emit(f"const long long fc_i = {flat_index};")
    pr.loop_vars(plan.chain, extents)
    pr.flat = flat
    pr.stmts(plan.chain[-1].body)
    pr.flat = None
    pr.depth -= 1
    pr.emit("}")


def _scalar_trip(pr, plan, extents, count, base):
    """`count` iterations base, base + fc_step, ...: their hoisted loads first."""
    for u in range(count):
        idx = base if u == 0 else f"{base} + {u} * fc_step"
        for b in plan.hoisted:
            pr.emit(f"const {pr.ops.mem_type(pr.mem[b])} fc_l{u}_{b} = {b}[{idx}];")
    for u in range(count):
        idx = base if u == 0 else f"{base} + {u} * fc_step"
        flat = _Flat(plan, {b: f"fc_l{u}_{b}" for b in plan.hoisted},
                     {b: f"{b}[fc_i]" for b in plan.stored})
        _element(pr, plan, extents, idx, flat)


def _scalar_path(pr, plan, extents):
    e = plan.per_trip
    pr.emit("long long fc_b = fc_t;")
    if e > 1:
        pr.block(f"for (; fc_b + {e - 1} * fc_step < fc_n; fc_b += {e} * fc_step)",
                 lambda: _scalar_trip(pr, plan, extents, e, "fc_b"))
    pr.block("for (; fc_b < fc_n; fc_b += fc_step)",
             lambda: _scalar_trip(pr, plan, extents, 1, "fc_b"))


def _vector_group(pr, plan, extents):
    """Group `fc_b` of G elements: its vector loads, the body per element, its vector
    stores."""
    g = plan.group

    def vt(b):
        return f"fc_vec<{pr.ops.mem_type(pr.mem[b])}, {g}>"
    for b in plan.vec_loads:
        pr.emit(f"const {vt(b)} fc_v_{b} = reinterpret_cast<const {vt(b)}*>({b})[fc_b];")
    for b in plan.vec_stores:
        pr.emit(f"{vt(b)} fc_o_{b};")
    flat = _Flat(plan, {b: f"fc_v_{b}.v[fc_e]" for b in plan.vec_loads},
                 {b: f"fc_o_{b}.v[fc_e]" for b in plan.vec_stores})
    pr.emit("#pragma unroll")
    pr.block(f"for (int fc_e = 0; fc_e < {g}; ++fc_e)",
             lambda: _element(pr, plan, extents, f"fc_b * {g} + fc_e", flat))
    for b in plan.vec_stores:
        pr.emit(f"reinterpret_cast<{vt(b)}*>({b})[fc_b] = fc_o_{b};")


def _vector_path(pr, plan, extents):
    g = plan.group
    pr.emit(f"const long long fc_groups = fc_n / {g};")
    pr.block("for (long long fc_b = fc_t; fc_b < fc_groups; fc_b += fc_step)",
             lambda: _vector_group(pr, plan, extents))
    pr.emit(f"fc_done = fc_groups * {g};")
