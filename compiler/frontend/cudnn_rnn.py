"""`fc.contrib.cudnn_rnn`: TF1's cuDNN RNN layers on flowc's `dynamic_rnn` loops.

`CudnnLSTM`, `CudnnGRU`, `CudnnRNNTanh` and `CudnnRNNRelu` take `(num_layers,
num_units, input_mode='linear_input', direction='unidirectional'|'bidirectional',
dropout=0., seed=None, dtype=float32, kernel_initializer=None, bias_initializer=None,
name=None)` and are called as TF1's Keras-style layers:

    outputs, output_states = layer(inputs, initial_state=None, sequence_lengths=None,
                                   time_major=True, training=True)

on [time, batch, input] inputs ([batch, time, input] with `time_major=False`); outputs
are [time, batch, num_dirs * num_units]; the states are `(h, c)` for LSTM and `(h,)`
otherwise, each [num_layers * num_dirs, batch, num_units] (index layer * num_dirs +
direction). Nothing here is tied to a GPU: each layer (and direction) is one
`fc.nn.dynamic_rnn` (a while_loop, compiled once for every sequence length) on every
backend. Dropout (rate `dropout`, only with `training=True`) is applied between layers.

The weights are kept in the layout of TF1's cuDNN-compatible cells, which is also the
form TF1's CudnnLSTM saveable writes to checkpoints, under the layer's scope
(`cudnn_lstm`, `cudnn_gru`, `cudnn_rnn_tanh`, `cudnn_rnn_relu`, made unique):
unidirectional `rnn/multi_rnn_cell/cell_L/<cell>/...`, bidirectional
`stack_bidirectional_rnn/cell_L/bidirectional_rnn/{fw,bw}/<cell>/...`, where `<cell>`
is `cudnn_compatible_lstm_cell` (`kernel`, `bias`), `cudnn_compatible_gru_cell`
(`gates/kernel`, `gates/bias`, `candidate/input_projection/{kernel,bias}`,
`candidate/hidden_projection/{kernel,bias}`) or `basic_rnn_cell` (`kernel`, `bias`).
So `CudnnCompatibleLSTMCell` / `CudnnCompatibleGRUCell` built in those scopes compute
exactly what the layer computes. docs/layers.md gives cuDNN's equations and the map
from cuDNN's canonical weights (W, R, b_W, b_R per gate) to these variables.
Nothing here runs a graph.
"""

from __future__ import annotations

import contextlib
import types

from ..ir import dtypes as T
from .core import convert_to_tensor, known_shape, stack
from .init_ops import Initializer, constant_initializer, glorot_uniform_initializer
from .manip_ops import concat, split, transpose, unstack
from .math_ops import add, cast, matmul, sigmoid
from .nn import relu
from .random_ops import dropout as _dropout
from .rnn import BasicRNNCell, GRUCell, LSTMCell, LSTMStateTuple
from .rnn_dynamic import bidirectional_dynamic_rnn, dynamic_rnn
from .variable_scope import get_variable, variable_scope

CUDNN_RNN_UNIDIRECTION = "unidirectional"
CUDNN_RNN_BIDIRECTION = "bidirectional"
CUDNN_LSTM = "lstm"
CUDNN_GRU = "gru"
CUDNN_RNN_TANH = "rnn_tanh"
CUDNN_RNN_RELU = "rnn_relu"
CUDNN_INPUT_LINEAR_MODE = "linear_input"
CUDNN_INPUT_SKIP_MODE = "skip_input"
CUDNN_INPUT_AUTO_MODE = "auto_select"


