"""`fc.nn.rnn_cell` and `fc.nn.static_rnn`: TF1's LSTM cells, unrolled over time.

A cell is called as `cell(inputs, state) -> (output, new_state)` on [batch, input]
tensors; `cell.zero_state(batch_size, dtype)` gives the initial state (`batch_size` an
int, a symbolic dim `x.shape[0]` or `fc.shape(x)[0]`). The first call creates the
variables under the cell's variable scope (by default `basic_lstm_cell` / `lstm_cell`,
made unique, inside the current variable scope): `kernel` [input + hidden, 4 * units]
and `bias` [4 * units], gates in TF1's order i, j, f, o:

    new_c = c * sigmoid(f + forget_bias) + sigmoid(i) * activation(j)
    new_h = activation(new_c) * sigmoid(o)

Later calls (time steps) reuse the same variables. A new cell made with `reuse=True`
(or `AUTO_REUSE`) takes the existing variables of its scope, as in TF1. `LSTMCell` adds peepholes
(`w_f_diag`, `w_i_diag`, `w_o_diag`), `cell_clip`, and a projection (`num_proj`,
`projection/kernel`, optionally clipped by `proj_clip`). The state is an
`LSTMStateTuple(c, h)`, or with `state_is_tuple=False` the concatenation [c, h].

`static_rnn(cell, inputs, initial_state=None, dtype=None, scope=None)` runs the cell over
a Python list of [batch, input] tensors inside `variable_scope(scope or "rnn")` and
returns (outputs list, final state). `sequence_length` is not supported (it raises).
Nothing here runs a graph.
"""

from __future__ import annotations

import collections
import types

from ..ir import dtypes as T
from .array_ops import zeros
from .control_flow import name_scope
from .core import convert_to_tensor, known_shape
from .manip_ops import concat, split
from .math_ops import add, clip_by_value, matmul, sigmoid, tanh
from .variable_scope import get_variable, variable_scope


class LSTMStateTuple(collections.namedtuple("LSTMStateTuple", ("c", "h"))):
    """The LSTM state: the cell state `c` and the output `h`."""

    __slots__ = ()

    @property
    def dtype(self):
        if self.c.dtype is not self.h.dtype:
            raise TypeError(f"LSTMStateTuple: c and h have different dtypes "
                            f"({self.c.dtype.name}, {self.h.dtype.name})")
        return self.c.dtype


class RNNCell:
    """Base of the cells: scope handling (variables made on the first call and reused
    afterwards) and `zero_state`. Subclasses define `state_size`, `output_size`,
    `_build(input_depth, dtype)` and `_step(inputs, state)`."""

    _default_name = "rnn_cell"

    def __init__(self, name=None, dtype=None, reuse=None):
        self._name = name
        self._reuse = reuse
        self._dtype = T.as_dtype(dtype) if dtype is not None else None
        self._scope = None

    def __call__(self, inputs, state, scope=None):
        x = convert_to_tensor(inputs)
        dims = known_shape(x, type(self).__name__)
        if len(dims) != 2 or not isinstance(dims[-1], int):
            raise ValueError(f"{type(self).__name__}: inputs must be [batch, depth] with a "
                             f"static depth, got {list(dims)}")
        if self._scope is None:
            with self._first_scope(scope) as vs:
                self._scope = vs
                self._build(dims[-1], self._dtype or x.dtype)
                return self._step(x, state)
        with variable_scope(self._scope, reuse=True):
            return self._step(x, state)

    def _first_scope(self, scope):
        """TF1's layer scope: `scope`, else the cell's name or default name made unique;
        with `reuse`, that name as is, reusing the variables already there."""
        base = self._name or self._default_name
        if self._reuse:
            return variable_scope(scope or base, reuse=self._reuse)
        return variable_scope(scope, default_name=base)

    def zero_state(self, batch_size, dtype):
        """Zeros of the state's structure, [batch_size, size] each."""
        with name_scope(type(self).__name__ + "ZeroState"):
            size = self.state_size
            if isinstance(size, tuple):
                return type(size)(*(zeros([batch_size, s], dtype=dtype) for s in size))
            return zeros([batch_size, size], dtype=dtype)

    @property
    def trainable_variables(self):
        return list(self._variables())

    variables = trainable_variables

    def _variables(self):
        return ()


class BasicLSTMCell(RNNCell):
    """TF1's `BasicLSTMCell`: no peepholes, no clipping, no projection."""

    _default_name = "basic_lstm_cell"

    def __init__(self, num_units, forget_bias=1.0, state_is_tuple=True, activation=None,
                 reuse=None, name=None, dtype=None):
        super().__init__(name, dtype, reuse)
        self._num_units = int(num_units)
        self._forget_bias = float(forget_bias)
        self._state_is_tuple = bool(state_is_tuple)
        self._activation = activation or tanh
        self._kernel = self._bias = None

    @property
    def state_size(self):
        n = self._num_units
        return LSTMStateTuple(n, n) if self._state_is_tuple else 2 * n

    @property
    def output_size(self):
        return self._num_units

    def _variables(self):
        return (self._kernel, self._bias)

    def _build(self, depth, dtype):
        n = self._num_units
        self._kernel = get_variable("kernel", [depth + n, 4 * n], dtype=dtype)
        self._bias = get_variable("bias", [4 * n], dtype=dtype,
                                  initializer=_zeros_init())

    def _step(self, x, state):
        c, h = _unpack(state, self._state_is_tuple, self._num_units)
        gates = add(matmul(concat([x, h], 1), self._kernel), self._bias)
        i, j, f, o = split(gates, 4, axis=1)
        act = self._activation
        forget = sigmoid(f + self._forget_bias)
        new_c = c * forget + sigmoid(i) * act(j)
        new_h = act(new_c) * sigmoid(o)
        return new_h, _pack(new_c, new_h, self._state_is_tuple)


