"""The tiled shared-memory form of matmul kernels (the `tiled` mapping).

It applies to kernels of kind matmul from the CUDA matmul nest
(compiler/backends/cuda/nests.py): a parallel nest over (batch..., i, j) whose body is
`Accumulator(acc, add, 0); for k: (lets); Accumulate(acc, add, a * b)`, then the epilogue
and the store. When `a` depends on (batch, i, k) but not j and `b` on
(batch, k, j) but not i (always, for nests built from matmul operands), a block of
`THREADS` threads computes a `TILE` x `TILE` tile of the output, each thread `R` x `R`
elements (rows ty + 16 r, columns tx + 16 c): per step of `KT` along k, the block
stages the A tile (TILE x KT) and the B tile (KT x TILE) in shared memory, each thread
evaluating the operand statements of the kernel IR for the elements it loads (zero
outside the matrix), then accumulates from shared memory in k order (the same summation
order as the plain nest; FMA for floats). The epilogue runs per output element with the
accumulator, exactly as in the plain nest. Tensor cores are not used: float32 would need
TF32 (off unless asked, DESIGN.md) and flowc has no option to ask for it yet.
"""

from __future__ import annotations

from ...ir import dtypes as T
from ...lower import kir as K

TILE, KT, R = 64, 16, 4
THREADS = (TILE // R) * (TILE // R)   # 256


def _vars_of(e) -> set:
    out = set()
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, K.Var):
            out.add(x.name)
        for name in ("x", "a", "b", "cond", "index"):
            v = getattr(x, name, None)
            if v is not None and not isinstance(v, (int, str)):
                stack.append(v)
    return out


def _needed(value, lets: dict) -> list:
    """The lets (in order) that `value` needs, transitively."""
    need, stack = set(), list(_vars_of(value))
    while stack:
        v = stack.pop()
        if v in lets and v not in need:
            need.add(v)
            stack += list(_vars_of(lets[v].value))
    return [s for s in lets.values() if s.var in need]


def _deps(value, lets) -> set:
    names = _vars_of(value)
    for s in _needed(value, lets):
        names |= _vars_of(s.value)
    return names


def plan_tiled(kernel, chain):
    """The tiling plan of a matmul kernel whose flattened parallel nest is `chain`, or
    None when its body is not the plain dot-product form."""
    if len(chain) < 2:
        return None
    body = chain[-1].body
    if len(body) < 3 or not isinstance(body[0], K.Accumulator) or body[0].op != "add" or \
            not isinstance(body[1], K.Loop):
        return None
    acc, kloop = body[0], body[1]
    *lets, last = kloop.body
    if not all(isinstance(s, K.Let) for s in lets) or not isinstance(last, K.Accumulate) or \
            last.var != acc.var:
        return None
    v = last.value
    if not (isinstance(v, K.Binary) and v.op == "mul"):
        return None
    let_map = {s.var: s for s in lets}
    ivar, jvar = chain[-2].var, chain[-1].var
    a, b = v.a, v.b
    if jvar in _deps(a, let_map) or ivar in _deps(b, let_map) or acc.var in \
            _deps(a, let_map) | _deps(b, let_map):
        return None
    return {"acc": acc, "k": kloop, "a": a, "b": b, "a_lets": _needed(a, let_map),
            "b_lets": _needed(b, let_map), "epilogue": body[2:]}


def tiles_extent(chain, tile=None):
    """Number of output tiles (batch x tiles of rows x tiles of columns), an index expr."""
    tile = tile or TILE
    ext = K.IConst(1)
    for lp in chain[:-2]:
        ext = K.imul(ext, lp.extent)
    for lp in chain[-2:]:
        ext = K.imul(ext, K.idiv(K.iadd(lp.extent, tile - 1), tile))
    return ext


