"""Text form of the compiler IR: `print_program(program) -> str` and
`parse_program(text) -> Program`.

The two round-trip: `print_program(parse_program(print_program(p))) == print_program(p)`
and the parsed program has the same nodes (op, inputs, attrs, type, token, names, locs),
inputs, outputs, effects, symbols, checks, bounds, symbol origins and dim reasons. The grammar
is in docs/ir.md; a small example:

    program @main(%0: float32[N0,3]) symbols(N0) {
      origin N0 = ("x", 0)
      %0 = placeholder() {dtype=float32, name="x:0", shape=[N0,3]} : float32[N0,3]  # x @ m.py:3
      %1 = exp(%0) : float32[N0,3]  # Exp @ m.py:4
      return (%1)
    }

Nodes print in `Program.topo()` order, numbered %0, %1, ... The parser interns nodes
through a fresh `NodeCache` (so structurally equal lines become one node), re-runs each
op's shape inference and rejects a line whose printed type differs from the inferred
one; it does not run the program-level checks of `verify`. Every problem in the text is
a `ParseError` naming the line number and column and showing the line; hostile text
(deep nesting, huge expressions or integers) hits the limits in `textvalues.py` and is
a ParseError too, found in time linear in the text read. The printer never raises:
the parts of a malformed program (which the verifier is reporting) print as `<...>`,
which does not parse. Values (attrs, dims, types, constants) are in `textvalues.py`.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import operator
import re
from dataclasses import dataclass

from ..ops import OPS, InferContext
from . import dims as D
from . import nodes
from .nodes import Node, NodeCache, Program
from .regions import Region, region_attrs
from .textvalues import (
    VALUE_PARSERS,
    Cursor,
    ParseError,
    format_attr,
    format_dim,
    format_provenance,
    format_type,
    format_value,
    parse_dim,
    parse_int64,
    parse_items,
    parse_pair,
    parse_provenance,
    parse_string,
    parse_type,
    quote,
)
from .types import TensorType, TupleType

__all__ = ["ParseError", "Listing", "print_program", "parse_program", "render_program",
           "node_order", "type_problem"]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_NUMBER_DIGITS = 18   # %N: N stays an int64 and cheap to convert
_MAX_REGION_DEPTH = 64    # nested region blocks


# ---- printing ---------------------------------------------------------------------------
@dataclass
class Listing:
    """The printed lines of a program and where each part sits.

    `numbers` maps id(node) to the N of `%N`; `where` maps "header", ("origin", sym),
    ("reason", i, axis), ("node", id(node)), "return", ("effect", name), ("check", i)
    and ("bound", i) to a line index."""
    lines: list
    numbers: dict
    where: dict

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def print_program(program: Program, provenance: bool = True,
                  positional_tokens: bool = False) -> str:
    """The program's text. `provenance=False` leaves out everything that only names or
    locates things (the `# names @ file:line` comments, the program name, placeholder
    names, symbol origins and the reasons of dims, checks and bounds): the text that the
    compile cache hashes, so a rename or an edited comment never recompiles. That form
    is for hashing; it does not parse back. `positional_tokens` (implied by
    `provenance=False`) prints tokens as 1, 2, ... in print order, so the same program
    built again (with fresh tokens) prints the same."""
    return render_program(program, provenance, positional_tokens).text()


def node_order(program: Program) -> list:
    """The nodes in print order: `Program.topo()` order, with the nodes of each region
    (recursively) just before the region op that holds them. Anything that is not a
    Node is skipped, so a broken program (a dangling reference, a cycle) still prints
    for the verifier."""
    return [item for kind, item, _ in _events(program) if kind == "node"]


def _reach(roots) -> list:
    """Depth-first post-order over the Nodes reached from `roots`, never failing."""
    order, seen = [], set()
    for root in roots:
        if not isinstance(root, Node) or id(root) in seen:
            continue
        stack = [(root, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((i, False) for i in reversed(node.inputs)
                             if isinstance(i, Node) and id(i) not in seen)
    return order


def _events(program: Program) -> list:
    """("node", node, depth), ("open", region, depth) and ("close", region, depth) in
    print order; a node shared by several regions prints where it is first reached."""
    events, seen, opened = [], set(), set()

    def walk(nodes, depth):
        for node in nodes:
            if id(node) in seen:
                continue
            for _, region in region_attrs(node):
                if id(region) in opened:
                    continue
                opened.add(id(region))
                events.append(("open", region, depth))
                walk(_reach(list(region.params) + list(region.results)), depth + 1)
                events.append(("close", region, depth))
            seen.add(id(node))
            events.append(("node", node, depth))

    roots = list(program.outputs) + list(program.effects.values()) + list(program.inputs)
    walk(_reach(roots), 0)
    return events


def render_program(program: Program, provenance: bool = True,
                   positional_tokens: bool = False) -> Listing:
    events = _events(program)
    order = [item for kind, item, _ in events if kind == "node"]
    out = Listing([], {id(n): i for i, n in enumerate(order)}, {})
    names = {id(item): f"r{k}" for k, item in enumerate(
        item for kind, item, _ in events if kind == "open")}
    tokens = _token_numbers(order) if positional_tokens or not provenance else None

    def emit(key, line):
        out.where[key] = len(out.lines)
        out.lines.append(line)

    emit("header", _header(program, out.numbers, provenance))
    for name, origin in program.symbol_origins.items() if provenance else ():
        emit(("origin", name), f"  origin {name} = {_format_origin(origin)}")
    for (i, axis), why in program.input_dim_reasons.items() if provenance else ():
        emit(("reason", i, axis), f"  reason ({i}, {axis}) = {quote(why)}")
    for kind, item, depth in events:
        pad = "  " * (depth + 1)
        if kind == "node":
            emit(("node", id(item)),
                 pad + _node_text(item, out.numbers, provenance, names, tokens))
        elif kind == "open":
            params = ", ".join(_ref(p, out.numbers) for p in item.params)
            emit(("region", id(item)), f"{pad}region @{names[id(item)]}({params}) {{")
        else:
            results = ", ".join(_ref(r, out.numbers) for r in item.results)
            emit(("yield", id(item)), f"{pad}  yield ({results})")
            out.lines.append(pad + "}")
    emit("return", f"  return ({', '.join(_ref(n, out.numbers) for n in program.outputs)})")
    for name, node in program.effects.items():
        emit(("effect", name), f"  effect {quote(name)} = {_ref(node, out.numbers)}")
    for i, (a, b, why) in enumerate(program.checks):
        why = quote(why) if provenance else '""'
        emit(("check", i), f"  check {format_dim(a)} == {format_dim(b)} {why}")
    for i, (a, b, why) in enumerate(program.bounds):
        why = quote(why) if provenance else '""'
        emit(("bound", i), f"  bound {format_dim(a)} <= {format_dim(b)} {why}")
    out.lines.append("}")
    return out


def _token_numbers(order) -> dict:
    """token -> 1, 2, ... in print order: the provenance-free text names tokens by
    position, so the same program built in another process hashes the same."""
    numbers: dict = {}
    for node in order:
        if node.token and node.token not in numbers:
            numbers[node.token] = len(numbers) + 1
    return numbers


def _ref(node, numbers) -> str:
    if isinstance(node, Node) and id(node) in numbers:
        return f"%{numbers[id(node)]}"
    return f"<not a node: {node!r}>"


def _header(program, numbers, provenance=True) -> str:
    args = ", ".join(f"{_ref(n, numbers)}: {format_type(getattr(n, 'type', None))}"
                     for n in program.inputs)
    name = program.name if _IDENT.fullmatch(program.name) else quote(program.name)
    name = name if provenance else "_"
    text = f"program @{name}({args})"
    if program.symbols:
        syms = ", ".join(s.name if isinstance(s, D.Sym) else f"<{s!r}>"
                         for s in program.symbols)
        text += f" symbols({syms})"
    return text + " {"


def _format_origin(origin) -> str:
    if isinstance(origin, tuple) and len(origin) == 2 and isinstance(origin[0], str):
        return f"({quote(origin[0])}, {format_value(origin[1])})"
    return format_value(origin)


def _node_text(node: Node, numbers, provenance=True, regions=None, tokens=None) -> str:
    opdef = OPS.get(node.op)
    kinds = opdef.attrs if opdef is not None else {}
    args = ", ".join(_ref(i, numbers) for i in node.inputs)
    text = f"%{numbers[id(node)]} = {node.op}({args})"
    attrs = node.attrs
    if not provenance and node.op == "placeholder":  # a feed's name is not code
        attrs = tuple(a for a in attrs if not (isinstance(a, tuple) and a[0] == "name"))
    if attrs:
        fmt = _attr_text if provenance else _attr_key_text
        text += " {" + ", ".join(fmt(item, kinds, regions or {}) for item in attrs) + "}"
    text += f" : {format_type(node.type)}"
    if node.token:
        text += f" token={node.token if tokens is None else tokens[node.token]}"
    where = format_provenance(node.names, node.locs) if provenance else ""
    return text + (f"  # {where}" if where else "")


def _attr_text(item, kinds, regions) -> str:
    if not (isinstance(item, tuple) and len(item) == 2):
        return f"<{item!r}>"
    name, value = item
    if isinstance(value, Region):
        return f"{name}=@{regions.get(id(value), '<unprinted region>')}"
    return f"{name}={format_attr(value, kinds.get(name))}"


def _attr_key_text(item, kinds, regions) -> str:
    """`_attr_text` for the provenance-free form: a big constant prints as the sha256 of
    its bytes, which is much faster to make than its hex text (the compile cache hashes
    this form on every lookup)."""
    value = item[1] if isinstance(item, tuple) and len(item) == 2 else None
    array = getattr(value, "array", None)
    if getattr(array, "nbytes", 0) > 1024:
        data = array.astype(array.dtype.newbyteorder("<")).tobytes()
        shape = ",".join(str(d) for d in array.shape)
        digest = hashlib.sha256(data).hexdigest()
        return f"{item[0]}=dense<{array.dtype.name}[{shape}]>sha256:{digest}"
    return _attr_text(item, kinds, regions)


# ---- the type check (shared with the verifier) -------------------------------------------
def type_problem(opdef, in_types, attrs: dict, declared, why: str = ""):
    """None when `opdef.infer` on `in_types` and `attrs` gives `declared` without binding
    any symbol they use (dims compared after resolution in a fresh SymbolTable);
    otherwise a sentence saying what is wrong."""
    table = D.SymbolTable(prefix="new")
    try:
        inferred = opdef.infer(list(in_types), attrs, InferContext(table, why))
    except (TypeError, ValueError, IndexError, KeyError) as e:
        return f"type inference fails: {e}"
    if isinstance(inferred, TupleType) or isinstance(declared, TupleType):
        return _tuple_problem(table, in_types, inferred, declared)
    shapes = [x.shape for t in in_types
              for x in (t.types if isinstance(t, TupleType) else (t,))]
    bound = _bound_symbols(table, shapes + [declared.shape]
                           + [v for v in attrs.values() if isinstance(v, tuple)])
    if bound:
        return (f"inference needs {', '.join(bound)}, which the types of its inputs do "
                "not state")
    inferred = TensorType(inferred.dtype, InferContext(table).resolve_shape(inferred.shape))
    mine = declared.shape
    if isinstance(mine, tuple):
        mine = tuple(table.resolve(d) if isinstance(d, (int, D.DimExpr)) else d for d in mine)
    if declared.dtype is inferred.dtype and mine == inferred.shape:
        return None
    return (f"its type {format_type(declared)} is not the type inference gives for its "
            f"inputs and attributes, {format_type(inferred)}")


def _tuple_problem(table, in_types, inferred, declared):
    """type_problem for a region op's tuple type (the region types are checked by the
    op's inference, which unifies no symbol of a well-formed program)."""
    if not (isinstance(inferred, TupleType) and isinstance(declared, TupleType)):
        return (f"its type {format_type(declared)} is not the type inference gives, "
                f"{format_type(inferred)}")
    dims = [t.shape for t in in_types if isinstance(t, TensorType)]
    dims += [t.shape for t in declared.types if isinstance(t, TensorType)]
    bound = _bound_symbols(table, dims)
    if bound:
        return f"its regions' types differ from its inputs' types: {', '.join(bound)}"
    resolve = InferContext(table).resolve_shape
    got = tuple(TensorType(t.dtype, resolve(t.shape)) for t in inferred.types)
    if got != declared.types:
        return (f"its type {format_type(declared)} is not the type inference gives, "
                f"{format_type(TupleType(got))}")
    return None


