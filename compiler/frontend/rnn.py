"""`fc.nn.rnn_cell` and `fc.nn.static_rnn`: TF1's RNN cells, unrolled over time.

A cell is called as `cell(inputs, state) -> (output, new_state)` on [batch, input]
tensors; `cell.zero_state(batch_size, dtype)` gives the initial state (`batch_size` an
int, a symbolic dim `x.shape[0]` or `fc.shape(x)[0]`). The first call creates the
variables under the cell's variable scope (by default `basic_lstm_cell` / `lstm_cell` /
`basic_rnn_cell` / `gru_cell`, made unique, inside the current variable scope); later
calls (time steps) reuse them. A new cell made with `reuse=True` (or `AUTO_REUSE`) takes
the existing variables of its scope, as in TF1. LSTM cells have `kernel`
[input + hidden, 4 * units] and `bias` [4 * units], gates in TF1's order i, j, f, o:

    new_c = c * sigmoid(f + forget_bias) + sigmoid(i) * activation(j)
    new_h = activation(new_c) * sigmoid(o)

`LSTMCell` adds peepholes (`w_f_diag`, `w_i_diag`, `w_o_diag`), `cell_clip`, and a
projection (`num_proj`, `projection/kernel`, optionally clipped by `proj_clip`). The
LSTM state is an `LSTMStateTuple(c, h)`, or with `state_is_tuple=False` [c, h].
`BasicRNNCell`, `GRUCell` (`gates/kernel`, `gates/bias`, `candidate/kernel`,
`candidate/bias`), `MultiRNNCell` (`cell_K/...`, a tuple state) and `DropoutWrapper`
(`fc.nn.dropout` on inputs, outputs, state) follow TF1 too.

`static_rnn(cell, inputs, initial_state=None, dtype=None, sequence_length=None,
scope=None)` runs the cell over a Python list of [batch, input] tensors inside
`variable_scope(scope or "rnn")` and returns (outputs list, final state); with
`sequence_length` each step selects rows (outputs past a row's end are zero, its state
is copied through). `static_bidirectional_rnn` adds a backward cell run on the sequence
reversed within each row's length (a gather). Nothing here runs a graph.
"""

from __future__ import annotations

import collections
import hashlib
import types

from ..ir import dtypes as T
from .array_ops import shape, zeros, zeros_like
from .control_flow import name_scope
from .core import constant, convert_to_tensor, known_shape, make, stack
from .manip_ops import concat, gather, reshape, split, where
from .math_ops import add, cast, clip_by_value, greater_equal, less, matmul, sigmoid, tanh
from .random_ops import dropout
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

    def _ensure_built(self, depth, dtype, scope=None):
        """Make the variables now (what the first call would do), for a caller about to
        call the cell inside a loop body: dynamic_rnn builds them before its
        while_loop, so they live outside the loop as in TF1."""
        if self._scope is None and hasattr(self, "_build"):
            with self._first_scope(scope) as vs:
                self._scope = vs
                self._build(depth, dtype)
                self._build_children(depth, dtype)

    def _build_children(self, depth, dtype):
        pass

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
            return _zeros_of(self.state_size, batch_size, dtype)

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
            arg = "num_unit_shards" if num_unit_shards is not None else "num_proj_shards"
            raise NotImplementedError(f"LSTMCell: {arg} (sharded variables) is not "
                                      "supported by flowc")
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


class _VectorStateCell(RNNCell):
    """A cell whose state and output are both one [batch, num_units] tensor."""

    @property
    def state_size(self):
        return self._num_units

    @property
    def output_size(self):
        return self._num_units


class BasicRNNCell(_VectorStateCell):
    """TF1's `BasicRNNCell`: `output = new_state = activation([x, h] @ kernel + bias)`."""

    _default_name = "basic_rnn_cell"

    def __init__(self, num_units, activation=None, reuse=None, name=None, dtype=None):
        super().__init__(name, dtype, reuse)
        self._num_units = int(num_units)
        self._activation = activation or tanh
        self._kernel = self._bias = None

    def _variables(self):
        return (self._kernel, self._bias)

    def _build(self, depth, dtype):
        n = self._num_units
        self._kernel = get_variable("kernel", [depth + n, n], dtype=dtype)
        self._bias = get_variable("bias", [n], dtype=dtype, initializer=_zeros_init())

    def _step(self, x, state):
        h = convert_to_tensor(state)
        out = self._activation(add(matmul(concat([x, h], 1), self._kernel), self._bias))
        return out, out


