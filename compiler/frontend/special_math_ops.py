"""TF1's `tf.einsum` (TF1 keeps it in special_math_ops.py), as a composite of primitives:
its gradient comes from autodiff of the parts and both backends need nothing new.

`einsum(equation, *inputs)` follows numpy's einsum: letters a-z and A-Z, `...` for
broadcast dims, an explicit output after `->` or the implicit one (the ellipsis, then
the letters used once, sorted). It is built as:

- a repeated letter within one operand (`ii`, a diagonal): a multiply by an identity
  mask and a sum over the second occurrence;
- a letter used by one operand only and not in the output: summed out at once;
- operands folded left to right; each pair becomes one `matmul` of
  `[batch..., left, contracted]` by `[batch..., contracted, right]` (transposes and
  reshapes around it), where batch letters are in both operands and needed later, and
  an operand's own symbolic letters become leading dims (size 1 in the other);
- a final transpose to the output's order.

Symbolic dims (a `None` batch of a placeholder) may sit on any letter but the
contracted ones when two or more are contracted (they merge into one dim); matmul
broadcasts the leading dims. Integer operands are multiplied exactly (matmul on ints).
"""

from __future__ import annotations

import string

import numpy as np

from . import math_ops as M
from .core import constant, convert_to_tensor, identity, known_shape, op_scope
from .manip_ops import reshape, transpose
from .reduce_ops import reduce_sum

__all__ = ["einsum"]


def _error(equation, why):
    return ValueError(f"einsum {equation!r}: {why}")


