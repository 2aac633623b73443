"""The values of the IR text form: how attribute values, dims, types, constants and
provenance print, and the line lexer and grammar functions that read them back.

`text.py` builds programs out of these; docs/ir.md has the grammar. The formatting
functions never raise (a value of an unexpected Python type prints as `<repr>`, which
does not parse); the `parse_*` functions take a `Cursor` over one line's tokens and
raise `ParseError` naming that line.
"""

from __future__ import annotations

import functools
import json
import math
import re

import numpy as np

from . import dims as D
from . import dtypes as T
from .const import Const
from .types import TensorType, TupleType, format_tuple_type

INLINE_LIMIT = 16   # constants with more elements print as the hex of their bytes

# Limits that keep parsing a hostile text linear-time and off the Python stack: each is
# far beyond what any printed program holds, and exceeding one is a ParseError.
MAX_NESTING = 64         # parentheses and unary minus nested in one dimension
MAX_DIM_FACTORS = 256    # integers and symbols in one dimension expression
MAX_DIM_TERMS = 4096     # terms of one dimension expression once multiplied out
MAX_RANK = 64            # dims of one type (numpy's limit)
MAX_INT_DIGITS = 40      # an integer literal (any 64-bit value has at most 20)
INT64_MAX = 2**63 - 1

_BARE_PROVENANCE = re.compile(r"[A-Za-z0-9_.:/<>\[\]\-]+")
DTYPES = {d.name: d for d in T.ALL}


class ParseError(ValueError):
    """Malformed IR text. The message names the line number and the column (1-based, of
    the token where the fault was found) and shows the line."""

    def __init__(self, reason: str, lineno: int = 0, line: str = "", col: int = 0):
        self.reason, self.lineno, self.line, self.col = reason, lineno, line, col
        where = f"line {lineno}: column {col}: " if col else f"line {lineno}: "
        text = f"{where}{reason}\n  {lineno:>4} | {line.strip()}" if lineno else reason
        super().__init__(text)


# ---- printing ---------------------------------------------------------------------------
def quote(s: str) -> str:
    """A double-quoted, ASCII-only string literal (JSON escapes)."""
    return json.dumps(s)


def format_value(v) -> str:
    """Text of one attribute value, chosen by the value's Python type."""
    if v is None:
        return "none"
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, str):
        return quote(v)
    if isinstance(v, T.DType):
        return v.name
    if isinstance(v, (D.DimExpr, D.Sym)):
        return format_dim(v)
    if isinstance(v, Const):
        return format_const(v)
    if isinstance(v, (tuple, list)):
        return "[" + ",".join(_format_item(x) for x in v) + "]"
    return f"<{v!r}>"


def _format_item(v) -> str:
    if isinstance(v, tuple):
        return "(" + ",".join(format_value(x) for x in v) + ")"
    return format_value(v)


def format_attr(value, kind=None) -> str:
    """Text of an attribute of `kind`; a float attribute holding an int prints as float."""
    is_int = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if kind == "float" and is_int:
        return repr(float(value))
    return format_value(value)


def format_dim(d) -> str:
    try:
        return D.format_dim(d)
    except (AttributeError, TypeError):
        return f"<{d!r}>"


def format_type(t) -> str:
    """`float32[N0,3]`, `float32[]` (a scalar), `float32[*]` (unknown rank); a region
    op's tuple is `tuple<float32[], int32[N0]>`."""
    if isinstance(t, TupleType) and isinstance(t.types, tuple):
        return format_tuple_type(t, format_type)
    if not (isinstance(t, TensorType) and isinstance(t.dtype, T.DType)):
        return f"<{t!r}>"
    if t.shape is None:
        return t.dtype.name + "[*]"
    if not isinstance(t.shape, tuple):
        return f"{t.dtype.name}<{t.shape!r}>"
    return f"{t.dtype.name}[{','.join(format_dim(d) for d in t.shape)}]"


def format_const(c: Const) -> str:
    """`dense<float32[2]>[1.0, 2.5]` when small and exact as decimals, else
    `dense<float32[64]>"0x..."`: the little-endian bytes in row-major order."""
    arr = c.array
    head = f"dense<{arr.dtype.name}[{','.join(str(d) for d in arr.shape)}]>"
    if arr.size <= INLINE_LIMIT:
        texts = [_element_text(x) for x in arr.reshape(-1)]
        if _reads_back(texts, arr):
            return head + _nest(texts, arr.shape)
    data = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    return head + '"0x' + data.hex().upper() + '"'


def _element_text(x) -> str:
    if isinstance(x, np.bool_):
        return "true" if x else "false"
    if isinstance(x, np.integer):
        return str(int(x))
    return str(x)  # numpy's shortest text that reads back as this value of its dtype


