"""The tensor-core form of matmul kernels (the `mma` mapping): float16 operands
accumulated in float32, PTX `mma.sync.m16n8k16`.

A block of `THREADS` (256: 8 warps) computes a `TILE_M` x `TILE_N` (128 x 128) output
tile; the warps form a 2 x 4 grid, each computing 64 x 32 = 4 x 4 m16n8 tiles, so a warp
issues 16 `mma` per 16 along k. Per step of `KT` (32) along k the A tile (As[i][k],
row-major) and the B tile (Bs[k][j]) are staged in shared memory as float16 (exact:
flowc rounds every float16 value), in `STAGES` (2) buffers: a `cp.async` pipeline where
the next k-step's copy is in flight while the current one's `mma`s run (one barrier per
k-step). Rows are padded by 8 halves so the `ldmatrix` reads are free of bank conflicts.
Fragments come from `ldmatrix` x4: for A (non-transposed) lane l names row l % 16, k
8 (l / 16) of the warp's 16 x 16 block, giving a0..a3 = (rows 0-7 | 8-15) x (k 0-7 |
8-15) in the PTX ISA order (`A_REGS`); for B (`.trans`) lane l names k row l % 16,
column 8 (l / 16) of a 16 x 16 block, giving (b0, b1) of two n8 tiles (`B_REGS`).

Staging: where an operand is a plain float16 load whose index is affine in the loop
variables with unit stride along its rows (k for A, j for B), the kernel copies 16-byte
chunks with `cp.async` (zero-filled past the matrix) when, at run time, the pointer, the
index's constant term and every other stride are multiples of 8 elements (16 bytes).
Otherwise (any other operand expression, a misaligned pointer or stride) each thread
evaluates the operand statements of the kernel IR per element and stores float16 into the
same shared tiles (the register path). The epilogue runs per output element with the
accumulator, exactly as in the plain nest.
"""

from __future__ import annotations

from ...ir import dtypes as T
from ...lower import kir as K
from .indexing import contiguous, linear
from .matmul import needed_lets, stage_operand, tile_loop

TILE_M = TILE_N = 128
KT, STAGES = 32, 2
WARPS_M, WARPS_N = 2, 4
THREADS = 32 * WARPS_M * WARPS_N           # 256
WM, WN = TILE_M // WARPS_M, TILE_N // WARPS_N   # 64 x 32 per warp
PAD = 8
#: elements in flight per thread on the register path (all 16 would spill)
UNROLL = "4"
#: the ldmatrix x4 register that feeds each A register of `mma` (PTX ISA fragment order:
#: a0 rows 0-7 k 0-7, a1 rows 8-15 k 0-7, a2 rows 0-7 k 8-15, a3 rows 8-15 k 8-15)
A_REGS = (0, 1, 2, 3)
#: per pair of n8 tiles, the ldmatrix x4.trans registers that are (b0, b1) of each tile
B_REGS = ((0, 1), (2, 3))


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


# ---- the cp.async fast path: plain float16 loads, affine indices -----------------------
def fast_operand(value, lets, loop_vars, unit):
    """(load, terms, const) when `value` is a plain float16 load (widened) whose index is
    affine in `loop_vars` with coefficient 1 for `unit`, else None."""
    lets = {s.var: s for s in lets}

    def through(e):
        while isinstance(e, K.Var) and e.name in lets:
            e = lets[e.name].value
        return e
    e = through(through(value).x)  # the float16 value (uses_tensor_cores checked the Cast)
    # float16(float32(h)) is h: skip such round trips (a fused slice's value)
    while isinstance(e, K.Cast) and e.dtype is T.float16 and \
            isinstance(through(e.x), K.Cast) and through(e.x).x.dtype is T.float16:
        e = through(through(e.x).x)
    if not (isinstance(e, K.Load) and e.dtype is T.float16):
        return None
    lin = linear(e.index, set(loop_vars), lets)
    if lin is None or lin[0].get(unit) != K.IConst(1):
        return None
    return e, lin[0], lin[1]


def _aligned(pr, fast, unit):
    """The run-time condition (C) that every 8-element chunk of the operand's rows starts
    16-byte aligned."""
    load, terms, const = fast
    parts = [f"((unsigned long long){load.buf} & 15) == 0", f"({pr.expr(const)}) % 8 == 0"]
    parts += [f"({pr.expr(c)}) % 8 == 0" for v, c in terms.items() if v != unit]
    return " && ".join(parts)