def _bound_symbols(table: D.SymbolTable, dim_tuples) -> list:
    """`N0 == 3` for each symbol in `dim_tuples` that inference unified with something."""
    syms = {s for dims in dim_tuples for d in dims or () if isinstance(d, D.DimExpr)
            for s in d.symbols()}
    out = []
    for s in sorted(syms, key=operator.attrgetter("name")):
        found = table.find(s)
        if found != s:
            out.append(f"{s.name} == {D.format_dim(found)}")
    return out


# ---- parsing ----------------------------------------------------------------------------
def parse_program(text: str) -> Program:
    """The Program that `text` describes; raises `ParseError` naming the faulty line."""
    return _Parser(text).parse()


def _number(c: Cursor) -> int:
    text = c.take("var", "a value like %3")
    if len(text) > _MAX_NUMBER_DIGITS:
        c.pos -= 1
        raise c.error(f"the value number {text[:12]}... is too long")
    return int(text[1:])


def _symbol_name(c: Cursor) -> str:
    return c.take("ident", "a symbol name")


def _attr(c: Cursor, opdef, regions) -> tuple:
    name = c.take("ident", "an attribute name")
    kind = opdef.attrs.get(name)
    if kind is None:
        known = ", ".join(opdef.attrs) or "none"
        raise c.error(f"{opdef.name} has no attribute {name!r} (its attributes: {known})")
    c.expect("=")
    if kind == "region":
        c.expect("@")
        label = c.take("ident", "a region name like r0")
        if label not in regions:
            raise c.error(f"attribute {name}: no region @{label} is defined above")
        return name, regions[label]
    try:
        return name, VALUE_PARSERS[kind](c)
    except ParseError as e:
        raise c.error(f"attribute {name} ({kind}): {e.reason}") from None


