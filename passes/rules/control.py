"""Rules for the control-flow ops.

- `get(cond(c, operands...))` with a constant predicate `c` is the taken branch's
  result, inlined: the branch's nodes are re-made over the operands (a cond whose every
  result is read this way disappears).
- `get(while(...))` of a loop whose cond region yields the constant False is the
  initial value of that loop variable (the body never runs).
"""

from __future__ import annotations

from compiler.ir.regions import Region

from .base import Rule


def inline(region: Region, args, rb):
    """The results of `region` re-made over `args` (nodes of the rebuild `rb`)."""
    values = {id(p): a for p, a in zip(region.params, args)}
    for node in region.topo():
        if id(node) in values:
            continue
        values[id(node)] = rb.copy(node, [values[id(i)] for i in node.inputs])
    return [values[id(r)] for r in region.results]


def _constant_bool(node):
    if node.op != "constant" or node.attr["value"].array.shape != ():
        return None
    return bool(node.attr["value"].array)


def constant_predicate(node, rb):
    """get(cond(true/false, xs...)) -> the then/else branch's result, inlined."""
    tup = node.inputs[0]
    if tup.op != "cond":
        return None
    taken = _constant_bool(tup.inputs[0])
    if taken is None:
        return None
    branch = tup.attr["then" if taken else "else"]
    return inline(branch, tup.inputs[1:], rb)[node.attr["index"]]


def never_runs(node, rb):
    """get(while(init...)) with a cond yielding constant False -> init."""
    tup = node.inputs[0]
    if tup.op != "while" or _constant_bool(tup.attr["cond"].results[0]) is not False:
        return None
    return tup.inputs[node.attr["index"]]


RULES = [
    Rule("cond_constant_predicate", ("get",), constant_predicate),
    Rule("while_never_runs", ("get",), never_runs),
]
