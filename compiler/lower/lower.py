"""Lowering: compiler-IR program + kernel plan -> kernel IR (`LoweredProgram`).

Each kernel root becomes loops over its output; its value is built by `_Builder.expr`,
which computes a node at a multi-index: elementwise ops combine their inputs' values
(broadcast by index mapping), movement ops transform the index (transpose permutes,
broadcast drops, reshape re-linearizes, slice scales and offsets, concat and pad choose
a branch, gather loads an index and checks it), and a materialized node is a load from
its buffer. Reductions, argmax/argmin, matmul, scatter_add and shape have their own
loop nests. float16 is loaded as float32 and rounded back to float16 after every op,
exactly as the reference computes it. Lowering never re-derives the plan.
"""

from __future__ import annotations

from ..ir import dims as D
from ..ir import dtypes as T
from ..ops import get, names
from ..ops.reduce import identity_of
from . import kir as K


def compute_dtype(dtype):
    return T.float32 if dtype is T.float16 else dtype


class _Builder:
    """Builds one kernel for `root`."""

    def __init__(self, low, root, name):
        self.low, self.root, self.name = low, root, name
        self.params: dict = {}       # buffer name -> Param (named after the buffer)
        self.param_names: dict = {}  # buffer name -> the kernel's name of it (p0, p1, ...)
        self.symbols: list = []
        self.uses_counter = False
        self.can_fail = False
        self.work = None
        self.row_values: dict = {}   # id(reduction) -> its per-row accumulator (row kernels)
        self.row_cache: dict = {}    # id(node) -> buffer holding its value at the same index
        self.matmul_value = None     # (matmul node, out buffer) in a matmul epilogue
        self.before: list = []       # (builder, body, kind): kernels that must run first
        self.note = ""               # the nest chosen (Kernel.note)
        self.wide_vectors = False    # Kernel.wide_vectors
        self._memo: dict = {}
        self._scopes: list = []
        self._n = 0

    # ---- names, dims, buffers ------------------------------------------------------
    def fresh(self, prefix):
        self._n += 1
        return f"{prefix}{self._n}"

    def local(self, value, into, prefix):
        """`value` bound to a fresh local (a `Let` appended to `into`), as a `Var`."""
        name = self.fresh(prefix)
        into.append(K.Let(name, value))
        return K.Var(name, value.dtype)

    def epilogue_value(self, node, value, epilogue, idx, stmts):
        """What a contraction nest stores for element `idx` of `node` (matmul, conv) whose
        accumulated value is `value`: rounded through float16 when the node's value is a
        float16 tensor, then `epilogue(value)` when the group has an epilogue root (which
        reads the node's value as `value`)."""
        if node.dtype is T.float16:
            value = K.Cast(K.Cast(value, T.float16), T.float32)
        if epilogue is not None:
            self.row_values[id(node)] = value
            value = self.expr(epilogue, idx, stmts)
        return value

    def dim(self, d):
        """A dim (int or DimExpr) as an index expression; index expressions pass through."""
        if isinstance(d, int):
            return K.IConst(d)
        if not isinstance(d, D.DimExpr):
            return d
        out = None
        for m, c in sorted(d.terms.items(), key=lambda mc: str(mc[0])):
            term = K.IConst(c)
            for a in m:
                term = K.imul(term, self._atom(a))
            out = term if out is None else K.iadd(out, term)
        return out if out is not None else K.IConst(0)

    def _atom(self, a):
        if isinstance(a, D.Sym):
            if a.name not in self.symbols:
                self.symbols.append(a.name)
            return K.SymRef(f"s{self.symbols.index(a.name)}")
        if isinstance(a, D.FloorDiv):
            return K.idiv(self.dim(a.num), K.IConst(a.den))
        return (K.imax if a.op == "max" else K.imin)(self.dim(a.a), self.dim(a.b))

    def use(self, buf: K.Buffer, writes=False) -> str:
        """The kernel's name of buffer `buf` (a parameter; `writes`: the kernel stores to
        it). Kernels name their parameters and symbols by position (`p0, p1, ...` in the
        order of first use, `s0, s1, ...`), so that kernels computing alike on other
        buffers are equal as built (compiler/lower/program.py shares them)."""
        p = self.params.get(buf.name)
        if p is None or (writes and not p.writes):
            self.params[buf.name] = K.Param(buf.name, buf.dtype, writes or bool(p and p.writes))
            if p is None:
                self.param_names[buf.name] = f"p{len(self.param_names)}"
        return self.param_names[buf.name]

    def linear(self, idx, shape):
        lin = K.IConst(0)
        for i, d in zip(idx, shape):
            lin = K.iadd(K.imul(lin, self.dim(d)), i)
        return lin

    def delinearize(self, lin, shape):
        """The index over `shape` of the row-major offset `lin` (linear's inverse)."""
        src, stride = [], K.IConst(1)
        for k in reversed(range(len(shape))):
            v = K.idiv(lin, stride) if k != len(shape) - 1 else lin
            src.append(K.imod(v, self.dim(shape[k])) if k else v)
            stride = K.imul(stride, self.dim(shape[k]))
        return list(reversed(src))

    def load(self, node, idx):
        buf = self.low.buffer_of[id(node)]
        val = K.Load(self.use(buf), self.linear(idx, node.shape), buf.dtype)
        return K.Cast(val, T.float32) if buf.dtype is T.float16 else val

    def store(self, buf, idx, shape, value):
        if buf.dtype is T.float16:
            value = K.Cast(value, T.float16)
        return K.Store(self.use(buf, writes=True), self.linear(idx, shape), value)

    def loops(self, shape, body, prefix="i", parallel=False):
        """Nested loops over `shape`; body(index vars) -> statements. With `parallel`, the
        outermost loop may run its iterations on several threads (iterations must be
        independent), worth `work` scalar steps in all."""
        names = [self.fresh(prefix) for _ in shape]
        stmts = tuple(body([K.Var(n) for n in names]))
        for k, (name, d) in reversed(list(enumerate(zip(names, shape)))):
            stmts = (K.Loop(name, self.dim(d), stmts, parallel and k == 0),)
        return stmts

    def pack_kernel(self, node, key, dtype, shape, desc, fill, wide_vectors=False):
        """The temporary that a kernel run before this one (kind `pack`, for `node`) fills
        with `fill(pb, buf, idx)` -> statements of element `idx` of `shape`: a packed or
        copied operand of a matmul or conv nest. Made once per program for `key`
        (`low.packed`): later nests that ask with the same key read the same copy."""
        buf = self.low.packed.get(key)
        if buf is None:
            buf = self.low.packed[key] = self.low.add_temp(dtype, shape, desc)
            pb = type(self)(self.low, node, "")
            pb.wide_vectors = wide_vectors
            self.before.append((pb, pb.parallel_loops(list(shape),
                                                      lambda idx: fill(pb, buf, idx)),
                                "pack"))
        return buf

    def parallel_loops(self, shape, body, inner_work=1):
        self.work = self.dim(D.mul(D.product(shape), inner_work))
        return self.loops(shape, body, parallel=bool(shape))

    # ---- values ----------------------------------------------------------------------
    def expr(self, node, idx, stmts):
        """Compute-dtype value of `node` at `idx`; may append statements to `stmts`.
        Within one statement list, a node at the same index is computed once (a local
        holds it), so a DAG of fused ops never grows into an exponential tree."""
        key = (id(stmts), id(node), tuple(idx))
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        value = self._expr(node, idx, stmts)
        if isinstance(value, (K.Load, K.IConst, K.FConst, K.Var, K.SymRef)):
            return value
        name = self.fresh("t")
        stmts.append(K.Let(name, value))
        self._memo[key] = var = K.Var(name, value.dtype)
        self._scopes.append(stmts)  # keeps id(stmts) unique while the memo refers to it
        return var

    def _expr(self, node, idx, stmts):
        if id(node) in self.row_values:
            return self.row_values[id(node)]
        if id(node) in self.row_cache:
            buf = self.row_cache[id(node)]
            val = K.Load(self.use(buf), self.linear(idx, node.shape), buf.dtype)
            return K.Cast(val, T.float32) if buf.dtype is T.float16 else val
        if self.matmul_value is not None and node is self.matmul_value[0]:
            out = self.matmul_value[1]
            val = K.Load(self.use(out), self.linear(idx, node.shape), out.dtype)
            return K.Cast(val, T.float32) if out.dtype is T.float16 else val
        if node is not self.root and id(node) in self.low.buffer_of:
            return self.load(node, idx)
        if node.op == "constant":
            value = node.attr["value"].array.reshape(-1)[0].item()
            return K.FConst(value, compute_dtype(node.dtype))
        rule = _EXPR_RULES.get(node.op)
        if rule is not None:
            value = rule(self, node, idx, stmts)
        else:
            value = self.elementwise(node, idx, stmts)
        if node.dtype is T.float16:
            value = K.Cast(K.Cast(value, T.float16), T.float32)
        return value

    def bcast_idx(self, idx, in_shape, out_shape):
        r, R = len(in_shape), len(out_shape)
        return [K.IConst(0) if d == 1 else idx[R - r + k] for k, d in enumerate(in_shape)]

    def elementwise(self, node, idx, stmts):
        args = [self.expr(i, self.bcast_idx(idx, i.shape, node.shape), stmts)
                for i in node.inputs]
        dt = compute_dtype(node.dtype)
        if node.op == "stop_gradient":
            return args[0]
        if node.op == "cast":
            return K.Cast(args[0], dt)
        if node.op == "bitcast":
            return _bitcast(args[0], node.inputs[0].dtype, node.dtype)
        if node.op == "select":
            return K.Select(args[0], args[1], args[2], dt)
        if len(args) == 1:
            return K.Unary(node.op, args[0], dt)
        return K.Binary(node.op, args[0], args[1], dt)


