"""The TF1-style frontend: functions that add ops to the default graph (or the graph of
their inputs) and return tensors. Every function builds primitives of the op table
(`core.make`); composites are small graphs of them, never new primitives. Nothing here
runs a graph.

- `core`: `make`, `constant`, `convert_to_tensor`, operand and shape-argument helpers
- `static`: build-time values of shape tensors (`fc.shape(x)[0]` used as a dim)
- `math_ops`, `reduce_ops`: elementwise math, casts, matmul; reductions and argmax
- `array_ops`, `manip_ops`, `indexing`: sources, shape queries, movement, `t[...]`
- `nn`: `fc.nn` (activations, softmax, losses, bias_add, dropout, ...)
- `layers`, `rnn`: `fc.layers.dense`; `fc.nn.rnn_cell` cells, `fc.nn.static_rnn` and
  `static_bidirectional_rnn`
- `normalization`, `norm_layers`: `fc.nn.moments` / `batch_normalization` /
  `fused_batch_norm` / `lrn`; `fc.layers.batch_normalization`, `BatchNormalization`,
  `fc.contrib.layers.batch_norm`
- `image_ops`: `fc.image` resizing
- `contrib`: `fc.contrib.rnn` (the same cells), `contrib.layers.flatten`,
  `contrib.seq2seq.sequence_loss`
- `random_ops`, `init_ops`: random tensors with TF1 seeds and `fc.nn.dropout`; variable
  initializers
- `variables`, `variable_scope`: `Variable`, collections, `get_variable` and reuse
- `control_flow`: `group`, `identity`, `name_scope`, `device`, `control_dependencies`
- `overloads`: Python operators on `Tensor` and `Variable`
"""
