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
from ..ops.reduce import identity_of, normalize_axes
from . import kir as K


def compute_dtype(dtype):
    return T.float32 if dtype is T.float16 else dtype


class _Builder:
    """Builds one kernel for `root`."""

    def __init__(self, low: "_Lowering", root, name):
        self.low, self.root, self.name = low, root, name
        self.params: dict = {}
        self.symbols: list = []
        self.uses_counter = False
        self.can_fail = False
        self.work = None
        self._n = 0

    # ---- names, dims, buffers ------------------------------------------------------
    def fresh(self, prefix):
        self._n += 1
        return f"{prefix}{self._n}"

    def dim(self, d):
        if isinstance(d, int):
            return K.IConst(d)
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
            return K.SymRef(a.name)
        return K.idiv(self.dim(a.num), K.IConst(a.den))

    def use(self, buf: K.Buffer, writes=False):
        p = self.params.get(buf.name)
        if p is None or (writes and not p.writes):
            self.params[buf.name] = K.Param(buf.name, buf.dtype, writes or bool(p and p.writes))
        return buf.name

    def linear(self, idx, shape):
        lin = K.IConst(0)
        for i, d in zip(idx, shape):
            lin = K.iadd(K.imul(lin, self.dim(d)), i)
        return lin

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

    def parallel_loops(self, shape, body, inner_work=1):
        self.work = self.dim(D.mul(D.product(shape), inner_work))
        return self.loops(shape, body, parallel=bool(shape))

    # ---- values ----------------------------------------------------------------------
    def expr(self, node, idx, stmts):
        """Compute-dtype value of `node` at `idx`; may append statements to `stmts`."""
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
        if node.op == "select":
            return K.Select(args[0], args[1], args[2], dt)
        if len(args) == 1:
            return K.Unary(node.op, args[0], dt)
        return K.Binary(node.op, args[0], args[1], dt)


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
    lin = b.linear(idx, node.shape)
    src, stride = [], K.IConst(1)
    for k in reversed(range(len(x.shape))):
        v = K.idiv(lin, stride) if k != len(x.shape) - 1 else lin
        src.append(K.imod(v, b.dim(x.shape[k])) if k else v)
        stride = K.imul(stride, b.dim(x.shape[k]))
    return b.expr(x, list(reversed(src)), stmts)


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
    value = K.FConst(node.attr["value"], compute_dtype(node.dtype))
    if cond is None:
        return b.expr(x, sub, stmts)
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


_EXPR_RULES = {
    "transpose": _transpose, "broadcast": _broadcast, "reshape": _reshape, "slice": _slice,
    "concat": _concat, "pad": _pad, "gather": _gather, "iota": _iota,
    "random_uniform": _random, "random_normal": _random, "assign": _assign,
    "assign_add": _assign_add,
}


# ---- kernel roots ---------------------------------------------------------------------------
def _pointwise_root(b, node, out):
    def body(idx):
        stmts = []
        value = b.expr(node, idx, stmts)
        stmts.append(b.store(out, idx, node.shape, value))
        return stmts
    return b.parallel_loops(node.shape, body)


def _reduce_root(b, node, out):
    x = node.inputs[0]
    axes = normalize_axes(node.attr["axes"], len(x.shape))
    keep = node.attr["keepdims"]
    dt = compute_dtype(node.dtype)
    combine = {"reduce_sum": "add", "reduce_prod": "mul", "reduce_max": "maximum",
               "reduce_min": "minimum"}[node.op]
    init = K.FConst(identity_of(node.op, dt.np).item(), dt)

    def body(oidx):
        acc = b.fresh("acc")
        it = iter(oidx)
        full = [None] * len(x.shape)
        for k in range(len(x.shape)):
            o = next(it) if keep or k not in axes else None
            if k not in axes:
                full[k] = o

        def inner(ridx):
            sub = list(full)
            for k, r in zip(axes, ridx):
                sub[k] = r
            stmts = []
            v = b.expr(x, sub, stmts)
            stmts.append(K.Set(acc, K.Binary(combine, K.Var(acc, dt), v, dt)))
            return stmts
        rshape = [x.shape[k] for k in axes]
        return [K.Let(acc, init), *b.loops(rshape, inner, "r"),
                b.store(out, oidx, node.shape, K.Var(acc, dt))]
    return b.parallel_loops(node.shape, body, D.product(x.shape[k] for k in axes))