def _bitcast(x, src, dst):
    """The bits of `x` (of `src`) as `dst`, of the same width (float16 and bool excluded
    by the op's type rule): between ints a same-width cast (two's complement keeps every
    bit); between a float and an int the kernel-IR `bitcast` Unary, whose rules read a
    float as the signed int of its width and an int as the float, with same-width casts
    for the unsigned ints."""
    if src.is_float == dst.is_float:
        return x if src is dst else K.Cast(x, dst)
    signed = T.as_dtype(f"int{8 * dst.itemsize}")
    if src.is_float:
        bits = K.Unary("bitcast", x, signed)
        return bits if dst is signed else K.Cast(bits, dst)
    if src.is_unsigned:
        x = K.Cast(x, signed)
    return K.Unary("bitcast", x, dst)


# ---- movement rules (index arithmetic) ----------------------------------------------------
def _transpose(b, node, idx, stmts):
    perm = node.attr["perm"]
    src = [None] * len(perm)
    for k, p in enumerate(perm):
        src[p] = idx[k]
    return b.expr(node.inputs[0], src, stmts)


def _broadcast(b, node, idx, stmts):
    x = node.inputs[0]
    return b.expr(x, b.bcast_idx(idx, x.shape, node.shape), stmts)


def _reshape(b, node, idx, stmts):
    x = node.inputs[0]
    if tuple(x.shape) == tuple(node.shape):
        return b.expr(x, idx, stmts)
    groups = _reshape_groups(tuple(x.shape), tuple(node.shape))
    if groups is not None:
        # axes merge or split in static groups (a window's K axes flattened, unit axes
        # added or dropped): each group re-linearizes on its own, by constants
        src = [K.IConst(0)] * len(x.shape)   # unit axes of x read index 0
        for s_axes, d_axes in groups:
            lin = b.linear([idx[j] for j in d_axes], [node.shape[j] for j in d_axes])
            for a, i in zip(s_axes, _delinearize(lin, [x.shape[a] for a in s_axes])):
                src[a] = i
        return b.expr(x, src, stmts)
    return b.expr(x, b.delinearize(b.linear(idx, node.shape), x.shape), stmts)


