"""The loop-level kernel IR shared by the LLVM and CUDA backends.

A `Kernel` is a list of statements over buffers (typed, flat, row-major), loop
variables, scalar locals and symbol values:

    Loop(var, extent, body, parallel, vectorize)
                                        for var in [0, extent); vectorize=False: a
                                        backend must not vectorize across iterations
                                        (the body is already written lane by lane)
    Store(buf, index, value)            buf[index] = value
    AtomicAdd(buf, index, value)        buf[index] += value, where parallel iterations
                                        may add to the same element (atomic on a GPU:
                                        float sums reassociate, as reductions may)
    Let(var, value) / Set(var, value)   declare / update a scalar local
    Accumulator(var, op, identity)      declare a local that accumulates with the
                                        combine op `op` (add, mul, maximum, minimum),
                                        starting at `identity` (that op's identity)
    Accumulate(var, op, value, fast)    var = op(var, value) for an Accumulator `var`
                                        (`op` repeats its declaration's); fast: the
                                        accumulation may be reassociated (and an add of
                                        a fast mul fused), as in Binary
    If(cond, then, else_)
    Fail(code)                          record error `code` (first one wins), go on

Expressions are immutable and typed (`dtype` is a flowc DType; indices are int64):
IConst, FConst, Var, SymRef, Load, Unary, Binary, Select, Cast, Random. Unary/Binary op
names are the primitive names of the op table (`add`, `exp`, `less`, ...) plus the index
ops `idiv`/`imod` (operands known non-negative, no zero guard) and `imin`/`imax`.
Arithmetic never happens in float16: lowering loads float16 as float32.

A kernel carries its `kind`: the fusion group kind it was lowered from (loop, row,
reduce, matmul, conv, single; `pack` for a matmul or conv operand's packing kernel), so a
backend chooses its mapping from facts the plan knew rather than from names or statement
shapes; and its `note`: which nest lowering chose where a kind has several (conv).

`format_kernel` prints a kernel as readable pseudo-code (the kernel IR dump).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ir import dtypes as T
from ..ops import names

#: the index ops: integer Binary ops of index arithmetic only (not primitives)
INDEX_OPS = frozenset(["idiv", "imod", "imin", "imax"])
#: every op name the kernel IR uses in Unary/Binary: the op table's rows of that kernel-IR
#: form, plus the index ops. Each backend's scalar-op table has exactly these keys
#: (tests/test_scalar_op_tables.py)
UNARY_OPS = frozenset(names(kir="unary"))
BINARY_OPS = frozenset(names(kir="binary")) | INDEX_OPS


# ---- expressions ---------------------------------------------------------------------
@dataclass(frozen=True)
class IConst:
    value: int
    dtype: T.DType = T.int64


@dataclass(frozen=True)
class FConst:
    value: object  # Python float/int/bool
    dtype: T.DType

    def __eq__(self, other):
        """Structural equality: equal dtype, value type and value, a float by its bits
        (0.0 and -0.0 differ, a NaN equals itself), so equal kernels compute alike."""
        if type(other) is not FConst or other.dtype is not self.dtype:
            return False
        a, b = self.value, other.value
        if type(a) is not type(b):
            return False
        return a.hex() == b.hex() if type(a) is float else a == b

    def __hash__(self):
        v = self.value
        return hash((self.dtype, type(v), v.hex() if type(v) is float else v))


@dataclass(frozen=True)
class Var:
    name: str
    dtype: T.DType = T.int64


@dataclass(frozen=True)
class SymRef:
    name: str
    dtype: T.DType = T.int64


@dataclass(frozen=True)
class Load:
    buf: str
    index: object
    dtype: T.DType


@dataclass(frozen=True)
class Unary:
    op: str
    x: object
    dtype: T.DType


@dataclass(frozen=True)
class Binary:
    op: str
    a: object
    b: object
    dtype: T.DType
    fast: bool = False   # an accumulation in a reduction/matmul: may reassociate and fuse


@dataclass(frozen=True)
class Select:
    cond: object
    a: object
    b: object
    dtype: T.DType


@dataclass(frozen=True)
class Cast:
    x: object
    dtype: T.DType


@dataclass(frozen=True)
class Random:
    kind: str          # "uniform" | "normal"
    index: object      # element index (int64)
    dtype: T.DType     # float32 or float64 (float16 draws float32)
    seed: int          # graph seed
    op_seed: int


# ---- statements ------------------------------------------------------------------------
@dataclass(frozen=True)
class Loop:
    var: str
    extent: object
    body: tuple
    parallel: bool = False
    vectorize: bool = True


@dataclass(frozen=True)
class Store:
    buf: str
    index: object
    value: object


@dataclass(frozen=True)
class AtomicAdd:
    """buf[index] += value (the buffer's dtype, float16 excluded). Parallel iterations
    may add to the same element: a GPU adds atomically (in any order: float sums
    reassociate, as a reduction may, DESIGN.md "Numerics"); one thread running the loop
    (the CPU) reads, adds and stores."""
    buf: str
    index: object
    value: object


@dataclass(frozen=True)
class Let:
    var: str
    value: object


@dataclass(frozen=True)
class Set:
    var: str
    value: object


@dataclass(frozen=True)
class Accumulator:
    var: str
    op: str             # the combine op: add | mul | maximum | minimum
    identity: object    # FConst: the op's identity in the accumulator's dtype

    @property
    def dtype(self):
        return self.identity.dtype


@dataclass(frozen=True)
class Accumulate:
    var: str
    op: str             # the combine op of the Accumulator `var`
    value: object
    fast: bool = True   # may reassociate (partial sums, FMA), as `Binary.fast`

    def update(self, dtype) -> Binary:
        """The new value as an expression: op(var, value), `dtype` the accumulator's."""
        return Binary(self.op, Var(self.var, dtype), self.value, dtype, self.fast)


@dataclass(frozen=True)
class If:
    cond: object
    then: tuple
    else_: tuple = ()


@dataclass(frozen=True)
class Fail:
    code: int


@dataclass(frozen=True)
class Param:
    name: str
    dtype: T.DType      # storage dtype of the buffer
    writes: bool


@dataclass(frozen=True)
class Kernel:
    name: str
    params: tuple       # Param, in argument order
    symbols: tuple      # symbol names the kernel takes, in argument order
    uses_counter: bool
    body: tuple
    nodes: tuple = ()   # descriptions of the IR nodes this kernel computes
    can_fail: bool = False
    work: object = None  # scalar steps in all (an index expr), when body[0] is parallel
    kind: str = ""      # the fusion group kind: loop | row | reduce | matmul | conv | single
    #                     | pack (an operand's packing or padded copy)
    note: str = ""      # the nest lowering chose, when a kind has several (the dump shows it)
    #: the nest is written lane by lane in whole vectors of the target's widest width (a
    #: packed matmul's register tile and its packs): a backend should vectorize with its
    #: widest vectors, even where it would prefer narrower ones
    wide_vectors: bool = False


@dataclass
class Buffer:
    """A flat array the program uses. kind: input | variable | const | temp."""
    name: str
    dtype: T.DType
    shape: tuple        # dims (int | DimExpr)
    kind: str
    source: object = None   # input index, variable name, or Const array
    desc: str = ""          # the IR node it holds, for error messages


@dataclass(frozen=True)
class HostWhile:
    """A loop of the host schedule: run `cond` (host statements), read the bool scalar
    buffer `pred`; while it is true run `body` (whose last calls copy the new loop
    values into the carried buffers) and test again."""
    cond: tuple
    pred: str
    body: tuple


@dataclass(frozen=True)
class HostIf:
    """A branch of the host schedule: `then` when the bool scalar buffer `pred` is
    true, else `else_`."""
    pred: str
    then: tuple
    else_: tuple


@dataclass
class LoweredProgram:
    buffers: list                     # Buffer
    kernels: list                     # Kernel (unique by body)
    # the host schedule: calls (kernel name, [buffer names in param order], [symbols
    # and per-call offsets]) and structured HostWhile / HostIf statements around them
    calls: list
    outputs: list                     # buffer name per program output
    updates: dict                     # variable name -> buffer name of its new value
    errors: dict = field(default_factory=dict)   # code -> message
    symbols: list = field(default_factory=list)  # symbol names, argument order
    # per call of flat_calls(calls) (program order, bodies inline): its root's user op name
    call_nodes: list = field(default_factory=list)


# ---- helpers -------------------------------------------------------------------------------
def idx(v) -> object:
    return IConst(v) if isinstance(v, int) else v


def iadd(a, b):
    a, b = idx(a), idx(b)
    if isinstance(a, IConst) and a.value == 0:
        return b
    if isinstance(b, IConst) and b.value == 0:
        return a
    if isinstance(a, IConst) and isinstance(b, IConst):
        return IConst(a.value + b.value)
    return Binary("add", a, b, T.int64)


def imul(a, b):
    a, b = idx(a), idx(b)
    for x, y in ((a, b), (b, a)):
        if isinstance(x, IConst) and x.value == 1:
            return y
        if isinstance(x, IConst) and x.value == 0:
            return IConst(0)
    if isinstance(a, IConst) and isinstance(b, IConst):
        return IConst(a.value * b.value)
    return Binary("mul", a, b, T.int64)


def idiv(a, b):
    a, b = idx(a), idx(b)
    if isinstance(b, IConst) and b.value == 1:
        return a
    return Binary("idiv", a, b, T.int64)


def imax(a, b):
    a, b = idx(a), idx(b)
    if isinstance(a, IConst) and isinstance(b, IConst):
        return IConst(max(a.value, b.value))
    return Binary("imax", a, b, T.int64)


def imin(a, b):
    a, b = idx(a), idx(b)
    if isinstance(a, IConst) and isinstance(b, IConst):
        return IConst(min(a.value, b.value))
    return Binary("imin", a, b, T.int64)


def imod(a, b):
    a, b = idx(a), idx(b)
    if isinstance(b, IConst) and b.value == 1:
        return IConst(0)
    return Binary("imod", a, b, T.int64)


# ---- printing ------------------------------------------------------------------------------
def format_expr(e) -> str:
    if isinstance(e, IConst):
        return str(e.value)
    if isinstance(e, FConst):
        return f"{e.value!r}:{e.dtype.name}"
    if isinstance(e, (Var, SymRef)):
        return e.name
    if isinstance(e, Load):
        return f"{e.buf}[{format_expr(e.index)}]"
    if isinstance(e, Unary):
        return f"{e.op}({format_expr(e.x)})"
    if isinstance(e, Binary):
        sym = {"add": "+", "sub": "-", "mul": "*", "idiv": "/", "imod": "%"}.get(e.op)
        if sym and e.dtype is T.int64:
            return f"({format_expr(e.a)} {sym} {format_expr(e.b)})"
        return f"{e.op}({format_expr(e.a)}, {format_expr(e.b)})"
    if isinstance(e, Select):
        return f"select({format_expr(e.cond)}, {format_expr(e.a)}, {format_expr(e.b)})"
    if isinstance(e, Cast):
        return f"{e.dtype.name}({format_expr(e.x)})"
    if isinstance(e, Random):
        return f"random_{e.kind}.{e.dtype.name}(#{format_expr(e.index)}, seed={e.seed}/" \
               f"{e.op_seed})"
    raise TypeError(f"not a kernel expression: {e!r}")


def format_stmts(stmts, indent=1) -> list:
    pad = "  " * indent
    lines = []
    for s in stmts:
        if isinstance(s, Loop):
            par = (" parallel" if s.parallel else "") + ("" if s.vectorize else " scalar")
            lines.append(f"{pad}for {s.var} in 0..{format_expr(s.extent)}{par}:")
            lines += format_stmts(s.body, indent + 1)
        elif isinstance(s, Store):
            lines.append(f"{pad}{s.buf}[{format_expr(s.index)}] = {format_expr(s.value)}")
        elif isinstance(s, AtomicAdd):
            lines.append(f"{pad}{s.buf}[{format_expr(s.index)}] += {format_expr(s.value)}"
                         " atomic")
        elif isinstance(s, Let):
            lines.append(f"{pad}let {s.var}: {s.value.dtype.name} = {format_expr(s.value)}")
        elif isinstance(s, Set):
            lines.append(f"{pad}{s.var} = {format_expr(s.value)}")
        elif isinstance(s, Accumulator):
            lines.append(f"{pad}let {s.var}: {s.dtype.name} = {format_expr(s.identity)} "
                         f"accumulates {s.op}")
        elif isinstance(s, Accumulate):
            lines.append(f"{pad}{s.var} {s.op}= {format_expr(s.value)}"
                         + ("" if s.fast else " exact"))
        elif isinstance(s, If):
            lines.append(f"{pad}if {format_expr(s.cond)}:")
            lines += format_stmts(s.then, indent + 1)
            if s.else_:
                lines.append(f"{pad}else:")
                lines += format_stmts(s.else_, indent + 1)
        elif isinstance(s, Fail):
            lines.append(f"{pad}fail {s.code}")
        else:
            raise TypeError(f"not a kernel statement: {s!r}")
    return lines


def format_kernel(k: Kernel) -> str:
    params = ", ".join(f"{'out ' if p.writes else ''}{p.name}: {p.dtype.name}*"
                       for p in k.params)
    syms = ", ".join(k.symbols)
    head = f"kernel {k.name}({params}) symbols({syms})"
    if k.uses_counter:
        head += " counter"
    lines = [f"# computes: {', '.join(k.nodes)}"] if k.nodes else []
    if k.note:
        lines.append(f"# nest: {k.note}")
    lines.append(head + ":")
    return "\n".join(lines + format_stmts(k.body))


def format_call_constants(k: Kernel, calls) -> str:
    """The comment line naming the constants that the calls of a generic kernel pass
    (its symbols taking an int at every call, then each call's distinct values), or ""
    for a kernel whose calls pass none: `# calls pass (s0, s1): (784, 512), (512, 512)`."""
    mine = [c[2] for c in calls if c[0] == k.name]
    slots = [i for i in range(len(k.symbols)) if mine and all(
        isinstance(args[i], int) for args in mine)]
    if not slots:
        return ""
    values = list(dict.fromkeys(tuple(args[i] for i in slots) for args in mine))
    names = ", ".join(k.symbols[i] for i in slots)
    return f"# calls pass ({names}): " + ", ".join(
        "(" + ", ".join(str(v) for v in vals) + ")" for vals in values)


# ---- the host schedule -----------------------------------------------------------------------
def flat_calls(host) -> list:
    """Every call of a host schedule, in program order (loop and branch bodies inline)."""
    out = []
    for st in host:
        if isinstance(st, HostWhile):
            out += flat_calls(st.cond) + flat_calls(st.body)
        elif isinstance(st, HostIf):
            out += flat_calls(st.then) + flat_calls(st.else_)
        else:
            out.append(st)
    return out


def has_control(host) -> bool:
    return any(isinstance(st, (HostWhile, HostIf)) for st in host)


def format_host(host, indent="") -> list:
    """The host schedule as pseudo-code lines (the `kernels` dump shows it when the
    program has control flow)."""
    lines = []
    for st in host:
        if isinstance(st, HostWhile):
            lines.append(f"{indent}loop:")
            lines += format_host(st.cond, indent + "  ")
            lines.append(f"{indent}  while {st.pred}[0]:")
            lines += format_host(st.body, indent + "    ")
        elif isinstance(st, HostIf):
            lines.append(f"{indent}if {st.pred}[0]:")
            lines += format_host(st.then, indent + "  ")
            lines.append(f"{indent}else:")
            lines += format_host(st.else_, indent + "  ")
        else:
            kname, bufs, syms = st
            args = ", ".join(list(bufs) + [str(x) for x in syms])
            lines.append(f"{indent}{kname}({args})")
    return lines
