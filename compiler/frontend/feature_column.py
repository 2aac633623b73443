"""`fc.feature_column` (TF1's `tf.feature_column`, dense numeric and integer-id columns):
how a dict of feature tensors becomes a model's input.

Columns: `numeric_column(key, shape=(1,), default_value=None, dtype=float32,
normalizer_fn=None)`, `bucketized_column(numeric, boundaries)`,
`categorical_column_with_identity(key, num_buckets, default_value=None)`,
`indicator_column(categorical)`, `embedding_column(categorical, dimension,
combiner="mean", initializer=None)`. `input_layer(features, feature_columns)` concatenates
each column's dense form (`[batch, width]`) in the order of the columns' names, as TF1;
`linear_model(features, feature_columns, units=1)` is `sum_c dense_c @ W_c + b` with the
variables `linear_model/<column>/weights` and `linear_model/bias_weights` (zeros).
Categorical ids are an integer tensor `[batch]` or `[batch, k]` (k ids per example, a
static k: flowc has no sparse tensors); ids outside `[0, num_buckets)` become
`default_value`, or count as no id when it is None (TF1 rejects them at run time).
String-keyed columns (`categorical_column_with_vocabulary_*`, hashing) need string tensors
and are not here.
"""

from __future__ import annotations

import math

from ..ir import dtypes as T
from .array_ops import one_hot, zeros_like
from .core import convert_to_tensor
from .embedding import embedding_lookup
from .manip_ops import concat, expand_dims, reshape, where_v2
from .math_ops import cast, greater_equal, less, logical_and, matmul, multiply, sqrt
from .reduce_ops import reduce_sum
from .variable_scope import get_variable, variable_scope

__all__ = ["bucketized_column", "categorical_column_with_identity", "embedding_column",
           "indicator_column", "input_layer", "linear_model", "numeric_column"]


def _features_of(features, key):
    if key not in features:
        raise ValueError(f"feature column {key!r}: the features have no such key (keys: "
                         f"{sorted(map(str, features))})")
    return convert_to_tensor(features[key])


class _NumericColumn:
    def __init__(self, key, shape, default_value, dtype, normalizer_fn):
        self.key, self.name = key, key
        self.shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.width = math.prod(self.shape)
        self.dtype, self.normalizer_fn = T.as_dtype(dtype), normalizer_fn
        self.default_value = default_value
        if not self.dtype.is_float and not self.dtype.is_int:
            raise ValueError(f"numeric_column {key!r}: dtype must be a number type, got "
                             f"{self.dtype.name}")

    def dense(self, features):
        x = _features_of(features, self.key)
        if self.normalizer_fn is not None:
            x = self.normalizer_fn(x)
        x = x if x.dtype is T.float32 else cast(x, T.float32)
        return reshape(x, [-1, self.width])

    linear_input = dense


class _BucketizedColumn:
    def __init__(self, source, boundaries):
        if not isinstance(source, _NumericColumn):
            raise ValueError(f"bucketized_column: source_column must be a numeric_column, got "
                             f"{source!r}")
        boundaries = [float(b) for b in boundaries]
        if not boundaries or any(a >= b for a, b in zip(boundaries, boundaries[1:])):
            raise ValueError(f"bucketized_column: boundaries must be a sorted, non-empty list "
                             f"without repeats, got {boundaries}")
        self.source, self.boundaries = source, boundaries
        self.key, self.name = source.key, f"{source.name}_bucketized"
        self.num_buckets = source.width * (len(boundaries) + 1)
        self.width = self.num_buckets

    def bucket_ids(self, features):
        """`[batch, width]` int32 ids: the bucket of element j is offset by j buckets."""
        x = self.source.dense(features)
        bucket = cast(greater_equal(reshape(x, [-1, self.source.width, 1]),
                                    self.boundaries), T.int32)
        per = reduce_sum(bucket, 2)
        offsets = [j * (len(self.boundaries) + 1) for j in range(self.source.width)]
        return per + convert_to_tensor(offsets, dtype=T.int32)

    def dense(self, features):
        return reduce_sum(one_hot(self.bucket_ids(features), self.num_buckets,
                                  dtype=T.float32), 1)

    linear_input = dense


class _IdentityColumn:
    def __init__(self, key, num_buckets, default_value):
        if num_buckets < 1:
            raise ValueError(f"categorical_column_with_identity {key!r}: num_buckets must be "
                             f">= 1, got {num_buckets}")
        if default_value is not None and not 0 <= default_value < num_buckets:
            raise ValueError(f"categorical_column_with_identity {key!r}: default_value "
                             f"{default_value} is not in [0, {num_buckets})")
        self.key, self.name = key, key
        self.num_buckets, self.default_value = num_buckets, default_value

    def bucket_ids(self, features):
        ids = _features_of(features, self.key)
        if not ids.dtype.is_int:
            raise TypeError(f"categorical column {self.key!r}: ids must be integers, got "
                            f"{ids.dtype.name} ({ids.name!r})")
        if ids.shape.ndims is None or ids.shape.ndims > 2:
            raise ValueError(f"categorical column {self.key!r}: ids must be [batch] or "
                             f"[batch, k], got shape {ids.shape}")
        ids = reshape(ids, [-1, 1]) if ids.shape.ndims == 1 else ids
        if self.default_value is not None:
            inside = logical_and(greater_equal(ids, 0), less(ids, self.num_buckets))
            ids = where_v2(inside, ids, convert_to_tensor(self.default_value, dtype=ids.dtype))
        return ids

    def dense(self, features):
        raise ValueError(f"categorical column {self.name!r} has no dense form: wrap it in "
                         f"indicator_column or embedding_column")

    def linear_input(self, features):
        return reduce_sum(one_hot(self.bucket_ids(features), self.num_buckets,
                                  dtype=T.float32), 1)

    @property
    def width(self):
        return self.num_buckets