def emit_tiled(pr, chain, plan):
    """Print the tiled kernel body with KernelPrinter `pr`."""
    acc = plan["acc"]
    dt = acc.dtype
    ty = pr.ops.reg_type(dt)
    ivar, jvar, kvar = chain[-2].var, chain[-1].var, plan["k"].var
    batch = chain[:-2]
    ext = {lp.var: pr.expr(lp.extent) for lp in chain}
    pr.emit(f"__shared__ {ty} fc_As[{TILE}][{KT + 1}];")
    pr.emit(f"__shared__ {ty} fc_Bs[{KT}][{TILE}];")
    pr.emit(f"const long long fc_M = {ext[ivar]}, fc_N = {ext[jvar]}, "
            f"fc_K = {pr.expr(plan['k'].extent)};")
    pr.emit(f"const long long fc_tm = (fc_M + {TILE - 1}) / {TILE}, "
            f"fc_tn = (fc_N + {TILE - 1}) / {TILE};")
    nbatch = " * ".join(f"(long long)({ext[lp.var]})" for lp in batch) or "1"
    pr.emit(f"const long long fc_tiles = {nbatch} * fc_tm * fc_tn;")
    pr.emit(f"const int fc_ty = threadIdx.x / {TILE // R}, fc_tx = threadIdx.x % {TILE // R};")

    def tile():
        rest = "(fc_t / (fc_tm * fc_tn))"
        for k, lp in enumerate(batch):
            inner = " * ".join(f"(long long)({ext[x.var]})" for x in batch[k + 1:]) or "1"
            pr.emit(f"const long long {lp.var} = ({rest} / ({inner})) % ({ext[lp.var]});")
        pr.emit("const long long fc_i0 = ((fc_t / fc_tn) % fc_tm) * "
                f"{TILE}, fc_j0 = (fc_t % fc_tn) * {TILE};")
        pr.emit(f"{ty} fc_acc[{R}][{R}];")
        pr.emit(f"for (int r = 0; r < {R}; ++r) for (int c = 0; c < {R}; ++c) "
                f"fc_acc[r][c] = {pr.ops.const(0, dt)};")
        pr.block("for (long long fc_k0 = 0; fc_k0 < fc_K; fc_k0 += " + str(KT) + ")",
                 lambda: _k_step(pr, plan, ty, dt, ivar, jvar, kvar))
        pr.block(f"for (int r = 0; r < {R}; ++r) for (int c = 0; c < {R}; ++c)",
                 lambda: _epilogue(pr, plan, ty, ivar, jvar))
    pr.block("for (long long fc_t = blockIdx.x; fc_t < fc_tiles; fc_t += gridDim.x)", tile)


def _load_tile(pr, lets, value, ty, dt, cond, target, defs, per=TILE * KT // THREADS,
               convert=""):
    def inner():
        for d in defs:
            pr.emit(d)
        pr.emit(f"{ty} fc_v = {pr.ops.const(0, dt)};")

        def guarded():
            pr.stmts(lets)
            pr.emit(f"fc_v = {pr.expr(value)};")
        pr.block(f"if ({cond})", guarded)
        pr.emit(f"{target} = {convert}(fc_v);" if convert else f"{target} = fc_v;")
    pr.block(f"for (int fc_q = 0; fc_q < {per}; ++fc_q)", inner)


def _k_step(pr, plan, ty, dt, ivar, jvar, kvar):
    _load_tile(pr, plan["a_lets"], plan["a"], ty, dt, f"{ivar} < fc_M && {kvar} < fc_K",
               "fc_As[fc_e / " + str(KT) + "][fc_e % " + str(KT) + "]",
               [f"const int fc_e = threadIdx.x + {THREADS} * fc_q;",
                f"const long long {ivar} = fc_i0 + fc_e / {KT};",
                f"const long long {kvar} = fc_k0 + fc_e % {KT};"])
    _load_tile(pr, plan["b_lets"], plan["b"], ty, dt, f"{kvar} < fc_K && {jvar} < fc_N",
               "fc_Bs[fc_e / " + str(TILE) + "][fc_e % " + str(TILE) + "]",
               [f"const int fc_e = threadIdx.x + {THREADS} * fc_q;",
                f"const long long {kvar} = fc_k0 + fc_e / {TILE};",
                f"const long long {jvar} = fc_j0 + fc_e % {TILE};"])
    pr.emit("__syncthreads();")
    step = "fc_acc[r][c] = " + (pr.ops.fma("fc_a[r]", "fc_b[c]", "fc_acc[r][c]", dt)
                                if dt.is_float else "fc_acc[r][c] + fc_a[r] * fc_b[c]") + ";"

    def per_k():
        pr.emit(f"{ty} fc_a[{R}], fc_b[{R}];")
        pr.emit(f"for (int r = 0; r < {R}; ++r) fc_a[r] = fc_As[fc_ty + {TILE // R} * r][kk];")
        pr.emit(f"for (int c = 0; c < {R}; ++c) fc_b[c] = fc_Bs[kk][fc_tx + {TILE // R} * c];")
        pr.emit(f"for (int r = 0; r < {R}; ++r) for (int c = 0; c < {R}; ++c) {step}")
    pr.emit("#pragma unroll")
    pr.block(f"for (int kk = 0; kk < {KT}; ++kk)", per_k)
    pr.emit("__syncthreads();")


