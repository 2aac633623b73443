"""CUDA emitter: renders a `LoweredProgram` (kernel IR) as one CUDA C module.

Each kernel becomes an `extern "C" __global__` function taking its buffers (typed,
`__restrict__`, `const` when read-only), its symbols (`long long`), the run counter (when
it draws random numbers) and an `int*` error slot (when it can fail). How the kernel IR's
loops map onto the grid is decided per kernel (`plan_mapping`):

    grid    the parallel loop, flattened with the perfect nest of loops under it, is a
            grid-stride loop: one thread per iteration, inner loops sequential; pointwise
            bodies take the vector and scalar paths of compiler/backends/cuda/pointwise.py
    rows    one block per iteration of the parallel loop (block-stride over them); each
            top-level loop of the iteration's body is block-strided (rowloops.py:
            unrolled) and every accumulator it updates (`Accumulate` into an
            `Accumulator`) is combined block-wide, so all threads continue with the
            row's value (reductions, softmax rows); not for the column form's kernels
            (note `COLUMNS`, reduce_nests.py): those are `grid`
    tiled   kernels of kind matmul in the dot-product form: blocks of 256 threads compute
            128 x 128 output tiles through shared memory (compiler/backends/cuda/matmul.py)
    mma     float16 operands: tensor-core m16n8k16 steps, 128 x 128 tiles (matmul_mma.py)
    block   no parallel loop, loops that qualify as above: one block; serial: one thread

Kernel IR decides every index and value; this module only chooses which thread runs
which iteration. Scalar ops come from `scalar_ops`, the skeleton from `kernel.cu.j2`. A
`Fail` records its code in the error slot (atomicCAS: the first wins) and returns.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import reduce

import jinja2

from ...ir import dtypes as T
from ...lower import kir as K
from . import scalar_ops as S
from .matmul import THREADS as TILED_THREADS
from .matmul import emit_tiled, plan_tiled, tile_of, tiles_extent
from .matmul_mma import THREADS as MMA_THREADS
from .matmul_mma import TILE_M as MMA_TILE
from .matmul_mma import emit_mma, uses_tensor_cores
from .pointwise import emit_pointwise
from .reduce_nests import COLUMNS
from .rowloops import emit_strided

#: threads per block of grid-mapped kernels
GRID_BLOCK = 256
#: threads of a block-mapped kernel without a parallel loop (one block)
BLOCK_THREADS = 512

_TEMPLATE = None


def template():
    global _TEMPLATE
    if _TEMPLATE is None:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(os.path.dirname(os.path.abspath(__file__))),
            undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
            trim_blocks=True, lstrip_blocks=True, autoescape=False)
        _TEMPLATE = env.get_template("kernel.cu.j2")
    return _TEMPLATE


# ---- launch description (plain data; the runtime evaluates it) ------------------------
def index_json(e):
    """An index expression (IConst, SymRef, int64 Binary) as JSON for the runtime:
    ints, symbol names (`s0`...) and [op, a, b] with op in add/sub/mul/idiv/imod/imin/
    imax."""
    if isinstance(e, K.IConst):
        return int(e.value)
    if isinstance(e, K.SymRef):
        return e.name
    if isinstance(e, K.Binary) and e.op in ("add", "sub", "mul", "idiv", "imod", "imin",
                                             "imax"):
        return [e.op, index_json(e.a), index_json(e.b)]
    raise ValueError(f"not a launch-time index expression: {K.format_expr(e)}")


@dataclass
class KernelLaunch:
    """How the runtime launches one kernel: `mapping`, the extent of its (flattened)
    parallel loop and its total work (JSON index expressions), the argument layout."""
    name: str
    mapping: str
    extent: object = None
    work: object = None
    threads: int = GRID_BLOCK
    n_params: int = 0
    n_symbols: int = 0
    uses_counter: bool = False
    can_fail: bool = False
    ilp: int = 1        # grid mapping: elements per thread and trip of the grid stride

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass
class CudaModule:
    name: str
    source: str
    launches: dict                     # kernel name -> KernelLaunch
    spans: list = field(default_factory=list)  # (first line, last line, kernel, nodes)

    def kernel_at(self, line):
        for first, last, name, nodes in self.spans:
            if first <= line <= last:
                return name, nodes
        return None, ()


# ---- mapping --------------------------------------------------------------------------
def _walk(stmts):
    for s in stmts:
        yield s
        for child in (getattr(s, "body", ()), getattr(s, "then", ()), getattr(s, "else_", ())):
            yield from _walk(child)


def _exprs_of(stmt):
    for name in ("extent", "index", "value", "cond"):
        v = getattr(stmt, name, None)
        if v is not None:
            yield v


def _subexprs(e):
    yield e
    for name in ("x", "a", "b", "cond", "index"):
        v = getattr(e, name, None)
        if v is not None and not isinstance(v, (int, str)):
            yield from _subexprs(v)


def _uses_var(e, var) -> bool:
    return any(isinstance(x, K.Var) and x.name == var for x in _subexprs(e))


def _has_var(e) -> bool:
    return any(isinstance(x, K.Var) for x in _subexprs(e))


def _flat_nest(loop):
    """The perfect nest of loops from `loop` down whose extents do not depend on outer
    loop variables: [loop, child, ...]."""
    chain = [loop]
    while len(chain[-1].body) == 1 and isinstance(chain[-1].body[0], K.Loop) and \
            not _has_var(chain[-1].body[0].extent):
        chain.append(chain[-1].body[0])
    return chain


def _strided_ok(loop, decls):
    """Whether the iterations of `loop` may be split over a block's threads: every Store
    indexes with the loop variable, a buffer both loaded and stored is loaded only where
    it is stored, and variables from outside the loop (`decls`: var -> its declaring
    statement) are only accumulated: `Accumulate` into an `Accumulator`, which starts at
    its op's identity, so per-thread partial values combine (returned as {var: op}).
    None when the loop does not qualify."""
    inner = {s.var for s in _walk(loop.body) if isinstance(s, (K.Let, K.Accumulator, K.Loop))}
    stores, accs = {}, {}
    for s in _walk(loop.body):
        if isinstance(s, (K.Fail, K.AtomicAdd)):
            return None
        if isinstance(s, K.Store):
            if not _uses_var(s.index, loop.var):
                return None
            stores.setdefault(s.buf, set()).add(s.index)
        if isinstance(s, (K.Set, K.Accumulate)) and s.var not in inner:
            decl = decls.get(s.var)
            if not isinstance(s, K.Accumulate) or not isinstance(decl, K.Accumulator) or \
                    decl.op != s.op:
                return None
            accs[s.var] = s.op
    for s in _walk(loop.body):
        # (an Accumulate's own read of its variable is the thread's partial value)
        for e in _exprs_of(s):
            for x in _subexprs(e):
                if isinstance(x, K.Load) and x.buf in stores and x.index not in stores[x.buf]:
                    return None
                if isinstance(x, K.Var) and x.name in accs:  # a partial value is no value
                    return None
    return accs


def _row_plan(body):
    """For a row body (the statements of one parallel iteration, or a whole kernel):
    {id(loop): (accumulators, strided loop)} for its top-level loops, or None when the
    body cannot be split over a block. Top-level statements other than loops must be
    free of loops and stores other than plain ones (every thread runs them alike)."""
    decls, plan = {}, {}
    for s in body:
        if isinstance(s, (K.Let, K.Accumulator)):
            decls[s.var] = s
        elif isinstance(s, K.Loop):
            accs = _strided_ok(s, decls)
            if accs is not None:
                plan[id(s)] = (accs, s)
                continue
            if len(s.body) == 1 and isinstance(s.body[0], K.Loop) and \
                    not _has_var(s.body[0].extent):
                accs = _strided_ok(s.body[0], decls)
                if accs is not None and not accs:
                    plan[id(s)] = ({}, s.body[0])
                    continue
            return None
        elif isinstance(s, K.If):
            if any(isinstance(x, (K.Loop, K.Store, K.Fail)) for x in _walk((s,))):
                return None
        elif isinstance(s, K.Fail):
            return None
    return plan if plan else None


def plan_mapping(kernel: K.Kernel):
    """(mapping, plan): how `kernel` runs on the grid (see the module docstring)."""
    body = kernel.body
    parallel = len(body) == 1 and isinstance(body[0], K.Loop) and body[0].parallel
    if parallel:
        chain = _flat_nest(body[0])
        inner = chain[-1].body
        reduces = any(isinstance(s, K.Loop) for s in inner)
        if kernel.kind == "matmul":
            plan = plan_tiled(kernel, chain)
            if plan is not None:
                return ("mma" if uses_tensor_cores(plan) else "tiled"), plan
            # other matmuls: one thread per output element (many outputs, a short dot
            # product)
            return "grid", None
        if reduces and not kernel.can_fail and kernel.note != COLUMNS:
            plan = _row_plan(inner)
            if plan is not None and any(accs for accs, _ in plan.values()):
                return "rows", plan
        return "grid", None
    if not kernel.can_fail:
        plan = _row_plan(body)
        if plan is not None:
            return "block", plan
    return "serial", None


# ---- printing -------------------------------------------------------------------------
class KernelPrinter:
    """Prints one kernel's body as C statements."""

    def __init__(self, kernel: K.Kernel, ops=S.OPS):
        self.kernel, self.ops = kernel, ops
        self.lines: list = []
        self.depth = 1
        self.mem = {p.name: p.dtype for p in kernel.params}
        self.accumulators = {s.var: s for s in _walk(kernel.body)
                             if isinstance(s, K.Accumulator)}
        self.rename: dict = {}  # accumulator -> the partial copy a statement updates
        self.flat = None  # pointwise.py's hook: registers for flat loads and stores

    def emit(self, line):
        self.lines.append("  " * self.depth + line)

    def block(self, head, body_fn, tail="}"):
        self.emit(head + " {")
        self.depth += 1
        body_fn()
        self.depth -= 1
        self.emit(tail)

    # ---- expressions ------------------------------------------------------------------
    def expr(self, e) -> str:
        return getattr(self, "e_" + type(e).__name__)(e)

    def e_IConst(self, e):
        return self.ops.const(e.value, e.dtype)

    def e_FConst(self, e):
        return self.ops.const(e.value, e.dtype)

    def e_Var(self, e):
        return self.rename.get(e.name, e.name)

    def e_SymRef(self, e):
        return e.name

    def e_Load(self, e):
        ref = (self.flat and self.flat.load(e)) or f"{e.buf}[{self.expr(e.index)}]"
        return f"({ref} != 0)" if self.mem[e.buf] is T.bool_ else ref

    def e_Unary(self, e):
        return self.ops.unary(e.op, self.expr(e.x), e.x.dtype)

    def e_Binary(self, e):
        if e.fast and e.op == "add" and e.dtype.is_float:
            for acc, prod in ((e.a, e.b), (e.b, e.a)):
                if isinstance(prod, K.Binary) and prod.op == "mul" and prod.fast:
                    return self.ops.fma(self.expr(prod.a), self.expr(prod.b), self.expr(acc),
                                        e.dtype)
        return self.ops.binary(e.op, self.expr(e.a), self.expr(e.b), e.a.dtype)

    def e_Select(self, e):
        return f"({self.expr(e.cond)} ? {self.expr(e.a)} : {self.expr(e.b)})"

    def e_Cast(self, e):
        return self.ops.cast(self.expr(e.x), e.x.dtype, e.dtype)

    def e_Random(self, e):
        fn = f"fc_random_{e.kind}_{'f64' if e.dtype is T.float64 else 'f32'}"
        return f"{fn}({self.expr(e.index)}, counter, {e.op_seed & 0xFFFFFFFF}u, " \
               f"{e.seed & 0xFFFFFFFF}u)"

    # ---- statements -------------------------------------------------------------------
    def stmts(self, stmts):
        for s in stmts:
            getattr(self, "s_" + type(s).__name__)(s)

    def s_Loop(self, s, body=None):
        self.block(f"for (long long {s.var} = 0; {s.var} < {self.expr(s.extent)}; "
                   f"++{s.var})", body or (lambda: self.stmts(s.body)))

    def s_Store(self, s):
        value = self.expr(s.value)
        if self.mem[s.buf] is T.bool_:
            value = f"(unsigned char)({value})"
        ref = (self.flat and self.flat.store(s)) or f"{s.buf}[{self.expr(s.index)}]"
        self.emit(f"{ref} = {value};")

    def s_AtomicAdd(self, s):
        self.emit(self.ops.atomic_add(f"{s.buf}[{self.expr(s.index)}]", self.expr(s.value),
                                      self.mem[s.buf]))

    def s_Let(self, s):
        self.emit(f"{self.ops.reg_type(s.value.dtype)} {s.var} = {self.expr(s.value)};")

    def s_Set(self, s):
        self.emit(f"{s.var} = {self.expr(s.value)};")

    def s_Accumulator(self, s):
        self.emit(f"{self.ops.reg_type(s.dtype)} {s.var} = {self.expr(s.identity)};")

    def s_Accumulate(self, s):
        dt = self.accumulators[s.var].dtype
        self.emit(f"{self.rename.get(s.var, s.var)} = {self.expr(s.update(dt))};")

    def s_If(self, s):
        self.block(f"if ({self.expr(s.cond)})", lambda: self.stmts(s.then),
                   "} else {" if s.else_ else "}")
        if s.else_:
            self.depth += 1
            self.stmts(s.else_)
            self.depth -= 1
            self.emit("}")

    def s_Fail(self, s):
        self.emit(f"atomicCAS(err, 0, {s.code});  /* the first error code wins */")
        self.emit("return;")

    # ---- mappings ---------------------------------------------------------------------
    def flat_loop(self, chain, first, step, inner):
        """`for (fc_i = first; fc_i < product of extents; fc_i += step)` with the loop
        variables of `chain` recovered from fc_i, then `inner` statements."""
        extents = [self.expr(lp.extent) for lp in chain]
        total = " * ".join(f"(long long)({x})" for x in extents) if len(chain) > 1 \
            else extents[0]
        self.emit(f"const long long fc_n = {total};")
        self.block(f"for (long long fc_i = {first}; fc_i < fc_n; fc_i += {step})",
                   lambda: (self.loop_vars(chain, extents), inner()))

    def loop_vars(self, chain, extents):
        """The loop variables of `chain` (printed `extents`) recovered from fc_i."""
        rest = "fc_i"
        for k, lp in enumerate(chain):
            if k == len(chain) - 1:
                self.emit(f"const long long {lp.var} = {rest};")
            else:
                tail = " * ".join(f"(long long)({x})" for x in extents[k + 1:])
                self.emit(f"const long long {lp.var} = {rest} / ({tail});")
                rest = f"({rest} % ({tail}))"

    def grid(self):
        """The grid-stride loop (pointwise bodies: pointwise.py); returns `ilp`."""
        chain = _flat_nest(self.kernel.body[0])
        if not any(isinstance(s, (K.Loop, K.Fail)) for s in _walk(chain[-1].body)):
            return emit_pointwise(self, chain)  # bandwidth-bound
        self.flat_loop(chain, "blockIdx.x * (long long)blockDim.x + threadIdx.x",
                       "(long long)gridDim.x * blockDim.x", lambda: self.stmts(chain[-1].body))
        return 1

    def rows(self, plan):
        chain = _flat_nest(self.kernel.body[0])
        self.flat_loop(chain, "blockIdx.x", "gridDim.x",
                       lambda: self.row_body(chain[-1].body, plan))

    def row_body(self, body, plan):
        for s in body:
            entry = plan.get(id(s)) if isinstance(s, K.Loop) else None
            if entry is None:
                self.stmts((s,))
                continue
            accs, strided = entry
            if strided is s:
                emit_strided(self, s, accs)
            else:  # a sequential loop around a strided one (column reductions)
                self.s_Loop(s, lambda st=strided, a=accs: emit_strided(self, st, a))
            self.emit("__syncthreads();  /* the next pass may read what this one stored */")

    def serial(self):
        self.emit("if (blockIdx.x != 0 || threadIdx.x != 0) return;  /* one thread */")
        self.stmts(self.kernel.body)