class _IndicatorColumn:
    def __init__(self, categorical):
        _check_categorical("indicator_column", categorical)
        self.categorical = categorical
        self.key, self.name = categorical.key, f"{categorical.name}_indicator"
        self.width = categorical.num_buckets

    def dense(self, features):
        return self.categorical.linear_input(features)

    linear_input = dense


class _EmbeddingColumn:
    def __init__(self, categorical, dimension, combiner, initializer):
        _check_categorical("embedding_column", categorical)
        if combiner not in ("mean", "sum", "sqrtn"):
            raise ValueError(f"embedding_column: combiner must be 'mean', 'sum' or 'sqrtn', "
                             f"got {combiner!r}")
        self.categorical, self.dimension, self.combiner = categorical, dimension, combiner
        self.initializer = initializer
        self.key, self.name = categorical.key, f"{categorical.name}_embedding"
        self.width = dimension

    def dense(self, features):
        from .init_ops import truncated_normal_initializer
        init = self.initializer or truncated_normal_initializer(
            mean=0.0, stddev=1 / math.sqrt(self.dimension))
        table = get_variable("embedding_weights", [self.categorical.num_buckets,
                                                   self.dimension], initializer=init)
        ids = self.categorical.bucket_ids(features)  # [batch, k]
        valid = logical_and(greater_equal(ids, 0), less(ids, self.categorical.num_buckets))
        rows = embedding_lookup(table, where_v2(valid, ids, zeros_like(ids)))  # a gather
        mask = expand_dims(cast(valid, T.float32), 2)
        total = reduce_sum(multiply(rows, mask), 1)
        if self.combiner == "sum":
            return total
        n = reduce_sum(cast(valid, T.float32), 1, keepdims=True)
        den = n if self.combiner == "mean" else sqrt(n)
        return multiply(total, 1.0 / where_v2(greater_equal(den, 1e-30), den, 1.0))

    linear_input = dense


def _check_categorical(what, col):
    if not isinstance(col, (_IdentityColumn, _BucketizedColumn)):
        raise ValueError(f"{what}: expected a categorical column, got {col!r}")


def numeric_column(key, shape=(1,), default_value=None, dtype=T.float32, normalizer_fn=None):
    """A dense column read from `features[key]`, reshaped to `[batch, prod(shape)]`."""
    return _NumericColumn(key, shape, default_value, dtype, normalizer_fn)


def bucketized_column(source_column, boundaries):
    """One-hot buckets of a numeric column: bucket i holds `boundaries[i-1] <= x <
    boundaries[i]`."""
    return _BucketizedColumn(source_column, boundaries)


def categorical_column_with_identity(key, num_buckets, default_value=None):
    """Integer ids in `[0, num_buckets)` read from `features[key]`."""
    return _IdentityColumn(key, num_buckets, default_value)


def indicator_column(categorical_column):
    """The multi-hot `[batch, num_buckets]` form of a categorical column."""
    return _IndicatorColumn(categorical_column)


def embedding_column(categorical_column, dimension, combiner="mean", initializer=None,
                     ckpt_to_load_from=None, tensor_name_in_ckpt=None, max_norm=None,
                     trainable=True):
    """A trainable `[num_buckets, dimension]` table; each example's ids are looked up and
    combined (`mean`, `sum` or `sqrtn`)."""
    if ckpt_to_load_from is not None or max_norm is not None:
        raise NotImplementedError("embedding_column: ckpt_to_load_from and max_norm are not "
                                  "supported")
    return _EmbeddingColumn(categorical_column, dimension, combiner, initializer)


def _sorted(feature_columns):
    cols = list(feature_columns)
    if not cols:
        raise ValueError("feature_columns must not be empty")
    return sorted(cols, key=lambda c: c.name)


def input_layer(features, feature_columns, weight_collections=None, trainable=True,
                cols_to_vars=None):
    """The columns' dense forms concatenated along axis 1 (ordered by column name)."""
    with variable_scope(None, default_name="input_layer"):
        parts = []
        for col in _sorted(feature_columns):
            with variable_scope(None, default_name=col.name):
                parts.append(col.dense(features))
        return parts[0] if len(parts) == 1 else concat(parts, 1)


def linear_model(features, feature_columns, units=1, sparse_combiner="sum",
                 weight_collections=None, trainable=True, cols_to_vars=None):
    """`sum over columns of input_c @ weights_c + bias_weights` (all zeros initially)."""
    if sparse_combiner != "sum":
        raise NotImplementedError("linear_model: only sparse_combiner='sum' is supported")
    from .init_ops import zeros_initializer
    with variable_scope(None, default_name="linear_model"):
        total = None
        for col in _sorted(feature_columns):
            with variable_scope(col.name):
                w = get_variable("weights", [col.width, units], initializer=zeros_initializer())
                term = matmul(col.linear_input(features), w)
            total = term if total is None else total + term
        bias = get_variable("bias_weights", [units], initializer=zeros_initializer())
        return total + bias
