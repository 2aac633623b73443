"""Dimensions: static ints, symbols and dim expressions, with unification.

A dimension is either a Python `int` or a `DimExpr`: a polynomial with integer
coefficients over *atoms*, where an atom is a `Sym` (one `None` of a placeholder shape),
an inexact floor quotient `(expr // k)` or a `max(a, b)`/`min(a, b)` of two dims that
cannot be decided symbolically (the clamps of numpy-style slices on symbolic dims).
Expressions are canonical, so equal expressions compare and hash equal, and a
polynomial that is a plain constant collapses to an `int`.

`SymbolTable` unifies symbols (union-find) and records *why* two symbols were made
equal (the op and file:line where they met), so the runtime's boundary check can name
both placeholders and the op when a feed contradicts a unification. Equalities that are
not between atoms (e.g. `N0*2 == N1+3`) are recorded as run-time checks instead.
Nothing here knows about ops or graphs.
"""

from __future__ import annotations

import itertools
from typing import Union


class ShapeError(ValueError):
    """Incompatible shapes at graph-build or compile time."""


class Sym:
    """A symbolic dimension. Identity is the name; `origin` says where it came from."""

    __slots__ = ("name", "origin")

    def __init__(self, name: str, origin: str = ""):
        self.name = name
        self.origin = origin

    def __eq__(self, other):
        return isinstance(other, Sym) and other.name == self.name

    def __hash__(self):
        return hash(("sym", self.name))

    def __lt__(self, other):
        return _atom_key(self) < _atom_key(other)

    def __repr__(self):
        return self.name


class FloorDiv:
    """Atom `(num // den)` for a quotient that is not exact symbolically."""

    __slots__ = ("num", "den")

    def __init__(self, num: "DimExpr", den: int):
        self.num = num
        self.den = den

    def __eq__(self, other):
        return isinstance(other, FloorDiv) and other.num == self.num and other.den == self.den

    def __hash__(self):
        return hash(("floordiv", self.num, self.den))

    def __repr__(self):
        return f"({self.num}//{self.den})"


class MinMax:
    """Atom `max(a, b)` or `min(a, b)` (`op`), operands in canonical order; build it with
    `maximum`/`minimum`, which decide it instead when they can."""

    __slots__ = ("op", "a", "b")

    def __init__(self, op: str, a, b):
        self.op, self.a, self.b = op, a, b

    def __eq__(self, other):
        return (isinstance(other, MinMax) and other.op == self.op and other.a == self.a
                and other.b == self.b)

    def __hash__(self):
        return hash((self.op, self.a, self.b))

    def __repr__(self):
        return f"{self.op}({format_dim(self.a)},{format_dim(self.b)})"

    def operands(self):
        return (self.a, self.b)

    def evaluate(self, env) -> int:
        a, b = (x if isinstance(x, int) else x.evaluate(env) for x in (self.a, self.b))
        return max(a, b) if self.op == "max" else min(a, b)


def _atom_key(atom) -> str:
    return atom.name if isinstance(atom, Sym) else "~" + repr(atom)