# ---- printing ---------------------------------------------------------------------------
def emit_mma(pr, chain, plan):
    ivar, jvar, kvar = chain[-2].var, chain[-1].var, plan["k"].var
    loop_vars = [lp.var for lp in chain[:-2]] + [ivar, jvar, kvar]
    fast_a = fast_operand(plan["a"], plan["a_lets"], loop_vars, kvar)
    fast_b = fast_operand(plan["b"], plan["b_lets"], loop_vars, jvar)
    # register path: elements taken along the operand's contiguous direction in memory
    # (coalesced loads): (tile row, k) of A's element fc_e, (k, column) of B's
    ca = contiguous(plan["a"], plan["a_lets"], loop_vars)
    cb = contiguous(plan["b"], plan["b_lets"], loop_vars)
    plan = dict(plan, mma_order=(
        (f"fc_e % {TILE_M}", f"fc_e / {TILE_M}") if ivar in ca and kvar not in ca else
        (f"fc_e / {KT}", f"fc_e % {KT}"),
        (f"fc_e % {KT}", f"fc_e / {KT}") if kvar in cb and jvar not in cb else
        (f"fc_e / {TILE_N}", f"fc_e % {TILE_N}")))
    pr.emit(f"__shared__ __align__(16) fc_half fc_Ah[{STAGES}][{TILE_M}][{KT + PAD}];")
    pr.emit(f"__shared__ __align__(16) fc_half fc_Bh[{STAGES}][{KT}][{TILE_N + PAD}];")
    pr.emit("const int fc_lane = threadIdx.x & 31, fc_warp = threadIdx.x >> 5;")
    pr.emit("const int fc_g = fc_lane >> 2, fc_t4 = fc_lane & 3;")
    pr.emit(f"const int fc_wm = (fc_warp / {WARPS_N}) * {WM}, "
            f"fc_wn = (fc_warp % {WARPS_N}) * {WN};")
    for name, fast, unit in (("fc_fast_a", fast_a, kvar), ("fc_fast_b", fast_b, jvar)):
        if fast is not None:
            pr.emit(f"const bool {name} = {_aligned(pr, fast, unit)};")

    def tile():
        pr.emit(f"float fc_d[{WM // 16}][{WN // 8}][4];")
        pr.emit("#pragma unroll")
        pr.emit(f"for (int fc_m = 0; fc_m < {WM // 16}; ++fc_m)")
        pr.emit("#pragma unroll")
        pr.emit(f"  for (int fc_n = 0; fc_n < {WN // 8}; ++fc_n)")
        pr.emit("    for (int fc_c = 0; fc_c < 4; ++fc_c) fc_d[fc_m][fc_n][fc_c] = 0.0f;")
        pr.emit(f"const long long fc_nk = (fc_K + {KT - 1}) / {KT};")
        _stage(pr, plan, fast_a, fast_b, ivar, jvar, kvar, "0", "0")
        pr.emit("fc_cp_async_commit();")

        def k_step():
            pr.emit(f"const int fc_s = (int)(fc_kt % {STAGES});")
            pr.emit("fc_cp_async_wait0();")
            pr.emit("__syncthreads();  /* stage fc_s is complete; the other one is free */")
            pr.block("if (fc_kt + 1 < fc_nk)", lambda: _stage(
                pr, plan, fast_a, fast_b, ivar, jvar, kvar, f"(fc_s + 1) % {STAGES}",
                f"(fc_kt + 1) * {KT}"))
            pr.emit("fc_cp_async_commit();")
            pr.emit("#pragma unroll")
            pr.block(f"for (int fc_kk = 0; fc_kk < {KT}; fc_kk += 16)", lambda: _mma_step(pr))
        pr.block("for (long long fc_kt = 0; fc_kt < fc_nk; ++fc_kt)", k_step)
        pr.emit("fc_cp_async_wait0();")
        pr.emit("__syncthreads();  /* the next tile's first copy reuses stage 0 */")
        pr.emit("#pragma unroll")
        pr.emit(f"for (int fc_m = 0; fc_m < {WM // 16}; ++fc_m)")
        pr.emit("#pragma unroll")
        pr.emit(f"  for (int fc_n = 0; fc_n < {WN // 8}; ++fc_n)")
        pr.emit("#pragma unroll")
        pr.block("    for (int fc_c = 0; fc_c < 4; ++fc_c)",
                 lambda: _mma_epilogue(pr, plan, ivar, jvar))
    tile_loop(pr, chain, plan, TILE_M, tile)