class CudnnCompatibleLSTMCell(LSTMCell):
    """TF1's `CudnnCompatibleLSTMCell`: an LSTMBlockCell with forget_bias 0, no clipping,
    no peepholes, named `cudnn_compatible_lstm_cell`; `kernel` [input + units, 4 units]
    with TF's gate columns i, j (= cuDNN's c), f, o, and `bias` = cuDNN's b_W + b_R."""

    def __init__(self, num_units, reuse=None, kernel_initializer=None,
                 bias_initializer=None):
        super().__init__(num_units, forget_bias=0.0, reuse=reuse,
                         name="cudnn_compatible_lstm_cell", initializer=kernel_initializer)
        self._bias_init = bias_initializer

    def _build(self, depth, dtype):
        n = self._num_units
        self._vars["kernel"] = get_variable("kernel", [depth + n, 4 * n], dtype=dtype,
                                            initializer=self._initializer)
        self._vars["bias"] = get_variable(
            "bias", [4 * n], dtype=dtype,
            initializer=self._bias_init or constant_initializer(0.0, dtype=dtype))


class CudnnCompatibleGRUCell(GRUCell):
    """TF1's `CudnnCompatibleGRUCell` (cuDNN's GRU, which differs from GRUCell in the
    candidate: the reset gate multiplies the projected state plus its bias):

        r, u = split(sigmoid([x, h] @ gates/kernel + gates/bias), 2)
        c = tanh(x @ candidate/input_projection/kernel + candidate/input_projection/bias
                 + r * (h @ candidate/hidden_projection/kernel
                        + candidate/hidden_projection/bias))
        new_h = (1 - u) * c + u * h
    """

    _default_name = "cudnn_compatible_gru_cell"

    def __init__(self, num_units, reuse=None, kernel_initializer=None,
                 bias_initializer=None):
        super().__init__(num_units, reuse=reuse, kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer)
        self._bias_inits = {}

    def _build(self, depth, dtype):
        n, v = self._num_units, self._vars
        kinit, binit = self._kernel_init, self._bias_init
        parts = self._bias_inits
        with variable_scope("gates"):
            v["gates/kernel"] = get_variable("kernel", [depth + n, 2 * n], dtype=dtype,
                                             initializer=kinit)
            v["gates/bias"] = get_variable(
                "bias", [2 * n], dtype=dtype,
                initializer=parts.get("gates", binit or constant_initializer(1.0,
                                                                             dtype=dtype)))
        zeros = binit or constant_initializer(0.0, dtype=dtype)
        with variable_scope("candidate"):
            for part, rows in (("input_projection", depth), ("hidden_projection", n)):
                with variable_scope(part):
                    v[f"{part}/kernel"] = get_variable(
                        "kernel", [rows, n], dtype=dtype,
                        initializer=parts.get(f"{part}/kernel", kinit))
                    v[f"{part}/bias"] = get_variable(
                        "bias", [n], dtype=dtype, initializer=parts.get(part, zeros))

    def _step(self, x, state):
        v = self._vars
        h = convert_to_tensor(state)
        value = sigmoid(add(matmul(concat([x, h], 1), v["gates/kernel"]), v["gates/bias"]))
        r, u = split(value, 2, axis=1)
        cand = add(matmul(x, v["input_projection/kernel"]), v["input_projection/bias"])
        cand = cand + r * add(matmul(h, v["hidden_projection/kernel"]),
                              v["hidden_projection/bias"])
        c = self._activation(cand)
        new_h = (1 - u) * c + u * h
        return new_h, new_h


class _CanonicalKernel(Initializer):
    """A compatible cell's kernel [input + units, gates * units] drawn as TF1 draws
    cuDNN's canonical weights: `init` on each W_g [units, input] and R_g [units, units]
    (transposed into place), gate blocks in the cell's column order."""

    def __init__(self, init, depth, units, gates):
        self._init, self._depth, self._units, self._gates = init, depth, units, gates

    def __call__(self, shape, dtype=None, partition_info=None):
        n, d = self._units, self._depth
        blocks = [concat([transpose(self._init([n, d], dtype)),
                          transpose(self._init([n, n], dtype))], 0)
                  for _ in range(self._gates)]
        return blocks[0] if len(blocks) == 1 else concat(blocks, 1)