class LSTMCell(RNNCell):
    """TF1's `LSTMCell`: optional peepholes, cell clipping and output projection."""

    _default_name = "lstm_cell"

    def __init__(self, num_units, use_peepholes=False, cell_clip=None, initializer=None,
                 num_proj=None, proj_clip=None, num_unit_shards=None, num_proj_shards=None,
                 forget_bias=1.0, state_is_tuple=True, activation=None, reuse=None,
                 name=None, dtype=None):
        if num_unit_shards is not None or num_proj_shards is not None:
            raise NotImplementedError("LSTMCell: sharded variables are not supported")
        super().__init__(name, dtype, reuse)
        self._num_units = int(num_units)
        self._use_peepholes = bool(use_peepholes)
        self._cell_clip = cell_clip
        self._initializer = initializer
        self._num_proj = None if num_proj is None else int(num_proj)
        self._proj_clip = proj_clip
        self._forget_bias = float(forget_bias)
        self._state_is_tuple = bool(state_is_tuple)
        self._activation = activation or tanh
        self._vars = {}

    @property
    def state_size(self):
        n, out = self._num_units, self.output_size
        return LSTMStateTuple(n, out) if self._state_is_tuple else n + out

    @property
    def output_size(self):
        return self._num_proj or self._num_units

    def _variables(self):
        return tuple(self._vars.values())

    def _build(self, depth, dtype):
        n, init = self._num_units, self._initializer
        v = self._vars
        v["kernel"] = get_variable("kernel", [depth + self.output_size, 4 * n], dtype=dtype,
                                   initializer=init)
        v["bias"] = get_variable("bias", [4 * n], dtype=dtype, initializer=_zeros_init())
        if self._use_peepholes:
            for key in ("w_f_diag", "w_i_diag", "w_o_diag"):
                v[key] = get_variable(key, [n], dtype=dtype, initializer=init)
        if self._num_proj is not None:
            with variable_scope("projection"):
                v["projection"] = get_variable("kernel", [n, self._num_proj], dtype=dtype,
                                               initializer=init)

    def _step(self, x, state):
        v, act = self._vars, self._activation
        c, h = _unpack(state, self._state_is_tuple, self._num_units)
        gates = add(matmul(concat([x, h], 1), v["kernel"]), v["bias"])
        i, j, f, o = split(gates, 4, axis=1)
        if self._use_peepholes:
            f = f + v["w_f_diag"] * c
            i = i + v["w_i_diag"] * c
        new_c = sigmoid(f + self._forget_bias) * c + sigmoid(i) * act(j)
        if self._cell_clip is not None:
            new_c = clip_by_value(new_c, -self._cell_clip, self._cell_clip)
        if self._use_peepholes:
            o = o + v["w_o_diag"] * new_c
        m = sigmoid(o) * act(new_c)
        if self._num_proj is not None:
            m = matmul(m, v["projection"])
            if self._proj_clip is not None:
                m = clip_by_value(m, -self._proj_clip, self._proj_clip)
        return m, _pack(new_c, m, self._state_is_tuple)


def _zeros_init():
    from .init_ops import zeros_initializer
    return zeros_initializer()


def _unpack(state, is_tuple, num_units):
    if is_tuple:
        c, h = state
        return convert_to_tensor(c), convert_to_tensor(h)
    state = convert_to_tensor(state)
    depth = known_shape(state, "LSTM state")[-1]
    return split(state, [num_units, depth - num_units], axis=1)


def _pack(c, h, is_tuple):
    return LSTMStateTuple(c, h) if is_tuple else concat([c, h], 1)


def static_rnn(cell, inputs, initial_state=None, dtype=None, sequence_length=None,
               scope=None):
    """Unroll `cell` over the list `inputs` ([batch, input] each); returns (outputs list,
    final state). The cell's variables are made at the first step and shared by all."""
    if sequence_length is not None:
        raise NotImplementedError("static_rnn: sequence_length is not supported by flowc; "
                                  "pad the sequences and mask the outputs instead")
    if not isinstance(inputs, (list, tuple)) or not inputs:
        raise TypeError("static_rnn: inputs must be a non-empty list of [batch, input] "
                        "tensors")
    inputs = [convert_to_tensor(x) for x in inputs]
    with variable_scope(scope or "rnn") as varscope:
        state = initial_state
        if state is None:
            if dtype is None:
                raise ValueError("static_rnn: if no initial_state is provided, dtype must "
                                 "be specified")
            batch = known_shape(inputs[0], "static_rnn")[0]
            state = cell.zero_state(batch, dtype)
        outputs = []
        for t, x in enumerate(inputs):
            if t > 0:
                varscope.reuse_variables()
            out, state = cell(x, state)
            outputs.append(out)
    return outputs, state


# `fc.nn.rnn_cell`: TF1's namespace of cells.
rnn_cell = types.SimpleNamespace(RNNCell=RNNCell, BasicLSTMCell=BasicLSTMCell,
                                 LSTMCell=LSTMCell, LSTMStateTuple=LSTMStateTuple)

__all__ = ["RNNCell", "BasicLSTMCell", "LSTMCell", "LSTMStateTuple", "static_rnn",
           "rnn_cell"]