def parse(equation, ranks):
    """(one letter string per operand, the output's letters) with `...` spelled out as
    letters the equation does not use."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise _error(equation, f"names {len(terms)} operands, got {len(ranks)}")
    for t in terms + [rhs]:
        if not set(t.replace("...", "")) <= set(string.ascii_letters) or t.count("...") > 1:
            raise _error(equation, f"term {t!r} must be letters with at most one '...'")
    free = [c for c in string.ascii_letters if c not in eq]
    widths = []
    for t, r in zip(terms, ranks, strict=True):
        named = len(t.replace("...", ""))
        if ("..." in t and named > r) or ("..." not in t and named != r):
            raise _error(equation, f"term {t!r} does not fit an operand of rank {r}")
        widths.append(r - named if "..." in t else 0)
    ell = "".join(free[:max(widths, default=0)])
    out_terms = [t.replace("...", ell[len(ell) - w:] if w else "")
                 for t, w in zip(terms, widths, strict=True)]
    if arrow:
        out = rhs.replace("...", ell)
    else:
        counts = {}
        for t in out_terms:
            for c in t:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in ell))
    if len(set(out)) != len(out) or not set(out) <= set("".join(out_terms)):
        raise _error(equation, f"output {out!r} repeats a letter or names one no operand "
                               f"has")
    return out_terms, out


def _diagonal(x, term, equation):
    while len(set(term)) < len(term):
        q = next(i for i, c in enumerate(term) if term.index(c) != i)
        p = term.index(term[q])
        dims = known_shape(x, "einsum")
        n = dims[p]
        if not isinstance(n, int) or dims[q] != n:
            raise _error(equation, f"the repeated letter {term[q]!r} needs equal static "
                                   f"dims, got {list(dims)}")
        shape = [1] * len(dims)
        shape[p] = shape[q] = n
        x = reduce_sum(M.multiply(x, constant(np.eye(n).reshape(shape), x.dtype)), axis=q)
        term = term[:q] + term[q + 1:]
    return x, term


def _sum_out(x, term, keep):
    axes = [i for i, c in enumerate(term) if c not in keep]
    if not axes:
        return x, term
    return reduce_sum(x, axis=axes), "".join(c for c in term if c in keep)


def _to_order(x, term, order):
    perm = [term.index(c) for c in order]
    return x if perm == list(range(len(perm))) else transpose(x, perm)


def _merged(dims, equation, letters):
    """The extent of `letters` merged into one dim (one symbolic dim passes as is)."""
    if len(dims) == 1:
        return dims[0]
    if not all(isinstance(d, int) for d in dims):
        raise _error(equation, f"the dims of letters {letters!r} are merged for a matmul "
                               f"and must be static, got {list(dims)}")
    return int(np.prod(dims))


def _contract(a, ta, b, tb, keep, equation):
    """One matmul of a [batch, a's symbolic, 1..., L, K] by b [batch, 1..., b's symbolic,
    K, R] (matmul broadcasts the leading dims); L, K and R merge static letters."""
    da0, db0 = known_shape(a, "einsum"), known_shape(b, "einsum")
    dim = {**{c: db0[i] for i, c in enumerate(tb)}, **{c: da0[i] for i, c in enumerate(ta)}}
    batch = [c for c in ta if c in tb and c in keep]
    red = [c for c in ta if c in tb and c not in keep]
    left = [c for c in ta if c not in tb]
    right = [c for c in tb if c not in ta]
    lsym = [c for c in left if not isinstance(dim[c], int)]
    rsym = [c for c in right if not isinstance(dim[c], int)]
    lst = [c for c in left if c not in lsym]
    rst = [c for c in right if c not in rsym]
    a = _to_order(a, ta, "".join(batch + lsym + lst + red))
    b = _to_order(b, tb, "".join(batch + rsym + red + rst))
    kdim = _merged([da0[ta.index(c)] for c in red], equation, "".join(red)) if red else 1
    a = reshape(a, [da0[ta.index(c)] for c in batch] + [dim[c] for c in lsym]
                + [1] * len(rsym) + [int(np.prod([dim[c] for c in lst])), kdim])
    b = reshape(b, [db0[tb.index(c)] for c in batch] + [1] * len(lsym)
                + [dim[c] for c in rsym] + [kdim, int(np.prod([dim[c] for c in rst]))])
    y = M.matmul(a, b)
    bdims = [db0[tb.index(c)] if isinstance(da0[ta.index(c)], int)
             and da0[ta.index(c)] == 1 else da0[ta.index(c)] for c in batch]
    out = bdims + [dim[c] for c in lsym + rsym + lst + rst]
    return reshape(y, out), "".join(batch + lsym + rsym + lst + rst)


def einsum(equation, *inputs, **kwargs):
    """TF1's `tf.einsum(equation, *inputs, name=None)`: the Einstein summation of the
    inputs (numpy's semantics; see the module docstring)."""
    name = kwargs.pop("name", None)
    if kwargs:
        raise TypeError(f"einsum: unexpected keyword arguments {sorted(kwargs)}")
    if not inputs:
        raise _error(equation, "needs at least one operand")
    xs = [convert_to_tensor(x) for x in inputs]
    if any(x.shape.ndims is None for x in xs):
        raise _error(equation, "operands of unknown rank")
    if len({x.dtype for x in xs}) > 1:
        raise _error(equation, f"operands of different types "
                               f"{[x.dtype.name for x in xs]}")
    terms, out = parse(equation, [x.shape.ndims for x in xs])
    with op_scope(name, "einsum", xs) as scope:
        ops = []
        for i, (x, t) in enumerate(zip(xs, terms, strict=True)):
            x, t = _diagonal(x, t, equation)
            ops.append(_sum_out(x, t, "".join(terms[:i] + terms[i + 1:]) + out))
        y, ty = ops[0]
        for i in range(1, len(ops)):
            b, tb = ops[i]
            keep = "".join(terms[i + 1:]) + out
            y, ty = _sum_out(y, ty, keep + tb)
            b, tb = _sum_out(b, tb, keep + ty)
            y, ty = _contract(y, ty, b, tb, keep, equation)
        y, ty = _sum_out(y, ty, out)
        return identity(_to_order(y, ty, out), name=scope)