class _Transposed(Initializer):
    """`init` on the canonical [units, rows] shape, transposed to [rows, units]."""

    def __init__(self, init):
        self._init = init

    def __call__(self, shape, dtype=None, partition_info=None):
        rows, n = [int(s) for s in shape]
        return transpose(self._init([n, rows], dtype))


class _SummedBias(Initializer):
    """A compatible cell's bias: b_W + b_R, each drawn by `init` as TF1 draws cuDNN's
    two canonical bias sets."""

    def __init__(self, init):
        self._init = init

    def __call__(self, shape, dtype=None, partition_info=None):
        return add(self._init(shape, dtype), self._init(shape, dtype))


class _CudnnRNN:
    """The shared layer: per-layer (and per-direction) dynamic_rnn over compatible
    cells, TF1's state layout, dropout between layers."""

    _rnn_mode = None
    _base_name = None
    _gates = 1

    def __init__(self, num_layers, num_units, input_mode=CUDNN_INPUT_LINEAR_MODE,
                 direction=CUDNN_RNN_UNIDIRECTION, dropout=0.0, seed=None, dtype=T.float32,
                 kernel_initializer=None, bias_initializer=None, name=None):
        cls = type(self).__name__
        if int(num_layers) < 1 or int(num_units) < 1:
            raise ValueError(f"{cls}: num_layers and num_units must be positive, got "
                             f"{num_layers}, {num_units}")
        if direction not in (CUDNN_RNN_UNIDIRECTION, CUDNN_RNN_BIDIRECTION):
            raise ValueError(f"{cls}: Invalid direction: {direction!r}, expecting "
                             f"{CUDNN_RNN_UNIDIRECTION!r} or {CUDNN_RNN_BIDIRECTION!r}")
        if input_mode != CUDNN_INPUT_LINEAR_MODE:
            raise NotImplementedError(f"{cls}: input_mode={input_mode!r} is not supported by "
                                      f"flowc (only {CUDNN_INPUT_LINEAR_MODE!r})")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"{cls}: dropout must be in [0, 1), got {dropout}")
        self._num_layers, self._num_units = int(num_layers), int(num_units)
        self._input_mode, self._direction = input_mode, direction
        self._dropout, self._seed = float(dropout), seed
        self._dtype = T.as_dtype(dtype)
        if not self._dtype.is_floating:
            raise TypeError(f"{cls}: dtype must be a float type, got {self._dtype.name}")
        self._kernel_init = kernel_initializer
        self._bias_init = bias_initializer
        self._name = name
        self._scope = None
        self._cells = None
        self._input_size = None

    # -- TF1's read-only properties
    num_layers = property(lambda self: self._num_layers)
    num_units = property(lambda self: self._num_units)
    input_mode = property(lambda self: self._input_mode)
    direction = property(lambda self: self._direction)
    rnn_mode = property(lambda self: self._rnn_mode)
    dtype = property(lambda self: self._dtype)
    input_size = property(lambda self: self._input_size)

    @property
    def num_dirs(self):
        return 1 if self._direction == CUDNN_RNN_UNIDIRECTION else 2

    @property
    def name(self):
        return self._scope.name if self._scope is not None else (self._name or
                                                                 self._base_name)

    def state_shape(self, batch_size):
        shape = [self._num_layers * self.num_dirs, batch_size, self._num_units]
        return (shape, shape) if self._rnn_mode == CUDNN_LSTM else (shape,)

    @property
    def canonical_weight_shapes(self):
        """TF1's: the shapes of cuDNN's canonical weights, per layer (per direction) the
        gates' input matrices [units, input] then their recurrent ones [units, units]."""
        if self._input_size is None:
            raise RuntimeError(f"{type(self).__name__}.canonical_weight_shapes invoked "
                               "before input shape is known")
        n, shapes = self._num_units, []
        for layer in range(self._num_layers):
            one = [(n, self._depth(layer))] * self._gates + [(n, n)] * self._gates
            shapes += one * self.num_dirs
        return shapes

    @property
    def canonical_bias_shapes(self):
        """TF1's: [units] for each of cuDNN's canonical biases (b_W then b_R per gate)."""
        return [[self._num_units]] * (2 * self._gates * self.num_dirs * self._num_layers)

    @property
    def trainable_variables(self):
        return [v for row in (self._cells or []) for c in row for v in c.variables]

    variables = trainable_weights = weights = trainable_variables

    # -- the call
    def __call__(self, inputs, initial_state=None, sequence_lengths=None, time_major=True,
                 training=True):
        cls = type(self).__name__
        x = convert_to_tensor(inputs)
        dims = known_shape(x, cls)
        if len(dims) != 3 or not isinstance(dims[-1], int):
            raise ValueError(f"{cls}: inputs must be [time, batch, input] (or [batch, time, "
                             f"input] with time_major=False) with a static input depth, got "
                             f"{x.name!r} of shape {list(dims)}")
        if self._input_size is not None and dims[-1] != self._input_size:
            raise ValueError(f"{cls}: this layer was built for input depth "
                             f"{self._input_size}, got {list(dims)} for {x.name!r}")
        if x.dtype is not self._dtype:
            raise TypeError(f"{cls}: inputs must be {self._dtype.name} (the layer's dtype), "
                            f"got {x.dtype.name} for {x.name!r}")
        states = self._split_state(initial_state, cls)
        self.build(dims)
        with variable_scope(self._scope, reuse=True):
            return self._run(x, states, sequence_lengths, time_major, training)

    @property
    def built(self):
        return self._scope is not None

    def build(self, input_shape):
        """TF1's `build`: make the variables for inputs of `input_shape` (3 dims, the
        last one known) now; a later call (or build) reuses them."""
        if self._scope is not None:
            return
        dims = list(input_shape)
        if len(dims) != 3 or not isinstance(dims[-1], int):
            raise ValueError(f"{type(self).__name__}: expecting an input shape of 3 dims "
                             f"with a known last one, got {dims}")
        self._input_size = dims[-1]
        with variable_scope(None, default_name=self._name or self._base_name) as vs:
            self._scope = vs
            self._cells = [[self._make_cell(layer) for _ in range(self.num_dirs)]
                           for layer in range(self._num_layers)]
            for layer, cells in enumerate(self._cells):
                for d, cell in enumerate(cells):
                    with self._cell_scope(layer, d):
                        cell._ensure_built(self._depth(layer), self._dtype)

    @contextlib.contextmanager
    def _cell_scope(self, layer, direction):
        """The variable scope the cells of `layer` live in (TF1's saveable names);
        `direction` None: the scope bidirectional_dynamic_rnn is called in."""
        if self.num_dirs == 1:
            with variable_scope("rnn"), variable_scope("multi_rnn_cell"), \
                    variable_scope(f"cell_{layer}") as vs:
                yield vs
            return
        with variable_scope("stack_bidirectional_rnn"), variable_scope(f"cell_{layer}"):
            if direction is None:
                yield None
                return
            with variable_scope("bidirectional_rnn"), \
                    variable_scope(("fw", "bw")[direction]) as vs:
                yield vs

    def _split_state(self, initial_state, cls):
        """[per layer*dir] of the cell states, or None for zeros."""
        if initial_state is None:
            return None
        parts = 2 if self._rnn_mode == CUDNN_LSTM else 1
        if not isinstance(initial_state, tuple) or len(initial_state) != parts:
            raise ValueError(f"{cls}: Invalid initial_state {initial_state!r}, expecting a "
                             f"tuple of {parts} tensor{'s (h, c)' if parts == 2 else ' (h,)'}")
        want = self._num_layers * self.num_dirs
        tensors = []
        for what, s in zip(("h", "c"), initial_state):
            s = convert_to_tensor(s, self._dtype)
            sdims = known_shape(s, cls)
            if len(sdims) != 3 or sdims[0] != want or sdims[2] != self._num_units:
                raise ValueError(f"{cls}: initial_state {what} must be [num_layers * "
                                 f"num_dirs, batch, num_units] = [{want}, batch, "
                                 f"{self._num_units}], got {list(sdims)} for {s.name!r}")
            tensors.append(unstack(s, num=want, axis=0))
        if self._rnn_mode == CUDNN_LSTM:
            return [LSTMStateTuple(c, h) for h, c in zip(*tensors)]
        return list(tensors[0])

    def _run(self, x, states, lengths, time_major, training):
        finals, cur, dirs = [], x, self.num_dirs
        for layer in range(self._num_layers):
            if layer > 0 and self._dropout > 0:
                cur = self._drop(cur, training)
            init = None if states is None else states[layer * dirs:(layer + 1) * dirs]
            cells = self._cells[layer]
            if dirs == 1:
                with self._cell_scope(layer, 0) as vs:
                    cur, st = dynamic_rnn(cells[0], cur, sequence_length=lengths,
                                          initial_state=None if init is None else init[0],
                                          dtype=self._dtype, time_major=time_major, scope=vs)
                finals.append(st)
            else:
                with self._cell_scope(layer, None):
                    (fw, bw), (s_fw, s_bw) = bidirectional_dynamic_rnn(
                        cells[0], cells[1], cur, sequence_length=lengths,
                        initial_state_fw=None if init is None else init[0],
                        initial_state_bw=None if init is None else init[1],
                        dtype=self._dtype, time_major=time_major)
                cur = concat([fw, bw], 2)
                finals += [s_fw, s_bw]
        if self._rnn_mode == CUDNN_LSTM:
            return cur, (stack([s.h for s in finals], 0), stack([s.c for s in finals], 0))
        return cur, (stack([convert_to_tensor(s) for s in finals], 0),)

    def _drop(self, x, training):
        """Dropout between layers: a Python `training` decides now; a bool tensor
        decides per run (keep probability 1 - rate * training)."""
        if isinstance(training, (bool, int)) or training is None:
            return _dropout(x, rate=self._dropout, seed=self._seed) if training else x
        flag = convert_to_tensor(training)
        if flag.dtype is not T.bool:
            raise TypeError(f"{type(self).__name__}: training must be a Python bool or a "
                            f"bool tensor, got {flag.dtype.name} {flag.name!r}")
        keep = 1.0 - self._dropout * cast(flag, x.dtype)
        return _dropout(x, keep_prob=keep, seed=self._seed)

    def _depth(self, layer):
        """The input depth of `layer`."""
        return self._input_size if layer == 0 else self._num_units * self.num_dirs

    def _make_cell(self, layer):
        kinit = self._kernel_init or glorot_uniform_initializer()
        binit = self._bias_init or constant_initializer(0.0)
        return self._cell(self._depth(layer), kinit, binit)