class GRUCell(_VectorStateCell):
    """TF1's `GRUCell` (Cho et al. 2014), TF1's formula and variable names:

        r, u = split(sigmoid([x, h] @ gates/kernel + gates/bias), 2)
        c = activation([x, r * h] @ candidate/kernel + candidate/bias)
        new_h = u * h + (1 - u) * c

    `gates/bias` starts at 1.0 unless `bias_initializer` is given (as TF1)."""

    _default_name = "gru_cell"

    def __init__(self, num_units, activation=None, reuse=None, kernel_initializer=None,
                 bias_initializer=None, name=None, dtype=None):
        super().__init__(name, dtype, reuse)
        self._num_units = int(num_units)
        self._activation = activation or tanh
        self._kernel_init = kernel_initializer
        self._bias_init = bias_initializer
        self._vars = {}

    def _variables(self):
        return tuple(self._vars.values())

    def _build(self, depth, dtype):
        from .init_ops import constant_initializer
        n, v = self._num_units, self._vars
        with variable_scope("gates"):
            v["gates/kernel"] = get_variable("kernel", [depth + n, 2 * n], dtype=dtype,
                                             initializer=self._kernel_init)
            v["gates/bias"] = get_variable(
                "bias", [2 * n], dtype=dtype,
                initializer=self._bias_init or constant_initializer(1.0, dtype=dtype))
        with variable_scope("candidate"):
            v["candidate/kernel"] = get_variable("kernel", [depth + n, n], dtype=dtype,
                                                 initializer=self._kernel_init)
            v["candidate/bias"] = get_variable("bias", [n], dtype=dtype,
                                               initializer=self._bias_init or _zeros_init())

    def _step(self, x, state):
        v = self._vars
        h = convert_to_tensor(state)
        value = sigmoid(add(matmul(concat([x, h], 1), v["gates/kernel"]), v["gates/bias"]))
        r, u = split(value, 2, axis=1)
        c = self._activation(add(matmul(concat([x, r * h], 1), v["candidate/kernel"]),
                                 v["candidate/bias"]))
        new_h = u * h + (1 - u) * c
        return new_h, new_h


class MultiRNNCell(RNNCell):
    """TF1's `MultiRNNCell`: the cells stacked, each one's output the next one's input;
    the state is the tuple of the cells' states, their variables under
    `multi_rnn_cell/cell_K/...`."""

    _default_name = "multi_rnn_cell"

    def __init__(self, cells, state_is_tuple=True):
        super().__init__()
        cells = list(cells) if isinstance(cells, (list, tuple)) else None
        if not cells:
            raise ValueError("MultiRNNCell: cells must be a non-empty list of RNNCells")
        if not state_is_tuple:
            raise NotImplementedError("MultiRNNCell: state_is_tuple=False (deprecated in "
                                      "TF1) is not supported by flowc")
        for c in cells:
            if not isinstance(c, RNNCell):
                raise TypeError(f"MultiRNNCell: {c!r} is not an RNNCell")
        self._cells = cells

    @property
    def state_size(self):
        return tuple(c.state_size for c in self._cells)

    @property
    def output_size(self):
        return self._cells[-1].output_size

    def zero_state(self, batch_size, dtype):
        with name_scope("MultiRNNCellZeroState"):
            return tuple(c.zero_state(batch_size, dtype) for c in self._cells)

    def _variables(self):
        return tuple(v for c in self._cells for v in c.variables)

    def _build(self, depth, dtype):
        pass

    def _build_children(self, depth, dtype):
        for i, cell in enumerate(self._cells):
            with variable_scope(f"cell_{i}"):
                cell._ensure_built(depth, dtype)
            depth = cell.output_size

    def _step(self, x, state):
        if not isinstance(state, (list, tuple)) or len(state) != len(self._cells):
            raise ValueError(f"MultiRNNCell: expected a state tuple of {len(self._cells)} "
                             f"cell states, got {state!r}")
        cur, new_states = x, []
        for i, cell in enumerate(self._cells):
            with variable_scope(f"cell_{i}"):
                cur, s = cell(cur, state[i])
            new_states.append(s)
        return cur, tuple(new_states)


