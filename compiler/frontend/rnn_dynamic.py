"""`fc.nn.dynamic_rnn` and `fc.nn.bidirectional_dynamic_rnn`: TF1's RNNs on a
`while_loop` over time, so one compiled program serves every sequence length.

`dynamic_rnn(cell, inputs, sequence_length=None, initial_state=None, dtype=None,
parallel_iterations=None, swap_memory=False, time_major=False, scope=None)` follows
TF1's `_dynamic_rnn_loop`: inside `variable_scope(scope or "rnn")` the inputs
([batch, time, depth], or [time, batch, depth] with `time_major`) are unstacked into a
TensorArray over time, a `while_loop` with `maximum_iterations` = time steps carries
(time, output TensorArray, state), and the outputs are stacked (and transposed back
when batch-major). With `sequence_length`, at steps t >= length[b] row b of the output
is zero and its state is copied through, as TF1. The cell's variables are made before
the loop (`RNNCell._ensure_built`), with TF1's names (`rnn/basic_lstm_cell/kernel`), so
`static_rnn` and `dynamic_rnn` of one cell share them. `bidirectional_dynamic_rnn` runs
a backward cell on the inputs reversed within each row's length (`reverse_sequence`).
Nothing here runs a graph.
"""

from __future__ import annotations

from ..ir import dtypes as T
from . import control_flow as _cf
from .array_ops import shape, zeros_like
from .control_flow import name_scope
from .core import constant, convert_to_tensor, known_shape, make
from .indexing import reverse
from .manip_ops import concat, gather, reshape, transpose, where
from .math_ops import greater_equal, less
from .nest import flatten
from .nest import pack_sequence_as as pack_as
from .rnn import RNNCell, _lengths, _map2, _stack_checks
from .tensor_array import TensorArray
from .variable_scope import variable_scope


def _time_major(x, time_major):
    if time_major:
        return x
    rank = len(known_shape(x, "dynamic_rnn"))
    return transpose(x, [1, 0] + list(range(2, rank)))


def _batch_major(x, time_major):
    return _time_major(x, time_major)  # the same swap of the first two axes


def _check_inputs(flat, opname):
    for x in flat:
        dims = known_shape(x, opname)
        if len(dims) < 3:
            raise ValueError(f"{opname}: inputs must be [batch, time, depth] (or "
                             f"[time, batch, depth] with time_major), got {x.name!r} of "
                             f"shape {list(dims)}")
        if not isinstance(dims[-1], int):
            raise ValueError(f"{opname}: the input depth must be static, got {list(dims)}")


def dynamic_rnn(cell, inputs, sequence_length=None, initial_state=None, dtype=None,
                parallel_iterations=None, swap_memory=False, time_major=False, scope=None):
    """TF1's dynamic_rnn; returns (outputs, final state)."""
    if not isinstance(cell, RNNCell):
        raise TypeError(f"dynamic_rnn: cell must be an RNNCell, got {cell!r}")
    flat_in = [convert_to_tensor(x) for x in flatten(inputs)]
    _check_inputs(flat_in, "dynamic_rnn")
    with variable_scope(scope or "rnn") as varscope:
        tm = [_time_major(x, time_major) for x in flat_in]          # [T, B, D]
        steps, batch = known_shape(tm[0], "dynamic_rnn")[:2]
        state = initial_state
        if state is None:
            if dtype is None:
                raise ValueError("dynamic_rnn: if no initial_state is provided, dtype must "
                                 "be specified")
            state = cell.zero_state(batch, dtype)
        lengths = None if sequence_length is None else \
            _lengths(sequence_length, "dynamic_rnn")
        in_dtype = tm[0].dtype
        cell._ensure_built(sum(known_shape(x, "dynamic_rnn")[-1] for x in tm),
                           T.as_dtype(dtype) if dtype is not None else in_dtype)
        varscope.reuse_variables()
        outputs, final = _loop(cell, inputs, tm, state, lengths, steps, batch,
                               parallel_iterations, swap_memory)
        outputs = pack_as(cell.output_size, [_batch_major(o, time_major) for o in outputs])
        return outputs, final


def _loop(cell, inputs, tm, state, lengths, steps, batch, parallel_iterations,
          swap_memory):
    """TF1's `_dynamic_rnn_loop`: (flat time-major outputs, final state)."""
    with name_scope("while_setup"):
        n_t = constant(steps, dtype=T.int32) if isinstance(steps, int) else \
            shape(tm[0], out_type=T.int32)[0]
        in_tas = [TensorArray(x.dtype, size=steps, element_shape=list(x.shape)[1:],
                              name="input").unstack(x) for x in tm]
        out_sizes = flatten(cell.output_size)
        dt = flatten(state)[0].dtype
        out_tas = [TensorArray(dt, size=steps, element_shape=[batch, n], name="output")
                   for n in out_sizes]
        flat_state = flatten(state)

    def body(time, tas, flat_st):
        st = pack_as(state, flat_st)
        x = pack_as(inputs, [ta.read(time) for ta in in_tas])
        out, new_state = cell(x, st)
        flat_out = [convert_to_tensor(o) for o in flatten(out)]
        if lengths is not None:
            done = greater_equal(time, lengths)                      # [B]
            flat_out = [where(done, zeros_like(o), o) for o in flat_out]
            new_state = _map2(lambda old, new: where(done, old, new), st, new_state)
        return (time + 1, [ta.write(time, o) for ta, o in zip(tas, flat_out)],
                [convert_to_tensor(s) for s in flatten(new_state)])

    _, out_tas, flat_state = _cf.while_loop(
        lambda time, tas, st: less(time, n_t), body,
        (constant(0, dtype=T.int32, name="time"), out_tas, flat_state),
        maximum_iterations=n_t, parallel_iterations=parallel_iterations or 32,
        swap_memory=swap_memory)
    return [ta.stack() for ta in out_tas], pack_as(state, flat_state)