def _epilogue(pr, plan, ty, ivar, jvar):
    pr.emit(f"const long long {ivar} = fc_i0 + fc_ty + {TILE // R} * r;")
    pr.emit(f"const long long {jvar} = fc_j0 + fc_tx + {TILE // R} * c;")
    pr.emit(f"{ty} {plan['acc'].var} = fc_acc[r][c];")
    pr.block(f"if ({ivar} < fc_M && {jvar} < fc_N)", lambda: pr.stmts(plan["epilogue"]))


# ---- tensor cores: float16 operands -----------------------------------------------------
#: the `mma` form: 4 warps compute a MMA_TILE x MMA_TILE output tile, each warp 16 x 16 as
#: two m16n8k16 tensor-core steps per 16 along k
MMA_TILE, MMA_THREADS = 32, 128


def _is_half_value(e, lets) -> bool:
    """Whether `e` is a float16 value widened to float32 (so it converts back exactly)."""
    while isinstance(e, K.Var) and e.name in lets:
        e = lets[e.name].value
    return isinstance(e, K.Cast) and e.dtype is T.float32 and e.x.dtype is T.float16


def uses_tensor_cores(plan) -> bool:
    """float16 operands accumulated in float32: the tensor cores' m16n8k16 form, exact in
    its products (float16 x float16 fits float32), reassociated in its sums (allowed for
    matmul by the numerics contract)."""
    lets = {s.var: s for s in plan["a_lets"] + plan["b_lets"]}
    return plan["acc"].dtype is T.float32 and _is_half_value(plan["a"], lets) and \
        _is_half_value(plan["b"], lets)


def emit_mma(pr, chain, plan):
    ivar, jvar, kvar = chain[-2].var, chain[-1].var, plan["k"].var
    batch = chain[:-2]
    ext = {lp.var: pr.expr(lp.extent) for lp in chain}
    T_ = MMA_TILE
    pr.emit(f"__shared__ fc_half fc_Ah[{T_}][{KT + 8}];")
    pr.emit(f"__shared__ fc_half fc_Bh[{KT}][{T_ + 8}];")
    pr.emit(f"const long long fc_M = {ext[ivar]}, fc_N = {ext[jvar]}, "
            f"fc_K = {pr.expr(plan['k'].extent)};")
    pr.emit(f"const long long fc_tm = (fc_M + {T_ - 1}) / {T_}, "
            f"fc_tn = (fc_N + {T_ - 1}) / {T_};")
    nbatch = " * ".join(f"(long long)({ext[lp.var]})" for lp in batch) or "1"
    pr.emit(f"const long long fc_tiles = {nbatch} * fc_tm * fc_tn;")
    pr.emit("const int fc_warp = threadIdx.x >> 5, fc_g = (threadIdx.x & 31) >> 2, "
            "fc_t4 = threadIdx.x & 3;")
    pr.emit("const int fc_wm = (fc_warp >> 1) * 16, fc_wn = (fc_warp & 1) * 16;")

    def tile():
        rest = "(fc_t / (fc_tm * fc_tn))"
        for k, lp in enumerate(batch):
            inner = " * ".join(f"(long long)({ext[x.var]})" for x in batch[k + 1:]) or "1"
            pr.emit(f"const long long {lp.var} = ({rest} / ({inner})) % ({ext[lp.var]});")
        pr.emit(f"const long long fc_i0 = ((fc_t / fc_tn) % fc_tm) * {T_}, "
                f"fc_j0 = (fc_t % fc_tn) * {T_};")
        pr.emit("float fc_d[2][4] = {{0.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};")
        pr.block(f"for (long long fc_k0 = 0; fc_k0 < fc_K; fc_k0 += {KT})",
                 lambda: _mma_k_step(pr, plan, ivar, jvar, kvar))
        pr.emit("#pragma unroll")
        pr.block("for (int fc_h = 0; fc_h < 2; ++fc_h) for (int fc_c = 0; fc_c < 4; ++fc_c)",
                 lambda: _mma_epilogue(pr, plan, ivar, jvar))
    pr.block("for (long long fc_t = blockIdx.x; fc_t < fc_tiles; fc_t += gridDim.x)", tile)