class CudnnLSTM(_CudnnRNN):
    """TF1's `contrib.cudnn_rnn.CudnnLSTM` (cuDNN's LSTM: no forget bias, gates i, f, c, o;
    state (h, c))."""

    _rnn_mode, _base_name, _gates = CUDNN_LSTM, "cudnn_lstm", 4

    def _cell(self, depth, kinit, binit):
        n = self._num_units
        cell = CudnnCompatibleLSTMCell(n, kernel_initializer=_CanonicalKernel(kinit, depth,
                                                                              n, 4),
                                       bias_initializer=_SummedBias(binit))
        cell._dtype = self._dtype
        return cell


class CudnnGRU(_CudnnRNN):
    """TF1's `contrib.cudnn_rnn.CudnnGRU` (cuDNN's GRU, gates r, z, h; state (h,))."""

    _rnn_mode, _base_name, _gates = CUDNN_GRU, "cudnn_gru", 3

    def _cell(self, depth, kinit, binit):
        n = self._num_units
        cell = CudnnCompatibleGRUCell(n, kernel_initializer=_CanonicalKernel(kinit, depth,
                                                                             n, 2))
        cell._bias_inits = {"gates": _SummedBias(binit),
                            "input_projection/kernel": _Transposed(kinit),
                            "hidden_projection/kernel": _Transposed(kinit),
                            "input_projection": binit, "hidden_projection": binit}
        cell._dtype = self._dtype
        return cell


