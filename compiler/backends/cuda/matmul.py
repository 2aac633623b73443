"""The tiled shared-memory form of matmul kernels (the `tiled` mapping), and what it
shares with the tensor-core form (compiler/backends/cuda/matmul_mma.py): the plan, the
loop over output tiles, operand staging through the kernel IR.

It applies to kernels of kind matmul from the CUDA matmul nest
(compiler/backends/cuda/nests.py): a parallel nest over (batch..., i, j) whose body is
`Accumulator(acc, add, 0); for k: (lets); Accumulate(acc, add, a * b)`, then the epilogue
and the store. When `a` depends on (batch, i, k) but not j and `b` on (batch, k, j) but
not i (always, for nests built from matmul operands), a block of `THREADS` (256) threads
computes a `TILE` x `TILE` (128 x 128) output tile, each thread `R` x `R` (8 x 8)
elements: rows 4 ty + {0..3} and 64 + 4 ty + {0..3}, columns likewise with tx (ty, tx in
0..15); 8-byte accumulators take 64 x 64 tiles, 4 x 4 per thread. Per step of `KT` (8)
along k the A tile (stored transposed, k-major: As[k][i]) and the B tile (Bs[k][j]) are
staged in shared memory, each thread evaluating the operand statements of the kernel IR
for the elements it stages (zero outside the matrix), so any fused operand expression
(transposes, broadcasts, casts) works; the elements are taken along the operand's
contiguous direction in memory where its affine index shows one (coalesced loads).
Pipelining: the shared tiles are double-buffered and the next k-step's operands are
evaluated into registers before the current step's FMAs (their global loads are in
flight meanwhile), then stored to the other buffer: one barrier per k-step. A thread
reads its 8 A and 8 B values per k with 16-byte shared loads (`LDS.128`; 2 + 2 for 4-byte
types: 64 FMA per 4 loads). Each output element is an FMA chain in k order (the plain
nest's order). The epilogue runs per output element with the accumulator, exactly as in
the plain nest. Tensor cores are not used for float32: that would need TF32 (off unless
asked, DESIGN.md) and flowc has no option to ask for it yet.
"""

from __future__ import annotations

from ...lower import kir as K
from .indexing import contiguous

