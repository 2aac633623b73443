"""Random-graph differential test of the default pass pipeline (hypothesis; derandomized
in CI by the profile tests/conftest.py loads).

Each example builds a small random program from elementwise, cast, movement, reduce,
constant and state primitives (over a symbolic-batch input, a static input, an int and a
bool input, and a variable), runs the default pipeline, and requires that the result
verifies, keeps every output's type, and gives bit-identical outputs and variable values
on the reference interpreter — with NaN, inf and signed zeros among the inputs and the
constants. The rewrites are exact (no reassociation), so no tolerance is needed.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from test_passes import assert_same_results

from compiler.ir import dims as D
from compiler.ir import dtypes as T
from compiler.ir.const import Const
from compiler.ir.nodes import Program, new_token
from compiler.ir.types import TensorType
from compiler.ir.verify import verify
from passes.manager import run_pipeline
from passes.rewrite import Rebuilder

N0 = D.DimExpr.atom(D.Sym("N0"))
SCALARS = [0.0, -0.0, 1.0, 2.0, -1.5, 0.5, float("nan"), float("inf")]
UNARY = ["neg", "abs", "exp", "tanh", "floor", "sqrt", "stop_gradient", "logical_not"]
BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "less", "equal", "logical_and"]
KINDS = ["constant", "unary", "binary", "select", "cast", "transpose", "reshape",
         "broadcast", "slice", "concat", "pad", "reduce", "random", "constant_binary"]


class RandomProgram:
    """Builds nodes through one cache; inference that fails or would bind a symbol (the
    Rebuilder's rules) just means the drawn op is skipped."""

    def __init__(self, draw):
        self.draw = draw
        self.rb = Rebuilder(Program([], [], {}, []))
        self.inputs = [self.placeholder("x:0", T.float32, (N0, 3)),
                       self.placeholder("y:0", T.float32, (2, 3)),
                       self.placeholder("i:0", T.int32, (N0, 3)),
                       self.placeholder("b:0", T.bool_, (2, 3))]
        self.variable = self.make("variable", [], var="v", dtype=T.float32, shape=(3,))
        self.pool = self.inputs + [self.variable]

    def placeholder(self, name, dtype, shape):
        attrs = {"name": name, "dtype": dtype, "shape": shape}
        return self.rb.cache.make("placeholder", (), attrs, TensorType(dtype, shape))

    def make(self, op, inputs, **attrs):
        return self.rb.build(op, inputs, **attrs)

    def pick(self, dtype=None):
        pool = [n for n in self.pool if dtype is None or n.dtype is dtype]
        return self.draw(st.sampled_from(pool)) if pool else None

    def grow(self, kind):
        node = getattr(self, "_" + kind)()
        if node is not None:
            self.pool.append(node)

    # one method per kind of node --------------------------------------------------------
    def _constant(self):
        dtype = self.draw(st.sampled_from([T.float32, T.float64, T.int32, T.bool_]))
        shape = self.draw(st.sampled_from([(), (3,), (2, 3)]))
        values = [self.draw(st.sampled_from(SCALARS)) for _ in range(int(np.prod(shape)))]
        if self.draw(st.booleans()):
            values = values[:1] * len(values)   # a splat, which the rules look for
        with np.errstate(invalid="ignore"):
            array = np.array(values, np.float64).astype(dtype.np).reshape(shape)
        return self.make("constant", [], value=Const(array))

    def _unary(self):
        return self.make(self.draw(st.sampled_from(UNARY)), [self.pick()])

    def _binary(self):
        a = self.pick()
        return self.make(self.draw(st.sampled_from(BINARY)), [a, self.pick(a.dtype)])

    def _constant_binary(self):
        """A binary op over constant-only operands, which fold_constants folds."""
        constants = [n for n in self.pool if n.op == "constant"]
        if not constants:
            return None
        a = self.draw(st.sampled_from(constants))
        b = self.draw(st.sampled_from([n for n in constants if n.dtype is a.dtype]))
        return self.make(self.draw(st.sampled_from(BINARY)), [a, b])

    def _select(self):
        a = self.pick()
        return self.make("select", [self.pick(T.bool_), a, self.pick(a.dtype)])

    def _cast(self):
        return self.make("cast", [self.pick()], dtype=self.draw(st.sampled_from(T.ALL)))

    def _transpose(self):
        x = self.pick()
        rank = len(x.shape)
        perm = self.draw(st.permutations(list(range(rank)))) if rank else []
        return self.make("transpose", [x], perm=tuple(perm))

    def _reshape(self):
        x = self.pick()
        shape = self.draw(st.sampled_from([(-1,), tuple(x.shape), (1,) + tuple(x.shape)]))
        return self.make("reshape", [x], shape=shape)

    def _broadcast(self):
        x = self.pick()
        lead = self.draw(st.sampled_from([(), (2,), (1,)]))
        return self.make("broadcast", [x], shape=lead + tuple(x.shape))

    def _slice(self):
        x = self.pick()
        if not x.shape:
            return None
        begin = [0] * len(x.shape)
        size = list(x.shape)
        if isinstance(size[-1], int) and size[-1] > 1 and self.draw(st.booleans()):
            begin[-1], size[-1] = 1, size[-1] - 1
        return self.make("slice", [x], begin=tuple(begin), size=tuple(size),
                         stride=(1,) * len(size))

    def _concat(self):
        x = self.pick()
        if not x.shape:
            return None
        parts = [x] if self.draw(st.booleans()) else [x, self.pick(x.dtype)]
        return self.make("concat", parts, axis=len(x.shape) - 1)

    def _pad(self):
        x = self.pick()
        if not x.shape:   # the pad reference (np.pad) rejects a rank-0 input
            return None
        pads = tuple(self.draw(st.sampled_from([(0, 0), (1, 0)])) for _ in x.shape)
        values = SCALARS if x.dtype.is_float else SCALARS[:6]  # the reference cannot pad
        return self.make("pad", [x], pads=pads,              # ints with nan or inf
                         value=self.draw(st.sampled_from(values)))

    def _reduce(self):
        x = self.pick()
        op = self.draw(st.sampled_from(["reduce_sum", "reduce_max"]))
        axes = self.draw(st.sampled_from([None, (len(x.shape) - 1,)])) if x.shape else None
        return self.make(op, [x], axes=axes, keepdims=self.draw(st.booleans()))

    def _random(self):
        attrs = {"shape": (3,), "dtype": T.float32, "seed": 1, "op_seed": 2}
        return self.rb.cache.make("random_uniform", (), attrs, TensorType(T.float32, (3,)),
                                  new_token())

    def program(self) -> Program:
        count = self.draw(st.integers(1, 3))
        outputs = [self.pool[-1]] + [self.pick() for _ in range(count - 1)]
        effects = {}
        writes = [n for n in self.pool if n.type == self.variable.type]
        value = self.draw(st.sampled_from(writes))   # the variable itself: a no-op write
        effects["v"] = self.rb.cache.make("assign", (value,), {"var": "v", "dtype": T.float32,
                                          "shape": (3,)}, self.variable.type, new_token())
        return Program(self.inputs, outputs, effects, [D.Sym("N0")])


@st.composite
def random_programs(draw):
    builder = RandomProgram(draw)
    for _ in range(draw(st.integers(2, 14))):
        builder.grow(draw(st.sampled_from(KINDS)))
    return builder.program()


@settings(max_examples=60)
@given(random_programs(), st.sampled_from([1, 3, 4]))
def test_default_pipeline_preserves_results_bit_for_bit(p, size):
    verify(p)
    out, report = run_pipeline(p)
    verify(out)
    assert [o.type for o in out.outputs] == [o.type for o in p.outputs]
    assert_same_results(p, out, size=size, seeds=(0,))