#: __launch_bounds__ per mapping (default: its threads); mma: 1 block per SM suffices (up
#: to 255 registers; ptxas aims at 2 blocks and spills otherwise)
_BOUNDS = {"mma": f"{MMA_THREADS}, 1", "serial": 0}


def kernel_params(kernel: K.Kernel, ops=S.OPS) -> list:
    out = []
    for p in kernel.params:
        const = "" if p.writes else "const "
        out.append(f"{const}{ops.mem_type(p.dtype)}* __restrict__ {p.name}")
    out += [f"long long {s}" for s in kernel.symbols]
    if kernel.uses_counter:
        out.append("long long counter")
    if kernel.can_fail:
        out.append("int* __restrict__ err")
    return out


def render_kernel(kernel: K.Kernel, ops=S.OPS):
    """(template fields, KernelLaunch) of one kernel."""
    mapping, plan = plan_mapping(kernel)
    pr = KernelPrinter(kernel, ops)
    ilp = pr.grid() if mapping == "grid" else 1
    if mapping == "rows":
        pr.rows(plan)
    elif mapping == "tiled":
        emit_tiled(pr, _flat_nest(kernel.body[0]), plan)
    elif mapping == "mma":
        emit_mma(pr, _flat_nest(kernel.body[0]), plan)
    elif mapping == "block":
        pr.row_body(kernel.body, plan)
    elif mapping == "serial":
        pr.serial()
    extent = work = None
    if mapping in ("grid", "rows", "tiled", "mma"):
        chain = _flat_nest(kernel.body[0])
        ext = tiles_extent(chain, MMA_TILE if mapping == "mma" else tile_of(plan)) \
            if mapping in ("tiled", "mma") else reduce(K.imul, [lp.extent for lp in chain])
        extent = index_json(ext)
        work = index_json(kernel.work) if kernel.work is not None else None
    threads = {"grid": GRID_BLOCK, "rows": GRID_BLOCK, "block": BLOCK_THREADS,
               "tiled": TILED_THREADS, "mma": MMA_THREADS, "serial": 1}[mapping]
    launch = KernelLaunch(kernel.name, mapping, extent, work, threads, len(kernel.params),
                          len(kernel.symbols), kernel.uses_counter, kernel.can_fail, ilp)
    fields = {"name": kernel.name, "params": kernel_params(kernel, ops), "body": pr.lines,
              "mapping": mapping, "nodes": list(kernel.nodes),
              "bounds": _BOUNDS.get(mapping, threads)}
    return fields, launch


def emit_module(lowered: K.LoweredProgram, name="flowc", ops=S.OPS) -> CudaModule:
    from .prelude import PRELUDE
    rendered, launches = [], {}
    for k in lowered.kernels:
        fields, launch = render_kernel(k, ops)
        rendered.append(fields)
        launches[k.name] = launch
    source = template().render(name=name, helpers=ops.helpers(), prelude=PRELUDE,
                               kernels=rendered)
    return CudaModule(name, source, launches, _spans(source, rendered))


def _spans(source, rendered):
    """(first line, last line, kernel name, nodes) of each kernel in `source` (1-based)."""
    lines = source.splitlines()
    starts = []
    for k in rendered:
        marker = f" {k['name']}("
        for i, line in enumerate(lines):
            if line.startswith('extern "C" __global__') and marker in line:
                starts.append((i + 1, k["name"], k["nodes"]))
                break
    spans = []
    for j, (first, kname, nodes) in enumerate(starts):
        last = starts[j + 1][0] - 1 if j + 1 < len(starts) else len(lines)
        spans.append((first - 2, last, kname, nodes))  # the comment lines above belong too
    return spans