def _stage(pr, plan, fast_a, fast_b, ivar, jvar, kvar, st, kb):
    """Stage the A and B tiles of the k-step at `kb` into buffer `st`."""
    per_a, per_b = TILE_M * KT // THREADS, KT * TILE_N // THREADS

    (ai, ak), (bk, bj) = plan["mma_order"]

    def general_a():
        stage_operand(pr, plan["a_lets"], plan["a"], "float", T.float32,
                      f"{ivar} < fc_M && {kvar} < fc_K",
                      [f"const long long {ivar} = fc_i0 + {ai};",
                       f"const long long {kvar} = {kb} + {ak};"],
                      f"fc_Ah[{st}][{ai}][{ak}] = fc_f2h(fc_v);", per_a, THREADS, UNROLL)

    def general_b():
        stage_operand(pr, plan["b_lets"], plan["b"], "float", T.float32,
                      f"{kvar} < fc_K && {jvar} < fc_N",
                      [f"const long long {kvar} = {kb} + {bk};",
                       f"const long long {jvar} = fc_j0 + {bj};"],
                      f"fc_Bh[{st}][{bk}][{bj}] = fc_f2h(fc_v);", per_b, THREADS, UNROLL)

    def copy(fast, lets, defs, count, dst):
        load = fast[0]
        index_lets = [s for s in lets if isinstance(s, K.Let) and s.value.dtype is T.int64]
        let_map = {s.var: s for s in lets}
        per = (TILE_M * KT // 8) // THREADS

        def chunk():
            pr.emit(f"const int fc_e = threadIdx.x + {THREADS} * fc_q;")
            for d in defs:
                pr.emit(d)
            pr.emit(f"const int fc_nb = {count};")
            pr.stmts([s for s in needed_lets(load.index, let_map) if s in index_lets])
            pr.emit(f"fc_cp_async16(&{dst}, fc_nb > 0 ? &{load.buf}[{pr.expr(load.index)}] "
                    f": {load.buf}, 2 * fc_nb);")
        pr.emit("#pragma unroll")
        pr.block(f"for (int fc_q = 0; fc_q < {per}; ++fc_q)", chunk)

    clamp = "(int)(fc_r < 0 ? 0 : fc_r > 8 ? 8 : fc_r)"
    chunks = KT // 8
    for fast, general, args in (
            (fast_a, general_a, (plan["a_lets"],
                                 [f"const long long {ivar} = fc_i0 + fc_e / {chunks};",
                                  f"const long long {kvar} = {kb} + 8 * (fc_e % {chunks});",
                                  f"const long long fc_r = {ivar} < fc_M ? fc_K - {kvar} : 0;"],
                                 clamp, f"fc_Ah[{st}][fc_e / {chunks}][8 * (fc_e % {chunks})]")),
            (fast_b, general_b, (plan["b_lets"],
                                 [f"const long long {kvar} = {kb} + fc_e / {TILE_N // 8};",
                                  f"const long long {jvar} = fc_j0 + 8 * (fc_e % {TILE_N // 8});",
                                  f"const long long fc_r = {kvar} < fc_K ? fc_N - {jvar} : 0;"],
                                 clamp, f"fc_Bh[{st}][fc_e / {TILE_N // 8}]"
                                        f"[8 * (fc_e % {TILE_N // 8})]"))):
        if fast is None:
            general()
        else:
            flag = "fc_fast_a" if fast is fast_a else "fc_fast_b"
            pr.block(f"if ({flag})", lambda f=fast, a=args: copy(f, *a))
            pr.block("else", general)


def _mma_step(pr):
    """16 along k: A fragments of the warp's 4 m16 rows and B fragments of its 4 n8
    columns by ldmatrix, then 4 x 4 mma."""
    pr.emit(f"unsigned int fc_a[{WM // 16}][4], fc_b[{WN // 8}][2], fc_r[4];")
    for m in range(WM // 16):
        pr.emit(f"fc_ldsm_x4(fc_r, &fc_Ah[fc_s][fc_wm + {16 * m} + (fc_lane & 15)]"
                "[fc_kk + 8 * (fc_lane >> 4)]);")
        for i, r in enumerate(A_REGS):
            pr.emit(f"fc_a[{m}][{i}] = fc_r[{r}];")
    for p in range(WN // 16):
        pr.emit("fc_ldsm_x4_t(fc_r, &fc_Bh[fc_s][fc_kk + (fc_lane & 15)]"
                f"[fc_wn + {16 * p} + 8 * (fc_lane >> 4)]);")
        for t, regs in enumerate(B_REGS):
            for i, r in enumerate(regs):
                pr.emit(f"fc_b[{2 * p + t}][{i}] = fc_r[{r}];")
    pr.emit("#pragma unroll")
    pr.emit(f"for (int fc_m = 0; fc_m < {WM // 16}; ++fc_m)")
    pr.emit("#pragma unroll")
    pr.emit(f"  for (int fc_n = 0; fc_n < {WN // 8}; ++fc_n) "
            "fc_mma_16816(fc_d[fc_m][fc_n], fc_a[fc_m], fc_b[fc_n]);")


def _mma_epilogue(pr, plan, ivar, jvar):
    pr.emit(f"const long long {ivar} = fc_i0 + fc_wm + 16 * fc_m + fc_g + "
            "(fc_c >= 2 ? 8 : 0);")
    pr.emit(f"const long long {jvar} = fc_j0 + fc_wn + 8 * fc_n + 2 * fc_t4 + (fc_c & 1);")
    pr.emit(f"float {plan['acc'].var} = fc_d[fc_m][fc_n][fc_c];")
    pr.block(f"if ({ivar} < fc_M && {jvar} < fc_N)", lambda: pr.stmts(plan["epilogue"]))