def _element_value(text: str, kind: str):
    if kind == "b":
        return text == "true"
    return int(text) if kind in "iu" else float(text)


def _reads_back(texts, arr) -> bool:
    """Whether the decimal texts parse back to exactly the same bytes (NaN payloads and
    signs do not; such constants print as hex)."""
    values = [_element_value(t, arr.dtype.kind) for t in texts]
    return np.array(values, dtype=arr.dtype).tobytes() == arr.tobytes()


def _nest(texts, shape) -> str:
    if not shape:
        return texts[0]
    step = math.prod(shape[1:])
    rows = [_nest(texts[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]
    return "[" + ", ".join(rows) + "]"


def format_provenance(names, locs) -> str:
    """`name1, name2 @ loc1, loc2`; items that are not plain words are quoted."""
    names_text = ", ".join(_provenance_item(n) for n in names)
    if not locs:
        return names_text
    locs_text = ", ".join(_provenance_item(loc) for loc in locs)
    return f"{names_text} @ {locs_text}" if names_text else f"@ {locs_text}"


def _provenance_item(s) -> str:
    s = str(s)
    return s if _BARE_PROVENANCE.fullmatch(s) else quote(s)


# ---- lexing -----------------------------------------------------------------------------
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<comment>\#.*)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<var>%\d+)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>//|==|<=|[()\[\]{},=:*+\-<>@])
""", re.VERBOSE)
_PROVENANCE_TOKEN = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*")|(@)|(,)|([^\s,"@]+))')


class Cursor:
    """The tokens of one line, consumed left to right by the grammar functions.

    Tokens are (kind, text) with kind in str, var, num, ident, punct; a `#` comment is
    kept apart in `comment`. `syms` is shared by every line of a text, so a symbol
    name means one `Sym` throughout a program."""

    def __init__(self, lineno: int, text: str, syms: dict):
        self.lineno, self.text, self.syms = lineno, text, syms
        self.tokens, self.cols, self.comment, self.pos = [], [], "", 0
        self.depth = self.factors = 0   # nesting and size of the dim being read
        self._scanned = 0             # the line is lexed lazily, up to what is read

    def _lex(self, index: int):
        """Lex until token `index` exists or the line ends (so a fault early in a very
        long line is reported without lexing the rest)."""
        text, pos = self.text, self._scanned
        while len(self.tokens) <= index and pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:
                raise self.error(f"unexpected character {text[pos]!r}", pos + 1)
            if m.lastgroup == "comment":
                self.comment = m.group()[1:]
            elif m.lastgroup != "space":
                self.tokens.append((m.lastgroup, m.group()))
                self.cols.append(pos + 1)
            pos = self._scanned = m.end()

    def token_at(self, index: int):
        """The token at `index` (absolute), or ("end", "")."""
        self._lex(index)
        return self.tokens[index] if index < len(self.tokens) else ("end", "")

    def column(self) -> int:
        """The 1-based column of the next token (one past the line's end at its end)."""
        self._lex(self.pos)
        return self.cols[self.pos] if self.pos < len(self.cols) else len(self.text) + 1

    def error(self, reason: str, col: int = 0) -> ParseError:
        """A ParseError at `col`, by default the column of the next token."""
        return ParseError(reason, self.lineno, self.text, col or self.column())

    def peek(self):
        return self.token_at(self.pos)

    def shown(self) -> str:
        kind, text = self.peek()
        return "the end of the line" if kind == "end" else repr(text)

    def accept(self, text: str) -> bool:
        if self.peek()[1] == text:
            self.pos += 1
            return True
        return False

    def expect(self, text: str):
        if not self.accept(text):
            raise self.error(f"expected {text!r}, got {self.shown()}")

    def take(self, kind: str, what: str) -> str:
        token_kind, text = self.peek()
        if token_kind != kind:
            raise self.error(f"expected {what}, got {self.shown()}")
        self.pos += 1
        return text

    def finish(self):
        if self.peek()[0] != "end":
            raise self.error(f"unexpected {self.shown()} after a complete statement")

    def sym(self, name: str) -> D.Sym:
        return self.syms.setdefault(name, D.Sym(name))


# ---- parsing ------------------------------------------------------------------------------
def parse_items(c: Cursor, item, close: str) -> list:
    """`item (, item)* close` or just `close`; the opening bracket is already taken."""
    out = []
    if c.accept(close):
        return out
    while True:
        out.append(item(c))
        if c.accept(close):
            return out
        c.expect(",")


def parse_int(c: Cursor) -> int:
    """An integer literal of at most 64 bits (signed or unsigned)."""
    sign = -1 if c.accept("-") else 1
    text = c.take("num", "an integer")
    if not text.isdigit():
        raise c.error(f"expected an integer, got {text!r}")
    if len(text) > MAX_INT_DIGITS or int(text) >= 2**64:
        raise c.error(f"the integer {_clip(text)} does not fit in 64 bits")
    return sign * int(text)


def parse_int64(c: Cursor) -> int:
    """An integer in int64's range (attribute values)."""
    value = parse_int(c)
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise c.error(f"the integer {value} is outside int64's range")
    return value


def _clip(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:10]}...{text[-10:]} ({len(text)} digits)"


def parse_float(c: Cursor) -> float:
    sign = -1.0 if c.accept("-") else 1.0
    kind, text = c.peek()
    if kind != "num" and text not in ("nan", "inf"):
        raise c.error(f"expected a number, nan or inf, got {c.shown()}")
    c.pos += 1
    return sign * float(text)


def parse_bool(c: Cursor) -> bool:
    word = c.take("ident", "true or false")
    if word not in ("true", "false"):
        raise c.error(f"expected true or false, got {word!r}")
    return word == "true"


def parse_string(c: Cursor) -> str:
    return unquote(c, c.take("str", "a string"))


def unquote(c: Cursor, text: str) -> str:
    try:
        return json.loads(text)
    except ValueError:
        raise c.error(f"bad escape in string {text}") from None


def parse_dtype(c: Cursor) -> T.DType:
    name = c.take("ident", "a dtype")
    if name not in DTYPES:
        raise c.error(f"unknown dtype {name!r} (flowc has {', '.join(DTYPES)})")
    return DTYPES[name]


def parse_dim(c: Cursor):
    """`[-] term ((+|-) term)*`, built canonically through dims.add/sub/mul/floordiv.
    Every integer in it (constant, coefficient) stays in int64's range, and its size
    stays within MAX_NESTING, MAX_DIM_FACTORS and MAX_DIM_TERMS."""
    outer = c.depth == 0
    if outer:
        c.factors = 0
    total = _neg(c, _term(c)) if c.accept("-") else _term(c)
    while c.peek()[1] in ("+", "-"):
        op = c.take("punct", "+ or -")
        term = _term(c)
        total = _checked(c, D.add(total, term if op == "+" else _neg(c, term)))
    if outer:
        c.factors = 0
    return total


def _neg(c: Cursor, value):
    return _checked(c, D.neg(value))


def _term(c: Cursor):
    value = _factor(c)
    while c.accept("*"):
        factor = _factor(c)
        if _size(value) * _size(factor) > MAX_DIM_TERMS:
            raise c.error(f"the dimension expression multiplies out to more than "
                          f"{MAX_DIM_TERMS} terms")
        value = _checked(c, D.mul(value, factor))
    return value


def _size(d) -> int:
    return len(d.terms) if isinstance(d, D.DimExpr) else 1


def _checked(c: Cursor, d):
    """`d`, after checking that its integers fit int64 and its size the limits."""
    values = [d] if isinstance(d, int) else d.terms.values()
    if any(not -INT64_MAX - 1 <= v <= INT64_MAX for v in values):
        raise c.error(f"the dimension arithmetic leaves int64's range "
                      f"({_clip(format_dim(d))})")
    if _size(d) > MAX_DIM_TERMS:
        raise c.error(f"the dimension expression has more than {MAX_DIM_TERMS} terms")
    return d


def _factor(c: Cursor):
    """An integer, a symbol, `-factor`, `(dim)`, the floor quotient `(dim // k)` or
    `max(dim,dim)` / `min(dim,dim)`."""
    kind, text = c.peek()
    if kind in ("num", "ident"):
        c.factors += 1
        if c.factors > MAX_DIM_FACTORS:
            raise c.error(f"the dimension expression has more than {MAX_DIM_FACTORS} "
                          "integers and symbols")
    if kind == "num":
        return _checked(c, parse_int(c))
    if kind == "ident":
        c.pos += 1
        if text in ("max", "min") and c.accept("("):
            a = parse_dim(c)
            c.expect(",")
            b = parse_dim(c)
            c.expect(")")
            return D.maximum(a, b) if text == "max" else D.minimum(a, b)
        return D.DimExpr.atom(c.sym(text))
    if text not in ("-", "("):
        raise c.error(f"expected a dimension, got {c.shown()}")
    if c.depth >= MAX_NESTING:
        raise c.error(f"the dimension expression nests more than {MAX_NESTING} levels")
    c.depth += 1
    try:
        return _nested_factor(c)
    finally:
        c.depth -= 1


def _nested_factor(c: Cursor):
    if c.accept("-"):
        return _neg(c, _factor(c))
    c.expect("(")
    inner = parse_dim(c)
    if c.accept("//"):
        k = parse_int(c)
        if k <= 0:
            raise c.error(f"a dimension can only be divided by a positive integer, not {k}")
        inner = _checked(c, D.floordiv(inner, k))
    c.expect(")")
    return inner


def parse_type(c: Cursor) -> TensorType:
    """`dtype[dims]` or `dtype[*]`; a static dim is in [0, 2**63), the rank at most
    MAX_RANK; `tuple<type, ...>` (a region op's result)."""
    if c.accept("tuple"):
        c.expect("<")
        return TupleType(tuple(parse_items(c, _tensor_type, ">")))
    return _tensor_type(c)


def _tensor_type(c: Cursor) -> TensorType:
    dtype = parse_dtype(c)
    c.expect("[")
    if c.accept("*"):
        c.expect("]")
        return TensorType(dtype, None)
    col = c.cols[c.pos - 1]   # the '['
    shape = tuple(parse_items(c, _type_dim, "]"))
    if len(shape) > MAX_RANK:
        raise c.error(f"a type has at most {MAX_RANK} dims, this one {len(shape)}", col)
    return TensorType(dtype, shape)


def _type_dim(c: Cursor):
    col = c.column()
    d = parse_dim(c)
    if isinstance(d, int) and d < 0:
        raise c.error(f"a dimension of a type cannot be negative ({d})", col)
    return d


def _list_of(item, c: Cursor) -> tuple:
    c.expect("[")
    return tuple(parse_items(c, item, "]"))


def _optional(parse, c: Cursor):
    return None if c.accept("none") else parse(c)


def parse_pair(c: Cursor) -> tuple:
    c.expect("(")
    lo = parse_int64(c)
    c.expect(",")
    hi = parse_int64(c)
    c.expect(")")
    return (lo, hi)


def parse_const(c: Cursor) -> Const:
    c.expect("dense")
    c.expect("<")
    ty = parse_type(c)
    c.expect(">")
    if ty.shape is None or not all(isinstance(d, int) and d >= 0 for d in ty.shape):
        raise c.error("a constant's shape must be static")
    npd = ty.dtype.np
    if c.peek()[0] == "str":
        return Const(_const_bytes(c, npd, ty.shape))
    elem = {"b": parse_bool, "i": parse_int, "u": parse_int}.get(npd.kind, parse_float)
    flat = _const_data(c, ty.shape, elem)
    try:
        return Const(np.array(flat, dtype=npd).reshape(ty.shape))
    except (OverflowError, ValueError) as e:
        raise c.error(f"constant data does not fit {ty.dtype.name}: {e}") from None


def _const_data(c: Cursor, shape, elem) -> list:
    """The elements of a nested list of `shape`, flattened in row-major order."""
    if not shape:
        return [elem(c)]
    c.expect("[")
    rows = parse_items(c, functools.partial(_const_data, shape=shape[1:], elem=elem), "]")
    if len(rows) != shape[0]:
        raise c.error(f"constant data has {len(rows)} rows where its shape "
                      f"{list(shape)} needs {shape[0]}")
    return [x for row in rows for x in row]


def _const_bytes(c: Cursor, npd, shape):
    raw = parse_string(c)
    want = math.prod(shape) * npd.itemsize
    try:
        data = bytes.fromhex(raw[2:]) if raw.startswith("0x") else None
    except ValueError:
        data = None
    if data is None or len(data) != want:
        raise c.error(f'constant bytes must be "0x" and then {want} bytes in hex')
    return np.frombuffer(data, npd.newbyteorder("<")).astype(npd).reshape(shape)


def _region_label(c: Cursor):
    raise c.error("a region attribute names a region block (@r0) and is read by the "
                  "program parser (text.py), not as a value")


VALUE_PARSERS = {
    "int": parse_int64,
    "region": _region_label,
    "float": parse_float,
    "bool": parse_bool,
    "str": parse_string,
    "dtype": parse_dtype,
    "ints": functools.partial(_list_of, parse_int64),
    "dims": functools.partial(_list_of, parse_dim),
    "dims_opt": functools.partial(_optional, functools.partial(_list_of, parse_dim)),
    "axes": functools.partial(_optional, functools.partial(_list_of, parse_int64)),
    "value": parse_const,
    "pairs": functools.partial(_list_of, parse_pair),
}


def parse_provenance(c: Cursor) -> tuple:
    """(names, locs) from a node line's trailing comment `names @ locs`."""
    names, locs = [], []
    current, pos, text = names, 0, c.comment.rstrip()
    while pos < len(text):
        m = _PROVENANCE_TOKEN.match(text, pos)
        if m is None:
            raise c.error("cannot read the provenance comment `names @ locations`")
        pos = m.end()
        quoted, at, _comma, bare = m.groups()
        if at and current is locs:
            raise c.error("the provenance comment has two '@'")
        if at:
            current = locs
        elif quoted or bare:
            current.append(unquote(c, quoted) if quoted else bare)
    return names, locs