def _extend_unique(items: list, new):
    for x in new:
        if x not in items:
            items.append(x)


class _Parser:
    """One pass over the lines; a node may only use nodes defined on earlier lines."""

    def __init__(self, text: str):
        self.syms: dict = {}
        self.lines = []
        for i, line in enumerate(text.splitlines(), 1):
            cursor = Cursor(i, line, self.syms)
            if cursor.peek()[0] != "end":  # blank and comment-only lines say nothing
                self.lines.append(cursor)
        self.defined_at = {}
        for c in self.lines:
            kind, text = c.peek()
            if kind == "var" and c.token_at(1) == ("punct", "=") \
                    and len(text) <= _MAX_NUMBER_DIGITS:
                self.defined_at.setdefault(int(text[1:]), c.lineno)
        self.cache = NodeCache()
        self.values: dict = {}
        self.outputs = None
        self.effects, self.origins, self.reasons = {}, {}, {}
        self.checks, self.bounds = [], []
        self.max_token = 0
        self.handlers = {"return": self.ret, "effect": self.effect, "check": self.check,
                         "bound": self.bound, "origin": self.origin, "reason": self.reason,
                         "region": self.region, "yield": self.yield_, "}": self.close}
        self.regions: dict = {}    # label -> Region, once its block is closed
        self.open: list = []       # the blocks being read: [label, param numbers, results, cursor]

    def parse(self) -> Program:
        if not self.lines:
            raise ParseError("the text is empty; expected 'program @name(...) {'")
        first, last = self.lines[0], self.lines[-1]
        name, args, symbols = self.header(first)
        if len(self.lines) < 2 or last.peek()[1] != "}":
            raise last.error("expected the program to end with a line '}'")
        last.expect("}")
        last.finish()
        for c in self.lines[1:-1]:
            self.statement(c)
        if self.open:
            raise self.open[-1][3].error(f"region @{self.open[-1][0]} is never closed "
                                         "with '}'")
        if self.outputs is None:
            raise last.error("the program has no 'return (...)' statement")
        inputs = [self.header_input(first, number, ty) for number, ty in args]
        for sym, origin in self.origins.items():
            if isinstance(origin, tuple) and sym in self.syms:
                self.syms[sym].origin = f"{origin[0]}[{origin[1]}]"
        nodes.reserve_tokens(self.max_token)  # later nodes never merge with parsed ones
        return Program(inputs=inputs, outputs=self.outputs, effects=self.effects,
                       symbols=[first.sym(s) for s in symbols], checks=self.checks,
                       bounds=self.bounds, symbol_origins=self.origins,
                       input_dim_reasons=self.reasons, name=name)

    def header(self, c: Cursor):
        c.expect("program")
        c.expect("@")
        name = parse_string(c) if c.peek()[0] == "str" else c.take("ident", "a name")
        c.expect("(")
        args = parse_items(c, self.header_arg, ")")
        symbols = []
        if c.accept("symbols"):
            c.expect("(")
            symbols = parse_items(c, _symbol_name, ")")
            if len(set(symbols)) != len(symbols):
                raise c.error("a symbol is listed twice")
        c.expect("{")
        c.finish()
        return name, args, symbols

    def header_arg(self, c: Cursor):
        number = _number(c)
        c.expect(":")
        return number, parse_type(c)

    def header_input(self, c: Cursor, number: int, ty):
        node = self.values.get(number)
        if node is None:
            raise c.error(f"input %{number} is not defined in the program")
        if node.type != ty:
            raise c.error(f"input %{number} is declared {format_type(ty)} here but defined "
                          f"as {format_type(node.type)}")
        return node

    def statement(self, c: Cursor):
        kind, word = c.peek()
        if kind == "var":
            self.node(c)
        elif word in self.handlers:
            c.pos += 1
            self.handlers[word](c)
        else:
            raise c.error(f"expected '%N = op(...)' or one of {', '.join(self.handlers)}; "
                          f"got {c.shown()}")
        c.finish()

    def use(self, c: Cursor) -> Node:
        number = _number(c)
        if number in self.values:
            return self.values[number]
        if number in self.defined_at:
            raise c.error(f"%{number} is used before its definition on line "
                          f"{self.defined_at[number]}")
        raise c.error(f"%{number} is not defined")

    def node(self, c: Cursor):
        number = _number(c)
        if self.defined_at.get(number, c.lineno) != c.lineno:
            raise c.error(f"%{number} is already defined on line {self.defined_at[number]}")
        c.expect("=")
        col = c.column()   # the op: where arity and type faults are reported
        opdef = self.opdef(c)
        c.expect("(")
        inputs = parse_items(c, self.use, ")")
        if opdef.arity is not None and len(inputs) != opdef.arity:
            raise c.error(f"{opdef.name} takes {opdef.arity} input(s), got {len(inputs)}",
                          col)
        attrs = self.attrs(c, opdef)
        c.expect(":")
        ty = parse_type(c)
        token = self.token(c)
        c.finish()
        why = f"{opdef.name} at line {c.lineno}"
        problem = type_problem(opdef, [n.type for n in inputs], attrs, ty, why)
        if problem:
            raise c.error(f"{opdef.name}: {problem}", col)
        node = self.cache.make(opdef.name, inputs, attrs, ty, token)
        names, locs = parse_provenance(c)
        _extend_unique(node.names, names)
        _extend_unique(node.locs, locs)
        self.values[number] = node

    def opdef(self, c: Cursor):
        op = c.take("ident", "an op name")
        if op not in OPS:
            close = difflib.get_close_matches(op, OPS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise c.error(f"unknown op {op!r}{hint}")
        return OPS[op]

    def attrs(self, c: Cursor, opdef) -> dict:
        """`{name=value, ...}`, optional when the op has no attributes."""
        out = {}
        items = parse_items(c, functools.partial(_attr, opdef=opdef, regions=self.regions),
                            "}") if c.accept("{") else []
        for name, value in items:
            if name in out:
                raise c.error(f"attribute {name} is given twice")
            out[name] = value
        missing = [k for k in opdef.attrs if k not in out]
        if missing:
            raise c.error(f"{opdef.name} needs attribute(s) {', '.join(missing)}")
        return out

    def token(self, c: Cursor) -> int:
        if not c.accept("token"):
            return 0
        c.expect("=")
        token = parse_int64(c)
        if token <= 0:
            raise c.error(f"a token is a positive integer, not {token}")
        self.max_token = max(self.max_token, token)
        return token

    def region(self, c: Cursor):
        """`region @rK(%params...) {`: the lines up to the matching `}` are its body."""
        c.expect("@")
        label = c.take("ident", "a region name like r0")
        if label in self.regions or any(b[0] == label for b in self.open):
            raise c.error(f"region @{label} is defined twice")
        if len(self.open) >= _MAX_REGION_DEPTH:
            raise c.error(f"regions nest more than {_MAX_REGION_DEPTH} deep")
        c.expect("(")
        params = parse_items(c, _number, ")")
        c.expect("{")
        self.open.append([label, params, None, c])

    def yield_(self, c: Cursor):
        if not self.open:
            raise c.error("'yield' outside a region")
        if self.open[-1][2] is not None:
            raise c.error(f"a second 'yield' in region @{self.open[-1][0]}")
        c.expect("(")
        self.open[-1][2] = parse_items(c, self.use, ")")

    def close(self, c: Cursor):
        if not self.open:
            raise c.error("'}' closes no region (the program's own '}' is its last line)")
        label, params, results, start = self.open.pop()
        if results is None:
            raise c.error(f"region @{label} has no 'yield (...)' statement")
        nodes_ = []
        for number in params:
            node = self.values.get(number)
            if node is None or node.op != "param":
                raise start.error(f"region @{label}: its parameter %{number} is not a "
                                  "param node defined in the region")
            nodes_.append(node)
        self.regions[label] = Region(nodes_, results)

    def ret(self, c: Cursor):
        if self.open:
            raise c.error(f"'return' inside region @{self.open[-1][0]}; a region ends "
                          "with 'yield (...)'")
        if self.outputs is not None:
            raise c.error("a second 'return' statement")
        c.expect("(")
        self.outputs = parse_items(c, self.use, ")")

    def effect(self, c: Cursor):
        name = parse_string(c)
        if name in self.effects:
            raise c.error(f"variable {name!r} has two effect statements")
        c.expect("=")
        self.effects[name] = self.use(c)

    def check(self, c: Cursor):
        a = parse_dim(c)
        c.expect("==")
        b = parse_dim(c)
        self.checks.append((a, b, parse_string(c)))

    def bound(self, c: Cursor):
        a = parse_dim(c)
        c.expect("<=")
        b = parse_dim(c)
        self.bounds.append((a, b, parse_string(c)))

    def origin(self, c: Cursor):
        sym = _symbol_name(c)
        if sym in self.origins:
            raise c.error(f"symbol {sym} has two origin statements")
        c.expect("=")
        if c.accept("none"):
            self.origins[sym] = None
            return
        c.expect("(")
        op = parse_string(c)
        c.expect(",")
        self.origins[sym] = (op, parse_int64(c))
        c.expect(")")

    def reason(self, c: Cursor):
        key = parse_pair(c)
        c.expect("=")
        self.reasons[key] = parse_string(c)