def _is_one(d) -> bool:
    return isinstance(d, int) and d == 1


def _delinearize(lin, extents):
    """The indices over `extents` (static after the first) of the row-major offset lin."""
    out, stride = [], 1
    for k in reversed(range(len(extents))):
        v = K.idiv(lin, K.IConst(stride)) if stride != 1 else lin
        out.append(K.imod(v, K.IConst(extents[k])) if k else v)
        stride *= extents[k] if k else 1
    return list(reversed(out))


def _reshape_groups(src, dst):
    """[(source axes, result axes)] when a reshape only merges or splits runs of
    adjacent axes whose extents are static (equal symbolic extents pair one to one), or
    adds / drops extents of 1; None otherwise (the general re-linearization). A leading
    extent of 1 (a row of `unstack`) keeps the general form, where the row's offset stays
    an addend of its own that calls of one shared kernel pass (tests/test_layers.py)."""
    if src and _is_one(src[0]):
        return None
    src_k = [i for i, d in enumerate(src) if not _is_one(d)]
    dst_k = [j for j, d in enumerate(dst) if not _is_one(d)]
    groups, i, j = [], 0, 0
    while i < len(src_k) and j < len(dst_k):
        si, dj = [src_k[i]], [dst_k[j]]
        ps, pd = src[src_k[i]], dst[dst_k[j]]
        i, j = i + 1, j + 1
        while ps != pd:
            if not (isinstance(ps, int) and isinstance(pd, int)) or ps == 0 or pd == 0:
                return None
            if ps < pd and i < len(src_k) and isinstance(src[src_k[i]], int):
                ps, i = ps * src[src_k[i]], i + 1
                si.append(src_k[i - 1])
            elif pd < ps and j < len(dst_k) and isinstance(dst[dst_k[j]], int):
                pd, j = pd * dst[dst_k[j]], j + 1
                dj.append(dst_k[j - 1])
            else:
                return None
        if len(si) > 1 and not all(isinstance(src[a], int) for a in si[1:]):
            return None
        groups.append((si, dj))
    if i < len(src_k) or j < len(dst_k):
        return None
    return groups