TILE, KT, R = 128, 8, 8
THREADS = (TILE // R) * (TILE // R)   # 256
#: 8-byte accumulators (float64, int64): 64 x 64 tiles, 4 x 4 per thread (8 x 8 would spill)
WIDE_TILE = 64
#: shared row padding (elements): keeps rows 16-byte aligned, the transposed A
#: stores conflict-free
PAD = 4
#: elements of one 16-byte shared load (`fc_vec`, prelude.py) per register type
VECTORS = {"float": 4, "double": 2, "int": 4, "long long": 2}


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


def needed_lets(value, lets: dict) -> list:
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
    for s in needed_lets(value, lets):
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
    return {"acc": acc, "k": kloop, "a": a, "b": b, "a_lets": needed_lets(a, let_map),
            "b_lets": needed_lets(b, let_map), "epilogue": body[2:]}


def tiles_extent(chain, tile=None):
    """Number of output tiles (batch x tiles of rows x tiles of columns), an index expr."""
    tile = tile or TILE
    ext = K.IConst(1)
    for lp in chain[:-2]:
        ext = K.imul(ext, lp.extent)
    for lp in chain[-2:]:
        ext = K.imul(ext, K.idiv(K.iadd(lp.extent, tile - 1), tile))
    return ext


def tile_loop(pr, chain, plan, tile, body):
    """The block-stride loop over output tiles: fc_M, fc_N, fc_K; in the loop the batch
    variables and the tile's first row and column (fc_i0, fc_j0), then `body()`."""
    ivar, jvar = chain[-2].var, chain[-1].var
    batch = chain[:-2]
    ext = {lp.var: pr.expr(lp.extent) for lp in chain}
    pr.emit(f"const long long fc_M = {ext[ivar]}, fc_N = {ext[jvar]}, "
            f"fc_K = {pr.expr(plan['k'].extent)};")
    pr.emit(f"const long long fc_tm = (fc_M + {tile - 1}) / {tile}, "
            f"fc_tn = (fc_N + {tile - 1}) / {tile};")
    nbatch = " * ".join(f"(long long)({ext[lp.var]})" for lp in batch) or "1"
    pr.emit(f"const long long fc_tiles = {nbatch} * fc_tm * fc_tn;")

    def one():
        rest = "(fc_t / (fc_tm * fc_tn))"
        for k, lp in enumerate(batch):
            inner = " * ".join(f"(long long)({ext[x.var]})" for x in batch[k + 1:]) or "1"
            pr.emit(f"const long long {lp.var} = ({rest} / ({inner})) % ({ext[lp.var]});")
        pr.emit(f"const long long fc_i0 = ((fc_t / fc_tn) % fc_tm) * {tile}, "
                f"fc_j0 = (fc_t % fc_tn) * {tile};")
        body()
    pr.block("for (long long fc_t = blockIdx.x; fc_t < fc_tiles; fc_t += gridDim.x)", one)


def stage_operand(pr, lets, value, ty, dt, cond, defs, store, per, threads, unroll=""):
    """Each thread evaluates `per` operand elements through the kernel IR (`defs` declare
    the loop variables from fc_e, the element of the tile; zero where not `cond`) and
    `store` prints where element fc_q goes. Unrolled (fully: the values may live in a
    register array; `unroll` = "4": 4 at a time, for stores to shared memory)."""
    def inner():
        pr.emit(f"const int fc_e = threadIdx.x + {threads} * fc_q;")
        for d in defs:
            pr.emit(d)
        pr.emit(f"{ty} fc_v = {pr.ops.const(0, dt)};")

        def guarded():
            pr.stmts(lets)
            pr.emit(f"fc_v = {pr.expr(value)};")
        pr.block(f"if ({cond})", guarded)
        pr.emit(store)
    pr.emit(f"#pragma unroll {unroll}".rstrip())
    pr.block(f"for (int fc_q = 0; fc_q < {per}; ++fc_q)", inner)


def tile_of(plan) -> int:
    """The output tile's side for the tiled kernel of `plan`."""
    return WIDE_TILE if plan["acc"].dtype.itemsize == 8 else TILE


def _rc(v, r, tile):
    """Row (or column) of a thread's r-th element within the tile."""
    return f"{(r // 4) * (tile // 2)} + 4 * fc_{v} + {r % 4}"


def emit_tiled(pr, chain, plan):
    """Print the tiled kernel body with KernelPrinter `pr`."""
    acc = plan["acc"]
    dt = acc.dtype
    ty = pr.ops.reg_type(dt)
    ivar, jvar, kvar = chain[-2].var, chain[-1].var, plan["k"].var
    tile_n = tile_of(plan)
    r_n = tile_n // 16
    per = tile_n * KT // THREADS
    pr.emit(f"__shared__ __align__(16) {ty} fc_As[2][{KT}][{tile_n + PAD}];")
    pr.emit(f"__shared__ __align__(16) {ty} fc_Bs[2][{KT}][{tile_n + PAD}];")
    pr.emit("const int fc_ty = threadIdx.x / 16, fc_tx = threadIdx.x % 16;")

    # the element order of staging: along the operand's contiguous direction in memory
    # (coalesced loads) where its index shows one; A along k and B along j otherwise
    loop_vars = [lp.var for lp in chain] + [kvar]
    ca = contiguous(plan["a"], plan["a_lets"], loop_vars)
    cb = contiguous(plan["b"], plan["b_lets"], loop_vars)
    a_i, b_k = ivar in ca and kvar not in ca, kvar in cb and jvar not in cb
    # (row in the tile, k) of element fc_e
    a_at = (f"fc_e % {tile_n}", f"fc_e / {tile_n}") if a_i else (f"fc_e / {KT}", f"fc_e % {KT}")
    b_at = (f"fc_e / {KT}", f"fc_e % {KT}") if b_k else (f"fc_e % {tile_n}", f"fc_e / {tile_n}")

    def fetch(kb):
        """The operands of the k-step at `kb` into registers fc_ra, fc_rb."""
        stage_operand(pr, plan["a_lets"], plan["a"], ty, dt, f"{ivar} < fc_M && {kvar} < fc_K",
                      [f"const long long {ivar} = fc_i0 + {a_at[0]};",
                       f"const long long {kvar} = {kb} + {a_at[1]};"],
                      "fc_ra[fc_q] = fc_v;", per, THREADS)
        stage_operand(pr, plan["b_lets"], plan["b"], ty, dt, f"{kvar} < fc_K && {jvar} < fc_N",
                      [f"const long long {kvar} = {kb} + {b_at[1]};",
                       f"const long long {jvar} = fc_j0 + {b_at[0]};"],
                      "fc_rb[fc_q] = fc_v;", per, THREADS)

    def put(buf):
        pr.emit("#pragma unroll")
        pr.block(f"for (int fc_q = 0; fc_q < {per}; ++fc_q)", lambda: (
            pr.emit(f"const int fc_e = threadIdx.x + {THREADS} * fc_q;"),
            pr.emit(f"fc_As[{buf}][{a_at[1]}][{a_at[0]}] = fc_ra[fc_q];"),
            pr.emit(f"fc_Bs[{buf}][{b_at[1]}][{b_at[0]}] = fc_rb[fc_q];")))

    def tile():
        pr.emit(f"{ty} fc_acc[{r_n}][{r_n}], fc_ra[{per}], fc_rb[{per}];")
        pr.emit("#pragma unroll")
        pr.emit(f"for (int r = 0; r < {r_n}; ++r)")
        pr.emit("#pragma unroll")
        pr.emit(f"  for (int c = 0; c < {r_n}; ++c) fc_acc[r][c] = {pr.ops.const(0, dt)};")
        fetch("0")
        put("0")
        pr.emit("__syncthreads();")

        def k_step():
            pr.emit(f"const long long fc_kn = fc_k0 + {KT};")
            pr.block("if (fc_kn < fc_K)", lambda: fetch("fc_kn"))
            pr.emit("#pragma unroll")
            pr.block(f"for (int kk = 0; kk < {KT}; ++kk)",
                     lambda: _fragment_fmas(pr, ty, dt, tile_n))
            pr.block("if (fc_kn < fc_K)", lambda: put("fc_s ^ 1"))
            pr.emit("__syncthreads();  /* one barrier per k-step: the buffers alternate */")
        pr.block(f"for (long long fc_k0 = 0, fc_s = 0; fc_k0 < fc_K; fc_k0 += {KT}, fc_s ^= 1)",
                 k_step)
        pr.emit("#pragma unroll")
        pr.emit(f"for (int r = 0; r < {r_n}; ++r)")
        pr.emit("#pragma unroll")
        pr.block(f"for (int c = 0; c < {r_n}; ++c)",
                 lambda: _epilogue(pr, plan, ty, ivar, jvar, tile_n))
    tile_loop(pr, chain, plan, tile_n, tile)


def _fragment_fmas(pr, ty, dt, tile_n):
    """One k of the block's k-step: the thread's 8 A and 8 B values from shared memory
    (16-byte loads where the type has a vector type), then its 64 multiply-adds."""
    r_n = tile_n // 16
    pr.emit(f"{ty} fc_a[{r_n}], fc_b[{r_n}];")
    vec = VECTORS.get(ty)
    for name, tile, v in (("fc_a", "fc_As", "ty"), ("fc_b", "fc_Bs", "tx")):
        for half in range(r_n // 4):
            first = half * 4
            if vec is None:
                for r in range(first, first + 4):
                    pr.emit(f"{name}[{r}] = {tile}[fc_s][kk][{_rc(v, r, tile_n)}];")
                continue
            n = vec
            vt = f"fc_vec<{ty}, {n}>"
            for part in range(0, 4, n):
                r = first + part
                src = f"*reinterpret_cast<const {vt}*>(&{tile}[fc_s][kk][{_rc(v, r, tile_n)}])"
                pr.emit(f"const {vt} {name}{r} = {src};")
                for m in range(n):
                    pr.emit(f"{name}[{r + m}] = {name}{r}.v[{m}];")
    step = "fc_acc[r][c] = " + (pr.ops.fma("fc_a[r]", "fc_b[c]", "fc_acc[r][c]", dt)
                                if dt.is_float else "fc_acc[r][c] + fc_a[r] * fc_b[c]") + ";"
    pr.emit("#pragma unroll")
    pr.emit(f"for (int r = 0; r < {r_n}; ++r)")
    pr.emit("#pragma unroll")
    pr.emit(f"  for (int c = 0; c < {r_n}; ++c) {step}")


def _epilogue(pr, plan, ty, ivar, jvar, tile_n):
    pr.emit(f"const long long {ivar} = fc_i0 + (r / 4) * {tile_n // 2} + 4 * fc_ty + r % 4;")
    pr.emit(f"const long long {jvar} = fc_j0 + (c / 4) * {tile_n // 2} + 4 * fc_tx + c % 4;")
    pr.emit(f"{ty} {plan['acc'].var} = fc_acc[r][c];")
    pr.block(f"if ({ivar} < fc_M && {jvar} < fc_N)", lambda: pr.stmts(plan["epilogue"]))
