"""`fc.contrib`: the parts of TF1's `tf.contrib` that classic programs use.

- `fc.contrib.rnn`: the cells of `fc.nn.rnn_cell` (`BasicRNNCell`, `BasicLSTMCell`,
  `LSTMCell`, `GRUCell`, `MultiRNNCell`, `DropoutWrapper`, `LSTMStateTuple`, `RNNCell`),
  `static_rnn`, `static_bidirectional_rnn`, `stack_bidirectional_rnn`,
  `stack_bidirectional_dynamic_rnn` — the same objects, so variables and names
  are the same under either spelling — and `LSTMBlockCell` (an `LSTMCell`).
- `fc.contrib.layers.flatten(inputs)`: [batch, ...] -> [batch, prod(...)];
  `fc.contrib.layers.batch_norm` (norm_layers.py).
- `fc.contrib.seq2seq.sequence_loss(logits, targets, weights, ...)`: TF1's weighted
  sequence cross-entropy.

Composites of existing ops only; nothing here runs a graph.
"""

from __future__ import annotations

import math
import types

from .control_flow import name_scope
from .core import constant, convert_to_tensor, known_shape
from .layers import flatten_rest
from .manip_ops import reshape, where
from .math_ops import cast, equal, not_equal
from .norm_layers import batch_norm
from .reduce_ops import reduce_sum
from .rnn import _CELLS, LSTMCell, stack_bidirectional_rnn, static_bidirectional_rnn, static_rnn
from .rnn_dynamic import stack_bidirectional_dynamic_rnn


class LSTMBlockCell(LSTMCell):
    """TF1's `contrib.rnn.LSTMBlockCell` (the fused-kernel LSTM): the same equations and
    variables as `LSTMCell` (`lstm_cell/kernel`, `bias`, peepholes `w_i_diag`,
    `w_f_diag`, `w_o_diag`), a tuple state, no projection."""

    def __init__(self, num_units, forget_bias=1.0, cell_clip=None, use_peepholes=False,
                 dtype=None, reuse=None, name="lstm_cell"):
        super().__init__(num_units, use_peepholes=use_peepholes,
                         cell_clip=None if cell_clip is None or cell_clip < 0 else cell_clip,
                         forget_bias=forget_bias, reuse=reuse, name=name, dtype=dtype)


def flatten(inputs, outputs_collections=None, scope=None):
    """TF1's `contrib.layers.flatten`: keep the batch dim, flatten the rest (which must be
    static); a rank-1 input becomes [batch, 1]."""
    x = convert_to_tensor(inputs)
    dims = known_shape(x, "flatten")
    rest = flatten_rest(x, dims)
    with name_scope(scope or "Flatten"):
        out = reshape(x, [dims[0], math.prod(rest)])
    if outputs_collections is not None:
        from .variables import add_to_collection
        for key in ([outputs_collections] if isinstance(outputs_collections, str)
                    else outputs_collections):
            add_to_collection(key, out)
    return out


def _div_no_nan(num, den):
    """num / den, 0 where den == 0 (gradients stay finite there too)."""
    zero = equal(den, constant(0, dtype=den.dtype))
    safe = where(zero, constant(1, dtype=den.dtype) + 0 * den, den)
    return where(zero, 0 * num, num / safe)


def _count_nonzero(w, axis=None):
    return reduce_sum(cast(not_equal(w, constant(0, dtype=w.dtype)), w.dtype), axis=axis)


def sequence_loss(logits, targets, weights, average_across_timesteps=True,
                  average_across_batch=True, sum_over_timesteps=False, sum_over_batch=False,
                  softmax_loss_function=None, name=None):
    """TF1's `contrib.seq2seq.sequence_loss`: cross-entropy of `logits` [batch, time,
    classes] against int `targets` [batch, time], times `weights` [batch, time]; then
    averaged (divided by the summed weights) or summed-and-averaged (divided by the
    number of nonzero weights) over the chosen axes, as TF 1.15 does (0 where the
    divisor is 0). Returns a scalar, [time], [batch] or [batch, time]."""
    if average_across_timesteps and sum_over_timesteps:
        raise ValueError("sequence_loss: average_across_timesteps and sum_over_timesteps "
                         "cannot be set at the same time.")
    if average_across_batch and sum_over_batch:
        raise ValueError("sequence_loss: average_across_batch and sum_over_batch cannot be "
                         "set at the same time.")
    logits, targets = convert_to_tensor(logits), convert_to_tensor(targets)
    weights = convert_to_tensor(weights, logits.dtype)
    for what, t, rank in (("logits", logits, 3), ("targets", targets, 2),
                          ("weights", weights, 2)):
        if len(known_shape(t, "sequence_loss")) != rank:
            raise ValueError(f"sequence_loss: {what} must be a rank-{rank} tensor "
                             f"([batch, time{', classes' if rank == 3 else ''}]), got shape "
                             f"{t.shape}")
    with name_scope(name or "sequence_loss"):
        classes = known_shape(logits, "sequence_loss")[2]
        flat_logits = reshape(logits, [-1, classes])
        flat_targets = reshape(targets, [-1])
        if softmax_loss_function is None:
            from .nn import sparse_softmax_cross_entropy_with_logits
            crossent = sparse_softmax_cross_entropy_with_logits(labels=flat_targets,
                                                                logits=flat_logits)
        else:
            crossent = softmax_loss_function(labels=flat_targets, logits=flat_logits)
        crossent = crossent * reshape(weights, [-1])
        if average_across_timesteps and average_across_batch:
            return _div_no_nan(reduce_sum(crossent), reduce_sum(weights))
        if sum_over_timesteps and sum_over_batch:
            return _div_no_nan(reduce_sum(crossent), _count_nonzero(weights))
        crossent = reshape(crossent, list(known_shape(targets, "sequence_loss")))
        if average_across_timesteps or average_across_batch:
            axis = [0] if average_across_batch else [1]
            return _div_no_nan(reduce_sum(crossent, axis=axis),
                               reduce_sum(weights, axis=axis))
        if sum_over_timesteps or sum_over_batch:
            axis = [0] if sum_over_batch else [1]
            return _div_no_nan(reduce_sum(crossent, axis=axis),
                               _count_nonzero(weights, axis=axis))
        return crossent


rnn = types.SimpleNamespace(**_CELLS, LSTMBlockCell=LSTMBlockCell, static_rnn=static_rnn,
                            static_bidirectional_rnn=static_bidirectional_rnn,
                            stack_bidirectional_rnn=stack_bidirectional_rnn,
                            stack_bidirectional_dynamic_rnn=stack_bidirectional_dynamic_rnn)
layers = types.SimpleNamespace(flatten=flatten, batch_norm=batch_norm)
# -- issue 15 / convfe: tf.contrib.layers.conv2d / convolution2d / conv2d_transpose --
from .conv_layers import contrib_conv2d_transpose, convolution2d  # noqa: E402

layers.conv2d = layers.convolution2d = convolution2d
layers.conv2d_transpose = layers.convolution2d_transpose = contrib_conv2d_transpose
# -- end convfe --
seq2seq = types.SimpleNamespace(sequence_loss=sequence_loss)

__all__ = ["LSTMBlockCell", "batch_norm", "flatten", "sequence_loss", "rnn", "layers", "seq2seq"]
