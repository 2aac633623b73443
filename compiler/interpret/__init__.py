"""The reference interpreter: runs a compiler-IR `Program` with numpy through the op
table's `ref` functions. It is the oracle every compiled path is tested against.

`interpret(program, feeds, variables, counter)` takes the feed arrays in argument order,
the current variable values (name -> array) and the run counter, and returns
`(outputs, updates)`: the fetched arrays in order and the new value of every assigned
variable. It applies the same boundary check as the runtime and raises the same
exceptions (FeedError, UninitializedVariableError, ExecutionError, and
ResourceExhaustedError when a value cannot be allocated), naming the node.
It never mutates `variables`.

Control flow runs as written: `while` evaluates its cond region and then its body region
with the params bound to the carried values (and the loop-invariant inputs) until the
cond yields False, iteration k drawing random numbers with the run counter folded with k
(`runtime.loop_counter.fold_iteration`); `cond` evaluates the taken branch only; `get`
picks a tuple element.
"""

from __future__ import annotations

import time

import numpy as np

from runtime.errors import ExecutionError, UninitializedVariableError, resource_exhausted
from runtime.executable import Executable, prepare_feed
from runtime.loop_counter import fold_iteration
from runtime.signature import bind, check_size
from runtime.variables import READ, WRITE

from ..ir import dims as D
from ..ir.regions import program_nodes
from ..ir.signature import program_signature
from ..ir.types import TupleType
from ..ops import get, shape_attr_names


def eval_attr(value, env):
    if isinstance(value, D.DimExpr):
        return value.evaluate(env)
    if isinstance(value, tuple):
        return tuple(eval_attr(v, env) for v in value)
    return value


def eval_shape(shape, env):
    return tuple(d if isinstance(d, int) else d.evaluate(env) for d in shape)


def interpret(program, feeds, variables=None, counter=0, trace=None):
    variables = variables or {}
    feeds = [prepare_feed(f) for f in feeds]
    signature = program_signature(program)
    env = bind(signature, feeds)
    for node in program_nodes(program):  # sizes from the fed dims must fit int64
        for ty in _types(node):
            check_size(eval_shape(ty.shape, env), ty.dtype.np.itemsize, node.describe(), env)
    values: dict = {}
    for i, node in enumerate(program.inputs):
        values[id(node)] = feeds[i]
    _run_nodes(program.topo(), values, variables, env, counter, (signature, feeds), trace)
    outputs = [values[id(n)] for n in program.outputs]
    updates = {name: values[id(n)] for name, n in program.effects.items()}
    return outputs, updates


def _types(node) -> tuple:
    return node.type.types if isinstance(node.type, TupleType) else (node.type,)


def _run_nodes(order, values, variables, env, counter, run, trace=None):
    """Evaluate `order`'s nodes not yet in `values`; `trace` (RunOptions' FULL_TRACE)
    receives one (user name, op, start ns, end ns) record per node of the program (a
    loop or branch is one record)."""
    for node in order:
        if id(node) in values:
            continue
        start = time.perf_counter_ns() if trace is not None else 0
        values[id(node)] = _eval_node(node, values, variables, env, counter, run)
        if trace is not None:
            trace.append((node.names[0] if node.names else node.op, node.op, start,
                          time.perf_counter_ns()))


def run_region(region, args, variables, env, counter, run=(None, ())) -> list:
    """The results of `region` with its params bound to `args` (arrays)."""
    values = {id(p): a for p, a in zip(region.params, args)}
    _run_nodes(region.topo(), values, variables, env, counter, run)
    return [values[id(r)] for r in region.results]


def _eval_control(node, args, variables, env, counter, run):
    attrs = node.attr
    if node.op == "get":
        return args[0][attrs["index"]]
    if node.op == "cond":
        branch = attrs["then"] if bool(args[0]) else attrs["else"]
        return tuple(run_region(branch, args[1:], variables, env, counter, run))
    carried, invariant = list(args[:attrs["carried"]]), list(args[attrs["carried"]:])
    k = 0
    while True:   # iteration k draws with the folded counter (runtime/loop_counter.py)
        step = fold_iteration(counter, k)
        if not bool(run_region(attrs["cond"], carried + invariant, variables, env, step,
                               run)[0]):
            return tuple(carried)
        carried = run_region(attrs["body"], carried + invariant, variables, env, step, run)
        k += 1


def _eval_node(node, values, variables, env, counter, run=(None, ())):
    """The node's value; `run` is (signature, feeds), named when memory runs out."""
    if get(node.op).fusion == "control":
        return _eval_control(node, [values[id(i)] for i in node.inputs], variables, env,
                             counter, run)
    if node.op == "param":
        raise ExecutionError(f"{node.describe()} is not bound: a param outside its region")
    if node.op == "variable":
        name = node.attr["var"]
        if name not in variables:
            raise UninitializedVariableError(
                f"attempting to use uninitialized variable {name!r} ({node.describe()}); "
                "run fc.global_variables_initializer() or its initializer first")
        return variables[name]
    if node.op == "placeholder":
        raise ExecutionError(f"{node.describe()} was not fed")
    opdef = get(node.op)
    attrs = node.attr
    for k in shape_attr_names(opdef):
        if attrs[k] is not None:
            attrs[k] = eval_attr(attrs[k], env)
    if opdef.needs_counter:
        attrs["counter"] = counter
    args = [values[id(i)] for i in node.inputs]
    try:
        out = opdef.ref(*args, **attrs)
    except IndexError as e:
        raise ExecutionError(f"{node.describe()}: {e}") from None
    except MemoryError:
        raise resource_exhausted(node.describe(), eval_shape(node.shape, env),
                                 node.dtype.np, *run,
                                 [D.to_json(d) for d in node.shape]) from None
    out = np.asarray(out)
    want = eval_shape(node.shape, env)
    if out.shape != want or out.dtype != node.dtype.np:
        raise AssertionError(f"reference of {node.describe()} returned {out.dtype}"
                             f"{list(out.shape)}, its type says {node.type} = {want}")
    return out


class InterpretedProgram(Executable):
    """Runs a Program with the interpreter behind the runtime's executable interface
    (`runtime.executable.Executable`: device "cpu", no fast path, no stage texts)."""
    device = "cpu"

    def __init__(self, program):
        self.program = program
        self.texts = {}
        self._reads = {n.attr["var"]: n for n in program.topo() if n.op == "variable"}
        # updates are new arrays, committed after the run: never in place
        self.variable_access = WRITE if program.effects else READ if self._reads else None

    @property
    def signature(self):
        return program_signature(self.program)

    def run(self, feeds, store, counter=0, out=None, trace=None):
        variables = {name: store.get(name, node.describe())
                     for name, node in self._reads.items()}
        outputs, updates = interpret(self.program, feeds, variables, counter, trace)
        originals = {id(a) for a in list(feeds) + list(variables.values())}
        outputs = [np.array(o) if id(o) in originals else o for o in outputs]
        store.commit({k: np.array(v) for k, v in updates.items()})
        for k, target in enumerate(out or []):
            if target is not None:
                np.copyto(target, outputs[k])
                outputs[k] = target
        return outputs
