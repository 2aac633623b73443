"""Expanding the deferred ops of the user's graph (compiler/frontend/deferred.py) while
`convert` builds a program, when every rank is known from the feeds.

`Expansion(op, inputs, child)` builds the "deferred" op `op` in a scratch `Graph`: one
placeholder per input, shaped like the converted input node (a program dim appearing in
several inputs is one scratch symbol, so equal dims stay equal), then `build(*placeholders)`
under the op's name as scope, every scratch op located at the op's file:line (the
scratch graph's `fixed_loc`).
`child(graph, placeholders, nodes, sym_map)` (given by convert) returns a converter of
the scratch graph sharing the program's symbol table and node cache, whose placeholders
are the input nodes. `out` is the tensor `build` returned; `grad(index, grad_node)`
adds `tf.gradients` of that output to the same scratch graph (once per incoming
gradient), so a random draw in `build` is one draw for the value and its gradients; an
op made with `deferred(..., grad=fn)` gets `fn(*inputs, output, grad)` there instead.
Errors raised while building are `CompileError`s naming the deferred op and its line.
"""

from __future__ import annotations

import itertools

from .autodiff.gradients import gradients
from .errors import CompileError
from .frontend.array_ops import zeros_like
from .frontend.core import make
from .frontend.graph import Graph, GraphError, Tensor
from .ir import dims as D

_BUILD_ERRORS = (TypeError, ValueError, IndexError, KeyError, GraphError, D.ShapeError)
_SCRATCH = itertools.count()   # each scratch graph names its symbols apart (X<k>_<n>)


class Expansion:
    def __init__(self, op, nodes, child):
        self.op = op
        self.graph = Graph()
        # a dim of the user's graph that `build` captured keeps its own name, so the
        # scratch converter can tell it from its own and ask its parent for it
        self.graph.symbols = D.SymbolTable(prefix=f"X{next(_SCRATCH)}_")
        self.graph.fixed_loc = op.loc   # what it builds was written on the op's line
        self._dims = {}          # program dim -> scratch DimExpr
        self._sym_map = {}       # scratch Sym -> program dim
        self._grads = {}         # id(grad node) -> list of scratch gradient tensors
        with self._building():
            self.inputs = [self._placeholder(f"input_{i}", n.type) for i, n in enumerate(nodes)]
            out = op.attrs["build"](*self.inputs)
        if not isinstance(out, Tensor) or out.graph is not self.graph:
            raise CompileError(f"{op.describe()}: its build function returned {out!r}, not "
                               "a tensor built from its arguments")
        self.out = out
        self.converter = child(self.graph, self.inputs, list(nodes), self._sym_map)

    def _building(self):
        return _Building(self)

    def _placeholder(self, name, ty):
        shape = tuple(self._scratch_dim(d) for d in ty.shape)
        return make("placeholder", [], name=name, dtype=ty.dtype, shape=shape)

    def _scratch_dim(self, d):
        if isinstance(d, int):
            return d
        if d not in self._dims:
            s = self.graph.symbols.new_symbol(f"{self.op.name}[{len(self._dims)}]")
            self._dims[d] = D.DimExpr.atom(s)
            self._sym_map[s] = d
        return self._dims[d]

    def grad(self, index, grad_node):
        """The scratch tensor of d(output)/d(input `index`) weighted by `grad_node`."""
        key = id(grad_node)
        if key not in self._grads:
            with self._building():
                g = self._placeholder("grad", grad_node.type)
                self.converter.feed(g, grad_node)
                custom = self.op.attrs.get("grad")
                self._grads[key] = (list(custom(*self.inputs, self.out, g)) if custom
                                    else gradients([self.out], self.inputs, grad_ys=[g]))
        got = self._grads[key][index]
        if got is None:
            with self._building():
                got = zeros_like(self.inputs[index])
        return got


class _Building:
    """Builds into the scratch graph under the op's name; build errors name the op."""

    def __init__(self, expansion):
        self.e = expansion

    def __enter__(self):
        self._default = self.e.graph.as_default()
        self._default.__enter__()
        self._scope = self.e.graph.name_scope(self.e.op.name + "/")
        self._scope.__enter__()

    def __exit__(self, kind, err, tb):
        self._scope.__exit__(kind, err, tb)
        self._default.__exit__(kind, err, tb)
        if isinstance(err, _BUILD_ERRORS):
            raise CompileError(f"{self.e.op.describe()}: {err}") from None
        return False
