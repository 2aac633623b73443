"""Index expressions of the kernel IR seen as arithmetic in the loop variables, for the
CUDA kernel forms that must know how an access moves through memory:

- `poly`: an exact polynomial (integer coefficients over loop variables and symbols), so
  two indices can be compared exactly (pointwise.py: is an access the flat index?);
- `linear`: an affine form with coefficient expressions (symbols, allowed to be any
  integer arithmetic on them), so code can be printed from it (matmul: along which loop
  variable is an operand contiguous; the cp.async path's run-time alignment check).
"""

from __future__ import annotations

from ...ir import dtypes as T
from ...lower import kir as K


def poly(e, loop_vars):
    """`e` as a polynomial {sorted tuple of names: int coefficient} over `loop_vars` and
    symbols, or None when it is not a sum of products of ints, loop vars and symbols."""
    if isinstance(e, K.IConst):
        return {(): int(e.value)} if e.value else {}
    if isinstance(e, K.SymRef):
        return {(e.name,): 1}
    if isinstance(e, K.Var):
        return {(e.name,): 1} if e.name in loop_vars else None
    if isinstance(e, K.Binary) and e.op in ("add", "sub", "mul"):
        a, b = poly(e.a, loop_vars), poly(e.b, loop_vars)
        if a is None or b is None:
            return None
        out = dict(a)
        if e.op == "mul":
            out = {}
            for ma, ca in a.items():
                for mb, cb in b.items():
                    m = tuple(sorted(ma + mb))
                    out[m] = out.get(m, 0) + ca * cb
        else:
            sign = 1 if e.op == "add" else -1
            for m, c in b.items():
                out[m] = out.get(m, 0) + sign * c
        return {m: c for m, c in out.items() if c}
    return None


def flat_poly(chain):
    """The flat index of the nest `chain` (row-major) as a polynomial, or None."""
    names = {lp.var for lp in chain}
    idx = K.Var(chain[0].var)
    for lp in chain[1:]:
        idx = K.Binary("add", K.Binary("mul", idx, lp.extent, T.int64), K.Var(lp.var),
                       T.int64)
    return poly(idx, names)


def linear(e, loop_vars, lets):
    """An int index expression as ({loop var: coefficient expr}, constant expr), the
    coefficients and constant free of loop variables; None when it is not affine in them."""
    if isinstance(e, K.Var):
        if e.name in loop_vars:
            return {e.name: K.IConst(1)}, K.IConst(0)
        if e.name in lets:
            return linear(lets[e.name].value, loop_vars, lets)
        return None
    if symbolic(e):
        return {}, e
    if isinstance(e, K.Binary) and e.op in ("add", "sub", "mul"):
        a, b = linear(e.a, loop_vars, lets), linear(e.b, loop_vars, lets)
        if a is None or b is None:
            return None
        if e.op == "mul":
            if a[0] and b[0]:
                return None
            lin, k = (a, b[1]) if a[0] else (b, a[1])
            return {v: K.imul(c, k) for v, c in lin[0].items()}, K.imul(lin[1], k)
        sign = (lambda x: x) if e.op == "add" else (lambda x: K.Binary("sub", K.IConst(0), x,
                                                                       T.int64))
        terms = dict(a[0])
        for v, c in b[0].items():
            terms[v] = K.iadd(terms[v], sign(c)) if v in terms else sign(c)
        const = K.iadd(a[1], b[1]) if e.op == "add" else K.Binary("sub", a[1], b[1], T.int64)
        return terms, const
    return None


def symbolic(e) -> bool:
    """Whether `e` is integer arithmetic on constants and symbols only."""
    if isinstance(e, (K.IConst, K.SymRef)):
        return True
    return isinstance(e, K.Binary) and e.dtype is T.int64 and symbolic(e.a) and \
        symbolic(e.b)


def contiguous(value, lets, loop_vars) -> set:
    """The loop variables along which the operand `value` (a load, through lets and casts)
    is contiguous in memory: coefficient 1 in its affine index. Empty when not a load."""
    lets = {s.var: s for s in lets}
    e = value
    while isinstance(e, (K.Var, K.Cast)):
        if isinstance(e, K.Cast):
            e = e.x
        elif e.name in lets:
            e = lets[e.name].value
        else:
            break
    lin = linear(e.index, set(loop_vars), lets) if isinstance(e, K.Load) else None
    return {v for v, c in lin[0].items() if c == K.IConst(1)} if lin else set()