class DimExpr:
    """Canonical polynomial: {monomial (sorted tuple of atoms): int coefficient}."""

    __slots__ = ("terms", "_hash")

    def __init__(self, terms: dict):
        self.terms = {m: c for m, c in terms.items() if c != 0}
        self._hash = hash(frozenset(self.terms.items()))

    # construction -------------------------------------------------------------
    @staticmethod
    def atom(a) -> "DimExpr":
        return DimExpr({(a,): 1})

    @staticmethod
    def lift(d) -> "DimExpr":
        if isinstance(d, DimExpr):
            return d
        if isinstance(d, Sym):
            return DimExpr.atom(d)
        return DimExpr({(): int(d)})

    # queries ------------------------------------------------------------------
    def constant(self):
        """The int value if this expression has no atoms, else None."""
        if not self.terms:
            return 0
        if list(self.terms) == [()]:
            return self.terms[()]
        return None

    def as_atom(self):
        """The single atom if the expression is exactly one atom with coefficient 1."""
        if len(self.terms) == 1:
            (m, c), = self.terms.items()
            if c == 1 and len(m) == 1:
                return m[0]
        return None

    def atoms(self) -> set:
        out = set()
        for m in self.terms:
            for a in m:
                out.add(a)
                if isinstance(a, FloorDiv):
                    out |= a.num.atoms()
                elif isinstance(a, MinMax):
                    for x in a.operands():
                        if isinstance(x, DimExpr):
                            out |= x.atoms()
        return out

    def symbols(self) -> set:
        return {a for a in self.atoms() if isinstance(a, Sym)}

    def evaluate(self, env: dict) -> int:
        total = 0
        for m, c in self.terms.items():
            v = c
            for a in m:
                if isinstance(a, Sym):
                    v *= env[a.name]
                elif isinstance(a, FloorDiv):
                    v *= a.num.evaluate(env) // a.den
                else:
                    v *= a.evaluate(env)
            total += v
        return total

    def substitute(self, fn) -> Union[int, "DimExpr"]:
        """Replace each Sym `s` by `fn(s)` (an int, Sym or DimExpr) and re-canonicalize."""
        result = 0
        for m, c in self.terms.items():
            prod = c
            for a in m:
                if isinstance(a, Sym):
                    prod = mul(prod, fn(a))
                elif isinstance(a, FloorDiv):
                    prod = mul(prod, floordiv(a.num.substitute(fn), a.den))
                else:
                    x, y = (v if isinstance(v, int) else v.substitute(fn) for v in a.operands())
                    prod = mul(prod, (maximum if a.op == "max" else minimum)(x, y))
            result = add(result, prod)
        return result

    # arithmetic -----------------------------------------------------------------
    def __eq__(self, other):
        if isinstance(other, DimExpr):
            return self.terms == other.terms
        return False

    def __hash__(self):
        return self._hash

    def __repr__(self):
        return format_dim(self)


Dim = Union[int, DimExpr]


def _norm(e: DimExpr) -> Dim:
    c = e.constant()
    return c if c is not None else e