class DropoutWrapper(RNNCell):
    """TF1's `DropoutWrapper`: `fc.nn.dropout` on the cell's inputs, outputs and new state
    with the given keep probabilities (floats or tensors; a Python 1 adds nothing). As in
    TF1, state dropout leaves the `c` of an `LSTMStateTuple` alone. No variables of its own."""

    def __init__(self, cell, input_keep_prob=1.0, output_keep_prob=1.0, state_keep_prob=1.0,
                 variational_recurrent=False, input_size=None, dtype=None, seed=None,
                 dropout_state_filter_visitor=None):
        super().__init__()
        if not isinstance(cell, RNNCell):
            raise TypeError(f"DropoutWrapper: cell must be an RNNCell, got {cell!r}")
        if variational_recurrent:
            raise NotImplementedError("DropoutWrapper: variational_recurrent=True is not "
                                      "supported by flowc")
        if dropout_state_filter_visitor is not None:
            raise NotImplementedError("DropoutWrapper: dropout_state_filter_visitor is not "
                                      "supported by flowc")
        for arg, p in (("input_keep_prob", input_keep_prob),
                       ("output_keep_prob", output_keep_prob),
                       ("state_keep_prob", state_keep_prob)):
            if isinstance(p, (int, float)) and not 0 < p <= 1:
                raise ValueError(f"DropoutWrapper: Parameter {arg} must be between 0 and 1: "
                                 f"{p}")
        self._cell = cell
        self._keep = (input_keep_prob, output_keep_prob, state_keep_prob)
        self._seed = seed

    @property
    def wrapped_cell(self):
        return self._cell

    @property
    def state_size(self):
        return self._cell.state_size

    @property
    def output_size(self):
        return self._cell.output_size

    def zero_state(self, batch_size, dtype):
        with name_scope("DropoutWrapperZeroState"):
            return self._cell.zero_state(batch_size, dtype)

    def _variables(self):
        return tuple(self._cell.variables)

    def _ensure_built(self, depth, dtype, scope=None):
        self._cell._ensure_built(depth, dtype, scope)

    def _dropout(self, x, which, index):
        keep = self._keep[which]
        if isinstance(keep, (int, float)) and keep == 1:
            return x
        salt = ("input", "output", "state")[which]
        return dropout(x, keep_prob=keep, seed=self._gen_seed(salt, index))

    def _gen_seed(self, salt, index):
        """TF1's per-component seed: md5 of (seed, salt, index)."""
        if self._seed is None:
            return None
        digest = hashlib.md5(f"{self._seed}{salt}_{index}".encode()).hexdigest()
        return int(digest[:8], 16) & 0x7FFFFFFF

    def _drop_state(self, state, counter):
        if isinstance(state, LSTMStateTuple):
            counter[0] += 1  # c keeps its place in the numbering, as TF1's flattening
            h = self._dropout(state.h, 2, counter[0])
            counter[0] += 1
            return LSTMStateTuple(state.c, h)
        if isinstance(state, tuple):
            return tuple(self._drop_state(s, counter) for s in state)
        out = self._dropout(state, 2, counter[0])
        counter[0] += 1
        return out

    def __call__(self, inputs, state, scope=None):
        x = self._dropout(convert_to_tensor(inputs), 0, 0)
        output, new_state = self._cell(x, state, scope)
        new_state = self._drop_state(new_state, [0])
        return self._dropout(output, 1, 0), new_state