def _slice(b, node, idx, stmts):
    a = node.attr
    src = [K.iadd(b.dim(beg), K.imul(i, K.IConst(st)))
           for i, beg, st in zip(idx, a["begin"], a["stride"])]
    return b.expr(node.inputs[0], src, stmts)


def _branch(b, node, cases, default_fn, stmts):
    """Let v; if c0: v = e0 elif c1: v = e1 ... else default. cases: [(cond, fn(stmts))]."""
    dt = compute_dtype(node.dtype)
    v = b.fresh("v")
    stmts.append(K.Let(v, K.FConst(0, dt)))
    chain = ()
    if default_fn is not None:
        chain_stmts = []
        chain_stmts.append(K.Set(v, default_fn(chain_stmts)))
        chain = tuple(chain_stmts)
    for cond, fn in reversed(cases):
        inner = []
        inner.append(K.Set(v, fn(inner)))
        chain = (K.If(cond, tuple(inner), chain),) if cond is not None else tuple(inner)
    stmts.extend(chain)
    return K.Var(v, dt)


def _concat(b, node, idx, stmts):
    axis = node.attr["axis"]
    cases, offset = [], 0
    for k, x in enumerate(node.inputs):
        start = offset
        offset = D.add(offset, x.shape[axis])
        sub = list(idx)
        sub[axis] = K.Binary("sub", idx[axis], b.dim(start), T.int64)
        last = k == len(node.inputs) - 1
        cond = None if last else K.Binary("less", idx[axis], b.dim(offset), T.bool_)
        cases.append((cond, lambda st, x=x, sub=sub: b.expr(x, sub, st)))
    return _branch(b, node, cases, None, stmts)