def _arg_root(b, node, out):
    x = node.inputs[0]
    axis = node.attr["axis"] % len(x.shape)
    xt = compute_dtype(x.dtype)
    better = "greater" if node.op == "argmax" else "less"
    start = identity_of("reduce_max" if node.op == "argmax" else "reduce_min", xt.np).item()

    def body(oidx):
        best, bi = b.fresh("best"), b.fresh("bi")

        def inner(ridx):
            sub = list(oidx[:axis]) + [ridx[0]] + list(oidx[axis:])
            stmts = []
            v = b.expr(x, sub, stmts)
            cond = K.Binary(better, v, K.Var(best, xt), T.bool_)
            if xt.is_float:
                v_nan = K.Binary("not_equal", v, v, T.bool_)
                best_ok = K.Binary("equal", K.Var(best, xt), K.Var(best, xt), T.bool_)
                cond = K.Binary("logical_or", cond,
                                K.Binary("logical_and", v_nan, best_ok, T.bool_), T.bool_)
            stmts.append(K.If(cond, (K.Set(best, v), K.Set(bi, ridx[0]))))
            return stmts
        return [K.Let(best, K.FConst(start, xt)), K.Let(bi, K.IConst(0)),
                *b.loops([x.shape[axis]], inner, "r"),
                b.store(out, oidx, node.shape, K.Cast(K.Var(bi), node.dtype))]
    return b.parallel_loops(node.shape, body, x.shape[axis])


def _matmul_root(b, node, out):
    A, B = node.inputs
    ta, tb = node.attr["transpose_a"], node.attr["transpose_b"]
    nb = len(node.shape) - 2
    kdim = A.shape[-2] if ta else A.shape[-1]
    dt = compute_dtype(node.dtype)

    def operand(x, bidx, r, c, stmts, trans):
        sub = b.bcast_idx(bidx, x.shape[:-2], node.shape[:-2]) + ([c, r] if trans else [r, c])
        return b.expr(x, sub, stmts)

    def per_row(bidx, i):
        def zero(jj):
            return [b.store(out, bidx + [i, jj[0]], node.shape, K.FConst(0, dt))]

        def per_k(kk):
            stmts = []
            a = b.fresh("a")
            stmts.append(K.Let(a, operand(A, bidx, i, kk[0], stmts, ta)))

            def per_j(jj):
                st = []
                bv = operand(B, bidx, kk[0], jj[0], st, tb)
                o_idx = b.linear(bidx + [i, jj[0]], node.shape)
                acc = K.Binary("add", K.Load(b.use(out), o_idx, out.dtype),
                               K.Binary("mul", K.Var(a, dt), bv, dt), dt)
                st.append(K.Store(b.use(out, True), o_idx, acc))
                return st
            return stmts + list(b.loops([node.shape[-1]], per_j, "j"))
        return [*b.loops([node.shape[-1]], zero, "j"), *b.loops([kdim], per_k, "k")]

    def per_row_acc(bidx, i):
        def per_j(jj):
            acc = b.fresh("acc")

            def per_k(kk):
                st = []
                av = operand(A, bidx, i, kk[0], st, ta)
                bv = operand(B, bidx, kk[0], jj[0], st, tb)
                st.append(K.Set(acc, K.Binary("add", K.Var(acc, dt),
                                              K.Binary("mul", av, bv, dt), dt)))
                return st
            return [K.Let(acc, K.FConst(0, dt)), *b.loops([kdim], per_k, "k"),
                    b.store(out, bidx + [i, jj[0]], node.shape, K.Var(acc, dt))]
        return list(b.loops([node.shape[-1]], per_j, "j"))

    row = per_row_acc if node.dtype is T.float16 else per_row

    def body(idx):
        return row(list(idx[:nb]), idx[nb])
    return b.parallel_loops(node.shape[:-1], body, D.mul(node.shape[-1], kdim))