def _zeros_of(size, batch_size, dtype):
    """Zeros [batch_size, s] for every size `s` of the (nested) structure `size`."""
    if isinstance(size, tuple):
        parts = [_zeros_of(s, batch_size, dtype) for s in size]
        return type(size)(*parts) if hasattr(size, "_fields") else tuple(parts)
    return zeros([batch_size, size], dtype=dtype)


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
    final state). The cell's variables are made at the first step and shared by all.
    With `sequence_length` (int vector [batch]), as TF1: at steps t >= length[b] row b of
    the output is zero and its state is copied through (a row select per step)."""
    if not isinstance(cell, RNNCell):
        raise TypeError(f"static_rnn: cell must be an RNNCell, got {cell!r}")
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
        lengths = None if sequence_length is None else _lengths(sequence_length, "static_rnn")
        outputs = []
        for t, x in enumerate(inputs):
            if t > 0:
                varscope.reuse_variables()
            out, new_state = cell(x, state)
            if lengths is not None:
                with name_scope(f"step_{t}_mask"):
                    done = greater_equal(constant(t, dtype=T.int32), lengths)
                    out = where(done, zeros_like(out), out)
                    new_state = _map2(lambda old, new, d=done: where(d, old, new), state,
                                      new_state)
            state = new_state
            outputs.append(out)
    return outputs, state


def _lengths(sequence_length, opname):
    """`sequence_length` as an int32 vector (TF1 casts it), or a clear error."""
    lengths = convert_to_tensor(sequence_length)
    if lengths.shape.ndims not in (None, 1):
        raise ValueError(f"{opname}: sequence_length must be a vector of length batch_size, "
                         f"got shape {lengths.shape}")
    if not lengths.dtype.is_int:
        raise TypeError(f"{opname}: sequence_length must be integers, got "
                        f"{lengths.dtype.name}")
    return cast(lengths, T.int32) if lengths.dtype is not T.int32 else lengths


def _map2(fn, a, b):
    """`fn` over the leaves of two states of the same structure."""
    if isinstance(a, tuple):
        parts = [_map2(fn, x, y) for x, y in zip(a, b)]
        return type(a)(*parts) if hasattr(a, "_fields") else tuple(parts)
    return fn(convert_to_tensor(a), convert_to_tensor(b))


def _reverse_seq(seq, lengths):
    """TF1's `_reverse_seq`: the list reversed, or with `lengths` each batch row's first
    lengths[b] steps reversed and the rest left in place (reverse_sequence semantics),
    as one gather from the [time * batch, depth] stack."""
    if lengths is None:
        return list(reversed(seq))
    steps = len(seq)
    stacked = stack(seq, axis=0)                                  # [T, B, D]
    dims = known_shape(stacked, "reverse_sequence")
    batch = dims[1]
    flat = reshape(stacked, [-1] + list(dims[2:]))                # [T * B, D]
    rows = make("iota", [], shape=(batch,), axis=0, dtype=T.int32)
    nb = shape(stacked, out_type=T.int32)[1]
    out = []
    for t in range(steps):
        tt = constant(t, dtype=T.int32)
        src = where(less(tt, lengths), lengths - 1 - t, tt)       # [B]
        out.append(gather(flat, src * nb + rows))
    return out


def static_bidirectional_rnn(cell_fw, cell_bw, inputs, initial_state_fw=None,
                             initial_state_bw=None, dtype=None, sequence_length=None,
                             scope=None):
    """TF1's bidirectional RNN: `cell_fw` over `inputs` in `scope/fw`, `cell_bw` over the
    reversed inputs in `scope/bw` (each row reversed within its `sequence_length`); returns
    (outputs, output_state_fw, output_state_bw) with outputs[t] = concat([fw[t], bw[t]], 1)."""
    for name, c in (("cell_fw", cell_fw), ("cell_bw", cell_bw)):
        if not isinstance(c, RNNCell):
            raise TypeError(f"static_bidirectional_rnn: {name} must be an RNNCell, got {c!r}")
    if not isinstance(inputs, (list, tuple)) or not inputs:
        raise TypeError("static_bidirectional_rnn: inputs must be a non-empty list of "
                        "[batch, input] tensors")
    lengths = None if sequence_length is None else _lengths(sequence_length,
                                                             "static_bidirectional_rnn")
    with variable_scope(scope or "bidirectional_rnn"):
        with variable_scope("fw") as fw_scope:
            output_fw, state_fw = static_rnn(cell_fw, inputs, initial_state_fw, dtype,
                                             lengths, scope=fw_scope)
        with variable_scope("bw") as bw_scope:
            reversed_inputs = _reverse_seq(list(inputs), lengths)
            tmp, state_bw = static_rnn(cell_bw, reversed_inputs, initial_state_bw, dtype,
                                       lengths, scope=bw_scope)
    output_bw = _reverse_seq(tmp, lengths)
    outputs = [concat([fw, bw], 1) for fw, bw in zip(output_fw, output_bw)]
    return outputs, state_fw, state_bw


def _stack_checks(opname, cells_fw, cells_bw, initial_states_fw, initial_states_bw):
    """TF1's argument checks of the stacked bidirectional RNNs."""
    if not cells_fw:
        raise ValueError(f"{opname}: Must specify at least one fw cell for BidirectionalRNN.")
    if not cells_bw:
        raise ValueError(f"{opname}: Must specify at least one bw cell for BidirectionalRNN.")
    if not isinstance(cells_fw, list) or not isinstance(cells_bw, list):
        raise ValueError(f"{opname}: cells_fw and cells_bw must be lists of RNNCells")
    if len(cells_fw) != len(cells_bw):
        raise ValueError(f"{opname}: Forward and Backward cells must have the same depth.")
    for what, states in (("initial_states_fw", initial_states_fw),
                         ("initial_states_bw", initial_states_bw)):
        if states is not None and (not isinstance(states, (list, tuple))
                                   or len(states) != len(cells_fw)):
            raise ValueError(f"{opname}: {what} should be a list of the same length as "
                             f"the cells ({len(cells_fw)})")