def _pad(b, node, idx, stmts):
    x = node.inputs[0]
    conds, sub = [], []
    for i, (lo, _), d in zip(idx, node.attr["pads"], x.shape):
        j = K.Binary("sub", i, K.IConst(lo), T.int64) if lo else i
        sub.append(j)
        if lo:
            conds.append(K.Binary("greater_equal", i, K.IConst(lo), T.bool_))
        conds.append(K.Binary("less", j, b.dim(d), T.bool_))
    cond = None
    for c in conds:
        cond = c if cond is None else K.Binary("logical_and", cond, c, T.bool_)
    from ..ops.movement import pad_value
    value = K.FConst(pad_value(node.attr["value"], node.dtype.np).item(),
                     compute_dtype(node.dtype))
    if cond is None:
        return b.expr(x, sub, stmts)
    return _branch(b, node, [(cond, lambda st: b.expr(x, sub, st))], lambda st: value, stmts)


def _patches(b, node, idx, stmts):
    """patches at [n, *o, *k, c] is x at [n, o * stride + k * dilation - lo, c], or the
    pad value where that falls outside x; only the bounds that can fail are tested."""
    x, a = node.inputs[0], node.attr
    nsp = len(a["window"])
    o_idx, k_idx = idx[1:1 + nsp], idx[1 + nsp:1 + 2 * nsp]
    conds, sub = [], [idx[0]]
    for i in range(nsp):
        (lo, _), st, d = a["padding"][i], a["strides"][i], a["rhs_dilation"][i]
        k = a["window"][i]
        pos = K.iadd(K.imul(o_idx[i], K.IConst(st)), K.imul(k_idx[i], K.IConst(d)))
        j = K.Binary("sub", pos, K.IConst(lo), T.int64) if lo else pos
        sub.append(j)
        # the offsets this element may have: all of the window's, or the one it names
        ks = (k_idx[i].value,) * 2 if isinstance(k_idx[i], K.IConst) else (0, k - 1)
        if lo and ks[0] * d < lo:
            conds.append(K.Binary("greater_equal", pos, K.IConst(lo), T.bool_))
        if (node.shape[1 + i] - 1) * st + ks[1] * d - lo >= x.shape[1 + i]:
            conds.append(K.Binary("less", j, K.IConst(x.shape[1 + i]), T.bool_))
    sub.append(idx[-1])
    if not conds:
        return b.expr(x, sub, stmts)
    cond = conds[0]
    for c in conds[1:]:
        cond = K.Binary("logical_and", cond, c, T.bool_)
    from ..ops.movement import pad_value
    value = K.FConst(pad_value(a["value"], node.dtype.np).item(), compute_dtype(node.dtype))
    return _branch(b, node, [(cond, lambda st: b.expr(x, sub, st))], lambda st: value, stmts)


def _checked_index(b, node, indices, sub, extent, stmts, what):
    t = b.fresh("g")
    stmts.append(K.Let(t, K.Cast(b.expr(indices, sub, stmts), T.int64)))
    tv = K.Var(t)
    bad = K.Binary("logical_or", K.Binary("less", tv, K.IConst(0), T.bool_),
                   K.Binary("greater_equal", tv, b.dim(extent), T.bool_), T.bool_)
    code = b.low.error_code(f"{node.describe()}: {what} index out of range [0, "
                            f"{D.format_dim(extent)})")
    stmts.append(K.If(bad, (K.Fail(code),)))
    b.can_fail = True
    return tv


def _check(b, node, idx, stmts):
    """`check`: the condition, and the run's error code where it is false."""
    t = b.fresh("c")
    stmts.append(K.Let(t, b.expr(node.inputs[0], idx, stmts)))
    code = b.low.error_code(f"{node.describe()}: {node.attr['message']}")
    stmts.append(K.If(K.Unary("logical_not", K.Var(t, T.bool_), T.bool_), (K.Fail(code),)))
    b.can_fail = True
    return K.Var(t, T.bool_)