def add(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    ea, eb = DimExpr.lift(a), DimExpr.lift(b)
    terms = dict(ea.terms)
    for m, c in eb.terms.items():
        terms[m] = terms.get(m, 0) + c
    return _norm(DimExpr(terms))


def neg(a: Dim) -> Dim:
    return mul(a, -1)


def sub(a: Dim, b: Dim) -> Dim:
    return add(a, neg(b))


def mul(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    ea, eb = DimExpr.lift(a), DimExpr.lift(b)
    terms: dict = {}
    for (m1, c1), (m2, c2) in itertools.product(ea.terms.items(), eb.terms.items()):
        m = tuple(sorted(m1 + m2, key=_atom_key))
        terms[m] = terms.get(m, 0) + c1 * c2
    return _norm(DimExpr(terms))


def floordiv(a: Dim, k: int) -> Dim:
    """`a // k` for a positive int k; exact when every coefficient divides."""
    if k <= 0:
        raise ShapeError(f"cannot divide a dimension by {k}")
    if isinstance(a, int):
        return a // k
    if all(c % k == 0 for c in a.terms.values()):
        return _norm(DimExpr({m: c // k for m, c in a.terms.items()}))
    return DimExpr.atom(FloorDiv(a, k))


def nonnegative(d: Dim) -> bool:
    """Whether `d >= 0` for every value of its symbols (symbols are extents, >= 0); False
    when it cannot be shown. A term `c*max(a, b)` or `c*min(a, b)` is one of `c*a` and
    `c*b`, and a lower bound by either when c > 0 for max (c < 0 for min): the first such
    atom is replaced by its operands."""
    if isinstance(d, int):
        return d >= 0
    for m, c in d.terms.items():
        if len(m) == 1 and isinstance(m[0], MinMax):
            rest = DimExpr({k: v for k, v in d.terms.items() if k != m})
            check = any if (c > 0) == (m[0].op == "max") else all
            return check(nonnegative(add(rest, mul(c, x))) for x in m[0].operands())
    return all(c >= 0 and all(_nonnegative_atom(a) for a in m) for m, c in d.terms.items())


def _nonnegative_atom(a) -> bool:
    if isinstance(a, Sym):
        return True
    if isinstance(a, FloorDiv):
        return nonnegative(a.num)
    check = any if a.op == "max" else all
    return check(nonnegative(x) for x in a.operands())


def _extremum(op: str, a: Dim, b: Dim) -> Dim:
    """max/min of `a` and `b`: nested atoms of the same op are flattened and an operand
    that never wins (known <= another for max, >= for min) is dropped."""
    items, todo = [], [a, b]
    while todo:
        x = _norm(DimExpr.lift(todo.pop(0)))
        atom = x.as_atom() if isinstance(x, DimExpr) else None
        if isinstance(atom, MinMax) and atom.op == op:
            todo[:0] = atom.operands()
        else:
            items.append(x)
    keep = []
    for x in items:
        if any(_wins(op, y, x) for y in keep):
            continue
        keep = [y for y in keep if not _wins(op, x, y)] + [x]
    keep = sorted(set(keep), key=lambda x: (isinstance(x, int), format_dim(x)))
    out = keep[0]
    for x in keep[1:]:
        out = DimExpr.atom(MinMax(op, out, x))
    return out


def _wins(op, y, x) -> bool:
    """Whether `y` is always at least as good as `x` for `op` (>= for max, <= for min)."""
    return nonnegative(sub(y, x) if op == "max" else sub(x, y))


def maximum(a: Dim, b: Dim) -> Dim:
    """`max(a, b)`: an int or the larger operand where that is known, else a `max` atom."""
    return _extremum("max", a, b)


def minimum(a: Dim, b: Dim) -> Dim:
    """`min(a, b)`: an int or the smaller operand where that is known, else a `min` atom."""
    return _extremum("min", a, b)


def distribute(d: Dim) -> Dim:
    """`p ± max/min(a, b)` (one such atom with coefficient ±1) as `max/min(p ± a, p ± b)`
    (the sign flips min and max), so that `N - min(2, N)` reads `max(N-2, 0)`."""
    if isinstance(d, int):
        return d
    for m, c in d.terms.items():
        if len(m) == 1 and isinstance(m[0], MinMax) and c in (1, -1):
            rest = DimExpr({k: v for k, v in d.terms.items() if k != m})
            x, y = (add(rest, mul(c, v)) for v in m[0].operands())
            flip = c < 0
            op = m[0].op if not flip else ("min" if m[0].op == "max" else "max")
            return _extremum(op, distribute(x), distribute(y))
    return d


def divide_exact(a: Dim, b: Dim):
    """`a / b` when symbolically exact (b divides every term), else None."""
    if isinstance(b, int):
        if isinstance(a, int):
            return a // b if b != 0 and a % b == 0 else None
        if b != 0 and all(c % b == 0 for c in a.terms.values()):
            return floordiv(a, b)
        return None
    eb = DimExpr.lift(b)
    if len(eb.terms) != 1:
        return None
    (mb, cb), = eb.terms.items()
    ea = DimExpr.lift(a)
    terms = {}
    for m, c in ea.terms.items():
        rest = list(m)
        for atom in mb:
            if atom not in rest:
                return None
            rest.remove(atom)
        if c % cb:
            return None
        terms[tuple(rest)] = c // cb
    return _norm(DimExpr(terms))


def product(dims) -> Dim:
    out: Dim = 1
    for d in dims:
        out = mul(out, d)
    return out


def is_static(d: Dim) -> bool:
    return isinstance(d, int)


def format_dim(d) -> str:
    """Text form used by the IR printer: `3`, `N0`, `N0*3`, `N0*N1+2`, `(N0*3//2)`."""
    if isinstance(d, int):
        return str(d)
    if isinstance(d, Sym):
        return d.name
    parts = []
    for m, c in sorted(d.terms.items(), key=lambda mc: (-len(mc[0]),
                                                         [_atom_key(a) for a in mc[0]])):
        atoms = [repr(a) for a in m]
        if not atoms:
            parts.append(str(c))
        elif c == 1:
            parts.append("*".join(atoms))
        elif c == -1:
            parts.append("-" + "*".join(atoms))
        else:
            parts.append("*".join(atoms) + f"*{c}")
    text = "+".join(parts).replace("+-", "-")
    return text or "0"


class SymbolTable:
    """Union-find over symbols, plus run-time equality checks.

    `unify(a, b, why)` makes two dims equal or raises `ShapeError`. `why` is a short
    string naming the op and location, kept for error messages.
    """

    def __init__(self, prefix: str = "N"):
        self._parent: dict[Sym, object] = {}
        self._why: dict[Sym, str] = {}
        self._counter = itertools.count()
        self.prefix = prefix
        self.checks: list[tuple[Dim, Dim, str]] = []
        self.bounds: list[tuple[Dim, Dim, str]] = []   # (a, b, why): a <= b at run time

    def new_symbol(self, origin: str = "") -> Sym:
        s = Sym(f"{self.prefix}{next(self._counter)}", origin)
        self._parent[s] = s
        return s

    def find(self, s: Sym):
        """The representative of `s`: a root Sym or an int."""
        path = []
        cur = s
        while isinstance(cur, Sym) and self._parent.get(cur, cur) != cur:
            path.append(cur)
            cur = self._parent[cur]
        for p in path:
            self._parent[p] = cur
        return cur

    def resolve(self, d: Dim) -> Dim:
        if isinstance(d, int):
            return d
        if isinstance(d, Sym):
            r = self.find(d)
            return r if isinstance(r, int) else DimExpr.atom(r)
        if not any(isinstance(a, Sym) and self.find(a) != a for a in d.atoms()):
            return d

        def sub_fn(s):
            r = self.find(s)
            return r if isinstance(r, int) else DimExpr.atom(r)

        return d.substitute(sub_fn)

    def merge_reason(self, s: Sym) -> str:
        return self._why.get(s, "")

    def require_le(self, a: Dim, b: Dim, why: str):
        """Record that `a <= b` must hold; raise now if both are static and it fails."""
        a, b = self.resolve(a), self.resolve(b)
        diff = sub(b, a)
        if isinstance(diff, int):
            if diff < 0:
                raise ShapeError(f"{format_dim(a)} <= {format_dim(b)} does not hold")
            return
        self.bounds.append((a, b, why))

    def unify(self, a: Dim, b: Dim, why: str) -> Dim:
        a, b = self.resolve(a), self.resolve(b)
        if a == b:
            return a
        if isinstance(a, int) and isinstance(b, int):
            raise ShapeError(f"dimension {a} is not equal to dimension {b}")
        sa = a.as_atom() if isinstance(a, DimExpr) else None
        sb = b.as_atom() if isinstance(b, DimExpr) else None
        if isinstance(sa, Sym) and isinstance(sb, Sym):
            keep, drop = (sa, sb) if sa < sb else (sb, sa)
            self._parent[drop] = keep
            self._why[drop] = why
            self._why.setdefault(keep, why)
            return DimExpr.atom(keep)
        if isinstance(sa, Sym) and isinstance(b, int):
            if b < 0:
                raise ShapeError(f"dimension {a} cannot equal {b}")
            self._parent[sa] = b
            self._why[sa] = why
            return b
        if isinstance(sb, Sym) and isinstance(a, int):
            return self.unify(b, a, why)
        self.checks.append((a, b, why))
        return a


def to_json(d):
    """The runtime's JSON form of a dim: int | "N0" | ["+", a, b] | ["*", a, b] |
    ["//", a, k] | ["max", a, b] | ["min", a, b] (see runtime/signature.py)."""
    if isinstance(d, int):
        return d
    out = None
    for m, c in sorted(d.terms.items(), key=lambda mc: [_atom_key(a) for a in mc[0]]):
        term = c if c != 1 or not m else None
        for a in m:
            if isinstance(a, Sym):
                aj = a.name
            elif isinstance(a, FloorDiv):
                aj = ["//", to_json(a.num), a.den]
            else:
                aj = [a.op, to_json(a.a), to_json(a.b)]
            term = aj if term is None else ["*", term, aj]
        out = term if out is None else ["+", out, term]
    return 0 if out is None else out