def _mma_k_step(pr, plan, ivar, jvar, kvar):
    T_ = MMA_TILE
    per = T_ * KT // MMA_THREADS
    _load_tile(pr, plan["a_lets"], plan["a"], "float", T.float32,
               f"{ivar} < fc_M && {kvar} < fc_K", f"fc_Ah[fc_e / {KT}][fc_e % {KT}]",
               [f"const int fc_e = threadIdx.x + {MMA_THREADS} * fc_q;",
                f"const long long {ivar} = fc_i0 + fc_e / {KT};",
                f"const long long {kvar} = fc_k0 + fc_e % {KT};"], per, "fc_f2h")
    _load_tile(pr, plan["b_lets"], plan["b"], "float", T.float32,
               f"{kvar} < fc_K && {jvar} < fc_N", f"fc_Bh[fc_e / {T_}][fc_e % {T_}]",
               [f"const int fc_e = threadIdx.x + {MMA_THREADS} * fc_q;",
                f"const long long {kvar} = fc_k0 + fc_e / {T_};",
                f"const long long {jvar} = fc_j0 + fc_e % {T_};"], per, "fc_f2h")
    pr.emit("__syncthreads();")
    pr.emit("/* fragments (PTX ISA, mma.m16n8k16): A[g or g+8][2t(+1) or 2t+8(+1)], "
            "B[2t(+1) or 2t+8(+1)][g] */")
    pr.emit("unsigned int fc_a[4], fc_b[2];")
    for r, (dr, dk) in enumerate(((0, 0), (8, 0), (0, 8), (8, 8))):
        row = f"fc_Ah[fc_wm + fc_g + {dr}]"
        pr.emit(f"fc_a[{r}] = fc_pack_h2({row}[2 * fc_t4 + {dk}], {row}[2 * fc_t4 + {dk + 1}]);")

    def per_half():
        pr.emit("const int fc_n = fc_wn + 8 * fc_h + fc_g;")
        for r, dk in enumerate((0, 8)):
            pr.emit(f"fc_b[{r}] = fc_pack_h2(fc_Bh[2 * fc_t4 + {dk}][fc_n], "
                    f"fc_Bh[2 * fc_t4 + {dk + 1}][fc_n]);")
        pr.emit("fc_mma_16816(fc_d[fc_h], fc_a, fc_b);")
    pr.emit("#pragma unroll")
    pr.block("for (int fc_h = 0; fc_h < 2; ++fc_h)", per_half)
    pr.emit("__syncthreads();")


def _mma_epilogue(pr, plan, ivar, jvar):
    pr.emit(f"const long long {ivar} = fc_i0 + fc_wm + fc_g + (fc_c >= 2 ? 8 : 0);")
    pr.emit(f"const long long {jvar} = fc_j0 + fc_wn + 8 * fc_h + 2 * fc_t4 + (fc_c & 1);")
    pr.emit(f"float {plan['acc'].var} = fc_d[fc_h][fc_c];")
    pr.block(f"if ({ivar} < fc_M && {jvar} < fc_N)", lambda: pr.stmts(plan["epilogue"]))