class _CudnnSimple(_CudnnRNN):
    _activation = None

    def _cell(self, depth, kinit, binit):
        n = self._num_units
        cell = CudnnCompatibleRNNCell(n, activation=type(self)._activation,
                                  kernel_init=_CanonicalKernel(kinit, depth, n, 1),
                                  bias_init=_SummedBias(binit))
        cell._dtype = self._dtype
        return cell


class CudnnRNNTanh(_CudnnSimple):
    """TF1's `contrib.cudnn_rnn.CudnnRNNTanh`: h' = tanh(W x + R h + b_W + b_R)."""

    _rnn_mode, _base_name = CUDNN_RNN_TANH, "cudnn_rnn_tanh"
    _activation = None  # BasicRNNCell's default, tanh


class CudnnRNNRelu(_CudnnSimple):
    """TF1's `contrib.cudnn_rnn.CudnnRNNRelu`: h' = relu(W x + R h + b_W + b_R)."""

    _rnn_mode, _base_name = CUDNN_RNN_RELU, "cudnn_rnn_relu"
    _activation = staticmethod(relu)


class CudnnCompatibleRNNCell(BasicRNNCell):
    """BasicRNNCell (`basic_rnn_cell/kernel`, `bias`) with the layer's initializers, as
    TF1's saveable names cuDNN's tanh/relu RNN weights."""

    def __init__(self, num_units, activation, kernel_init, bias_init):
        super().__init__(num_units, activation=activation)
        self._kinit, self._binit = kernel_init, bias_init

    def _build(self, depth, dtype):
        n = self._num_units
        self._kernel = get_variable("kernel", [depth + n, n], dtype=dtype,
                                    initializer=self._kinit)
        self._bias = get_variable("bias", [n], dtype=dtype, initializer=self._binit)