def _gather(b, node, idx, stmts):
    params, indices = node.inputs
    axis, ri = node.attr["axis"], len(indices.shape)
    t = _checked_index(b, node, indices, idx[axis:axis + ri], params.shape[axis], stmts,
                       "gather")
    return b.expr(params, list(idx[:axis]) + [t] + list(idx[axis + ri:]), stmts)


def _iota(b, node, idx, stmts):
    return K.Cast(idx[node.attr["axis"]], compute_dtype(node.dtype))


def _random(b, node, idx, stmts):
    b.uses_counter = True
    kind = "uniform" if node.op == "random_uniform" else "normal"
    a = node.attr
    return K.Random(kind, b.linear(idx, node.shape), compute_dtype(node.dtype), a["seed"],
                    a["op_seed"])


def _assign(b, node, idx, stmts):
    return b.expr(node.inputs[0], idx, stmts)


def _assign_add(b, node, idx, stmts):
    cur, delta = (b.expr(i, idx, stmts) for i in node.inputs)
    return K.Binary("add", cur, delta, compute_dtype(node.dtype))


def _shape_value(b, node, idx, stmts):
    value = K.IConst(0)
    for k, d in reversed(list(enumerate(node.inputs[0].shape))):
        value = K.Select(K.Binary("equal", idx[0], K.IConst(k), T.bool_), b.dim(d), value,
                         T.int64)
    return K.Cast(value, node.dtype)


#: the accumulation op of each reduction (the op table's `combine`)
COMBINE = {name: get(name).combine for name in names(lambda op: op.combine is not None)}


def accumulator(var, reduction, dt) -> K.Accumulator:
    """The declaration of local `var` accumulating reduction op `reduction` in `dt`."""
    return K.Accumulator(var, COMBINE[reduction],
                         K.FConst(identity_of(reduction, dt.np).item(), dt))


def input_index_of_output(rank, axes, keepdims, oidx):
    """The input index of a reduction's output index `oidx`, with None on reduced axes."""
    it = iter(oidx)
    full = [None] * rank
    for k in range(rank):
        o = next(it) if keepdims or k not in axes else None
        if k not in axes:
            full[k] = o
    return full


def _inline_reduce(b, node, idx, stmts):
    """A small reduction computed where it is used (e.g. the element count of a mean)."""
    from ..ops.reduce import normalize_axes
    x = node.inputs[0]
    axes = normalize_axes(node.attr["axes"], len(x.shape))
    dt = compute_dtype(node.dtype)
    full = input_index_of_output(len(x.shape), axes, node.attr["keepdims"], idx)
    acc = b.fresh("acc")
    stmts.append(accumulator(acc, node.op, dt))

    def inner(ridx):
        sub = list(full)
        for k, r in zip(axes, ridx):
            sub[k] = r
        st = []
        st.append(K.Accumulate(acc, COMBINE[node.op], b.expr(x, sub, st), fast=False))
        return st
    stmts.extend(b.loops([x.shape[k] for k in axes], inner, "r"))
    return K.Var(acc, dt)


_EXPR_RULES = {
    "shape": _shape_value, "reduce_sum": _inline_reduce, "reduce_prod": _inline_reduce,
    "reduce_max": _inline_reduce, "reduce_min": _inline_reduce,
    "transpose": _transpose, "broadcast": _broadcast, "reshape": _reshape, "slice": _slice,
    "concat": _concat, "pad": _pad, "patches": _patches, "gather": _gather, "check": _check,
    "iota": _iota,
    "random_uniform": _random, "random_normal": _random, "assign": _assign,
    "assign_add": _assign_add,
}

#: ops lowered by an index-arithmetic rule in `_Builder.expr`
EXPR_RULE_NAMES = frozenset(_EXPR_RULES)
