"""Block-strided loops of the `rows` and `block` mappings (emit.py), unrolled.

A loop split over a block's threads runs `UNROLL` iterations per thread and trip,
`blockDim.x` apart, as separate scopes with no bounds check (the trip runs only while
the last of them is in range), so their loads are independent and in flight together;
a tail loop runs the rest one at a time. Each accumulator the loop updates gets
`UNROLL - 1` extra partial copies (at its identity, renamed in the copies), combined in
a fixed order, ((a0 op a1) op (a2 op a3)), then across the block by `fc_block_reduce`.
Accumulations may reassociate (DESIGN.md "Numerics"): only they are split.
"""

from __future__ import annotations

#: iterations of a block-strided loop per thread and trip
UNROLL = 4


def emit_strided(pr, loop, accs):
    """Print `loop` (kernel IR) block-strided with printer `pr` (emit.KernelPrinter),
    then combine each accumulator of `accs` ({var: op}) across the block."""
    v = loop.var
    copies = {var: [f"{var}_u{u}" for u in range(1, UNROLL)] for var in accs}
    for var, names in copies.items():
        decl = pr.accumulators[var]
        for name in names:
            pr.emit(f"{pr.ops.reg_type(decl.dtype)} {name} = {pr.expr(decl.identity)};")
    pr.emit(f"const long long {v}_n = {pr.expr(loop.extent)};")
    pr.emit(f"long long {v}_b = threadIdx.x;")
    step = "(long long)blockDim.x"

    def trip():
        for u in range(UNROLL):
            pr.rename = {var: names[u - 1] for var, names in copies.items()} if u else {}
            pr.emit("{")
            pr.depth += 1
            pr.emit(f"const long long {v} = {v}_b + {u} * {step};")
            pr.stmts(loop.body)
            pr.depth -= 1
            pr.emit("}")
        pr.rename = {}
    pr.block(f"for (; {v}_b + {UNROLL - 1} * {step} < {v}_n; {v}_b += {UNROLL} * {step})",
             trip)
    pr.block(f"for (; {v}_b < {v}_n; {v}_b += {step})", lambda: (
        pr.emit(f"const long long {v} = {v}_b;"), pr.stmts(loop.body)))
    for var, op in accs.items():
        dt = pr.accumulators[var].dtype
        ty = pr.ops.reg_type(dt)
        names = [var] + copies[var]
        while len(names) > 1:  # pairwise, in a fixed order
            pairs = [names[k:k + 2] for k in range(0, len(names), 2)]
            names = [p[0] if len(p) == 1 else pr.ops.binary(op, p[0], p[1], dt)
                     for p in pairs]
        if len(copies[var]):
            pr.emit(f"{var} = {names[0]};")
        combine = pr.ops.binary(op, "a", "b", dt)
        pr.emit(f"{var} = fc_block_reduce({var}, []({ty} a, {ty} b) "
                f"{{ return {combine}; }});")