cudnn_rnn = types.SimpleNamespace(
    CudnnLSTM=CudnnLSTM, CudnnGRU=CudnnGRU, CudnnRNNTanh=CudnnRNNTanh,
    CudnnRNNRelu=CudnnRNNRelu, CudnnCompatibleLSTMCell=CudnnCompatibleLSTMCell,
    CudnnCompatibleGRUCell=CudnnCompatibleGRUCell,
    CUDNN_RNN_UNIDIRECTION=CUDNN_RNN_UNIDIRECTION, CUDNN_RNN_BIDIRECTION=CUDNN_RNN_BIDIRECTION,
    CUDNN_LSTM=CUDNN_LSTM, CUDNN_GRU=CUDNN_GRU, CUDNN_RNN_TANH=CUDNN_RNN_TANH,
    CUDNN_RNN_RELU=CUDNN_RNN_RELU, CUDNN_INPUT_LINEAR_MODE=CUDNN_INPUT_LINEAR_MODE,
    CUDNN_INPUT_SKIP_MODE=CUDNN_INPUT_SKIP_MODE, CUDNN_INPUT_AUTO_MODE=CUDNN_INPUT_AUTO_MODE)

__all__ = ["CudnnLSTM", "CudnnGRU", "CudnnRNNTanh", "CudnnRNNRelu",
           "CudnnCompatibleLSTMCell", "CudnnCompatibleGRUCell", "cudnn_rnn"]