def reverse_sequence(x, lengths, time_axis, batch_axis):
    """TF1's reverse_sequence for time/batch axes (0, 1) or (1, 0): each batch row's
    first lengths[b] steps reversed, the rest in place (one gather)."""
    tm = x if time_axis == 0 else _time_major(x, False)
    dims = known_shape(tm, "ReverseSequence")
    steps, batch = dims[:2]
    grid_t = make("iota", [], shape=(steps, batch), axis=0, dtype=T.int32)
    grid_b = make("iota", [], shape=(steps, batch), axis=1, dtype=T.int32)
    lens = make("broadcast", [reshape(lengths, [1, -1])], shape=(steps, batch))
    src = where(less(grid_t, lens), lens - 1 - grid_t, grid_t)
    nb = shape(tm, out_type=T.int32)[1]
    flat = reshape(tm, [-1] + list(dims[2:]))
    out = gather(flat, src * nb + grid_b)                           # [T, B, ...]
    return out if time_axis == 0 else _time_major(out, False)


def bidirectional_dynamic_rnn(cell_fw, cell_bw, inputs, sequence_length=None,
                              initial_state_fw=None, initial_state_bw=None, dtype=None,
                              parallel_iterations=None, swap_memory=False,
                              time_major=False, scope=None):
    """TF1's bidirectional_dynamic_rnn: returns ((output_fw, output_bw),
    (output_state_fw, output_state_bw)); output_bw is in the inputs' time order."""
    for name, c in (("cell_fw", cell_fw), ("cell_bw", cell_bw)):
        if not isinstance(c, RNNCell):
            raise TypeError(f"bidirectional_dynamic_rnn: {name} must be an RNNCell, got "
                            f"{c!r}")
    time_axis, batch_axis = (0, 1) if time_major else (1, 0)
    lengths = None if sequence_length is None else _lengths(sequence_length,
                                                             "bidirectional_dynamic_rnn")

    def rev(x):
        if lengths is None:
            return reverse(x, [time_axis])
        return reverse_sequence(x, lengths, time_axis, batch_axis)

    with variable_scope(scope or "bidirectional_rnn"):
        with variable_scope("fw") as fw_scope:
            output_fw, state_fw = dynamic_rnn(
                cell_fw, inputs, lengths, initial_state_fw, dtype, parallel_iterations,
                swap_memory, time_major, scope=fw_scope)
        with variable_scope("bw") as bw_scope:
            inputs_rev = pack_as(inputs, [rev(convert_to_tensor(x))
                                          for x in flatten(inputs)])
            tmp, state_bw = dynamic_rnn(
                cell_bw, inputs_rev, lengths, initial_state_bw, dtype, parallel_iterations,
                swap_memory, time_major, scope=bw_scope)
    output_bw = pack_as(tmp, [rev(o) for o in flatten(tmp)])
    return (output_fw, output_bw), (state_fw, state_bw)


def stack_bidirectional_dynamic_rnn(cells_fw, cells_bw, inputs, initial_states_fw=None,
                                    initial_states_bw=None, dtype=None, sequence_length=None,
                                    parallel_iterations=None, time_major=False, scope=None,
                                    swap_memory=False):
    """TF1's `contrib.rnn.stack_bidirectional_dynamic_rnn`: layer i is
    `bidirectional_dynamic_rnn(cells_fw[i], cells_bw[i], ...)` in
    `scope/cell_i` (default scope `stack_bidirectional_rnn`) on the previous layer's
    concatenated [fw, bw] outputs; returns (outputs, states_fw tuple, states_bw tuple)."""
    _stack_checks("stack_bidirectional_dynamic_rnn", cells_fw, cells_bw, initial_states_fw,
                  initial_states_bw)
    states_fw, states_bw, prev = [], [], inputs
    with variable_scope(scope or "stack_bidirectional_rnn"):
        for i, (cell_fw, cell_bw) in enumerate(zip(cells_fw, cells_bw)):
            with variable_scope(f"cell_{i}"):
                (out_fw, out_bw), (state_fw, state_bw) = bidirectional_dynamic_rnn(
                    cell_fw, cell_bw, prev,
                    initial_state_fw=initial_states_fw[i] if initial_states_fw else None,
                    initial_state_bw=initial_states_bw[i] if initial_states_bw else None,
                    sequence_length=sequence_length, parallel_iterations=parallel_iterations,
                    dtype=dtype, swap_memory=swap_memory, time_major=time_major)
                prev = concat([out_fw, out_bw], 2)
            states_fw.append(state_fw)
            states_bw.append(state_bw)
    return prev, tuple(states_fw), tuple(states_bw)


__all__ = ["dynamic_rnn", "bidirectional_dynamic_rnn", "stack_bidirectional_dynamic_rnn"]