def stack_bidirectional_rnn(cells_fw, cells_bw, inputs, initial_states_fw=None,
                            initial_states_bw=None, dtype=None, sequence_length=None,
                            scope=None):
    """TF1's `contrib.rnn.stack_bidirectional_rnn`: layer i is
    `static_bidirectional_rnn(cells_fw[i], cells_bw[i], ...)` with scope
    `scope/cell_i` (default scope `stack_bidirectional_rnn`) on the previous layer's
    outputs; returns (outputs list, states_fw tuple, states_bw tuple)."""
    _stack_checks("stack_bidirectional_rnn", cells_fw, cells_bw, initial_states_fw,
                  initial_states_bw)
    states_fw, states_bw, prev = [], [], inputs
    with variable_scope(scope or "stack_bidirectional_rnn"):
        for i, (cell_fw, cell_bw) in enumerate(zip(cells_fw, cells_bw)):
            with variable_scope(f"cell_{i}") as cell_scope:
                prev, state_fw, state_bw = static_bidirectional_rnn(
                    cell_fw, cell_bw, prev,
                    initial_state_fw=initial_states_fw[i] if initial_states_fw else None,
                    initial_state_bw=initial_states_bw[i] if initial_states_bw else None,
                    sequence_length=sequence_length, dtype=dtype, scope=cell_scope)
            states_fw.append(state_fw)
            states_bw.append(state_bw)
    return prev, tuple(states_fw), tuple(states_bw)


# `fc.nn.rnn_cell`: TF1's namespace of cells.
_CELLS = dict(RNNCell=RNNCell, BasicRNNCell=BasicRNNCell, BasicLSTMCell=BasicLSTMCell,
              LSTMCell=LSTMCell, GRUCell=GRUCell, MultiRNNCell=MultiRNNCell,
              DropoutWrapper=DropoutWrapper, LSTMStateTuple=LSTMStateTuple)
rnn_cell = types.SimpleNamespace(**_CELLS)

__all__ = [*_CELLS, "static_rnn", "static_bidirectional_rnn", "stack_bidirectional_rnn",
           "rnn_cell"]