def _scatter_root(b, node, out):
    upd, indices = node.inputs
    axis, ri = node.attr["axis"], len(indices.shape)
    dt = compute_dtype(node.dtype)
    zero = b.loops(node.shape, lambda idx: [b.store(out, idx, node.shape, K.FConst(0, dt))])

    def body(u):
        stmts = []
        t = _checked_index(b, node, indices, u[axis:axis + ri], node.shape[axis], stmts,
                           "scatter_add")
        o_idx = list(u[:axis]) + [t] + list(u[axis + ri:])
        cur = _self_load(b, out, o_idx, node.shape)
        stmts.append(b.store(out, o_idx, node.shape,
                             K.Binary("add", cur, b.expr(upd, u, stmts), dt)))
        return stmts
    return zero + b.loops(upd.shape, body)


def _self_load(b, out, idx, shape):
    val = K.Load(b.use(out), b.linear(idx, shape), out.dtype)
    return K.Cast(val, T.float32) if out.dtype is T.float16 else val


def _shape_root(b, node, out):
    x = node.inputs[0]
    return tuple(K.Store(b.use(out, True), K.IConst(k), K.Cast(b.dim(d), node.dtype))
                 for k, d in enumerate(x.shape))


_ROOT_RULES = {
    "reduce_sum": _reduce_root, "reduce_prod": _reduce_root, "reduce_max": _reduce_root,
    "reduce_min": _reduce_root, "argmax": _arg_root, "argmin": _arg_root,
    "matmul": _matmul_root, "scatter_add": _scatter_root, "shape": _shape_root,
}

#: ops lowered by a root rule; every other op is lowered pointwise through `expr`
ROOT_RULES = frozenset(_ROOT_RULES)
EXPR_RULES = frozenset(_EXPR_RULES)


# ---- the program ------------------------------------------------------------------------------
class _Lowering:
    def __init__(self, program, plan):
        self.program, self.plan = program, plan
        self.buffer_of: dict = {}
        self.buffers: list = []
        self.errors: dict = {}
        self._consts = 0

    def error_code(self, message) -> int:
        code = len(self.errors) + 1
        self.errors[code] = message
        return code

    def add_buffer(self, node, kind, source=None):
        name = f"b{len(self.buffers)}"
        buf = K.Buffer(name, node.dtype, tuple(node.shape), kind, source, node.describe())
        self.buffers.append(buf)
        self.buffer_of[id(node)] = buf
        return buf

    def run(self) -> K.LoweredProgram:
        prog = self.program
        input_index = {id(n): i for i, n in enumerate(prog.inputs)}
        for node in self.plan.buffers:
            if node.op == "placeholder":
                self.add_buffer(node, "input", input_index[id(node)])
            elif node.op == "variable":
                self.add_buffer(node, "variable", node.attr["var"])
            else:
                self.add_buffer(node, "const", node.attr["value"].array)
        for node in prog.inputs:
            if id(node) not in self.buffer_of:
                self.add_buffer(node, "input", input_index[id(node)])
        kernels, calls = [], []
        for node in self.plan.roots:
            out = self.add_buffer(node, "temp")
            b = _Builder(self, node, f"k{len(kernels)}_{node.op}")
            rule = _ROOT_RULES.get(node.op, _pointwise_root)
            body = tuple(rule(b, node, out))
            params = tuple(b.params.values())
            kernels.append(K.Kernel(b.name, params, tuple(b.symbols), b.uses_counter, body,
                                    (node.describe(),), b.can_fail, b.work))
            calls.append((b.name, [p.name for p in params]))
        return K.LoweredProgram(
            buffers=self.buffers, kernels=kernels, calls=calls,
            outputs=[self.buffer_of[id(n)].name for n in prog.outputs],
            updates={v: self.buffer_of[id(n)].name for v, n in prog.effects.items()},
            errors=self.errors, symbols=[s.name for s in prog.symbols])


def lower_program(program, plan) -> K.LoweredProgram:
    return _Lowering(program, plan).run()
