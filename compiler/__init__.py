"""flowc: TF1-style dataflow graphs, compiled. `import compiler as fc` (or `as tf`).

The names below are TensorFlow 1.x's (`tf.compat.v1`) with the same meaning; a TF1
program that uses them runs unchanged. Submodule-like namespaces: `fc.nn`, `fc.random`,
`fc.initializers`, `fc.dtypes`, `fc.compat.v1`; host-side `fc.app`, `fc.flags`, `fc.gfile`,
`fc.logging` (compiler/platform/). Importing this package installs the
operator overloads on `Tensor` and `Variable` (see `frontend/overloads.py`).
"""

import sys as _sys
import types as _types

from . import onnx, summary, train
from .aot import compile  # fc.compile (shadows the builtin inside this module only)
from .autodiff import gradients
from .dump import dump
from .frontend import layers, losses, nn
from .frontend import math_ops as _math_ops
from .frontend import tf_errors as errors
from .frontend.array_ops import (
    bitcast,
    fill,
    one_hot,
    ones,
    ones_like,
    placeholder,
    placeholder_with_default,
    range,
    rank,
    shape,
    size,
    zeros,
    zeros_like,
)
from .frontend.clip_ops import clip_by_global_norm, clip_by_norm, global_norm
from .frontend.control_flow import (
    colocate_with,
    control_dependencies,
    device,
    group,
    identity,
    name_scope,
    no_op,
)
from .frontend.core import constant, convert_to_tensor
from .frontend.device_spec import DeviceSpec
from .frontend.graph import (
    Graph,
    GraphError,
    Operation,
    Tensor,
    TensorShape,
    get_default_graph,
    reset_default_graph,
)
from .frontend.index_ops import (
    depth_to_space,
    eye,
    gather_nd,
    matrix_band_part,
    reverse_sequence,
    scatter_nd,
    space_to_depth,
    tensor_scatter_add,
    tensor_scatter_nd_add,
    tensor_scatter_nd_sub,
    tensor_scatter_nd_update,
    tensor_scatter_sub,
    tensor_scatter_update,
)
from .frontend.indexing import reverse
from .frontend.init_ops import (
    constant_initializer,
    glorot_normal_initializer,
    glorot_uniform_initializer,
    ones_initializer,
    random_normal_initializer,
    random_uniform_initializer,
    truncated_normal_initializer,
    variance_scaling_initializer,
    zeros_initializer,
)
from .frontend.manip_ops import (
    broadcast_to,
    concat,
    expand_dims,
    gather,
    pad,
    reshape,
    split,
    squeeze,
    stack,
    tile,
    transpose,
    unstack,
    where,
    where_v2,
)
from .frontend.math_ops import *  # noqa: F403  (its __all__: elementwise math, matmul)
from .frontend.overloads import install_operators as _install_operators
from .frontend.partitioned import (
    PartitionedVariable,
    fixed_size_partitioner,
    min_max_variable_partitioner,
    variable_axis_size_partitioner,
)
from .frontend.random_ops import random_normal, random_uniform, set_random_seed, truncated_normal
from .frontend.reduce_ops import (
    argmax,
    argmin,
    reduce_all,
    reduce_any,
    reduce_logsumexp,
    reduce_max,
    reduce_mean,
    reduce_min,
    reduce_prod,
    reduce_sum,
)
from .frontend.scan_ops import cumprod, cumsum, matrix_determinant
from .frontend.variable_scope import (
    AUTO_REUSE,
    VariableScope,
    get_variable,
    get_variable_scope,
    variable_scope,
)
from .frontend.variables import (
    GraphKeys,
    Variable,
    add_to_collection,
    assign,
    assign_add,
    assign_sub,
    get_collection,
    get_collection_ref,
    global_variables,
    global_variables_initializer,
    initialize_all_variables,
    local_variables,
    local_variables_initializer,
    trainable_variables,
    variables_initializer,
)
from .ir import dtypes
from .ir.dims import ShapeError
from .ir.dtypes import DType, as_dtype, bool_, float16, float32, float64, int32, int64
from .jit import jit
from .options import CompileOptions
from .platform import app, flags, gfile
from .platform import compat as _compat
from .platform import tf_logging as logging
from .session import ConfigProto, InteractiveSession, Session, get_default_session

bool = bool_  # noqa: A001  (TF1 spells it fc.bool)
half = float16
double = float64
newaxis = None

_install_operators(Tensor)
_install_operators(Variable)

random = _types.SimpleNamespace(
    normal=random_normal, uniform=random_uniform, truncated_normal=truncated_normal,
    set_random_seed=set_random_seed, set_seed=set_random_seed)
random.fixed_unigram_candidate_sampler = nn.fixed_unigram_candidate_sampler  # (api)

initializers = _types.SimpleNamespace(
    zeros=zeros_initializer, ones=ones_initializer, constant=constant_initializer,
    random_normal=random_normal_initializer, random_uniform=random_uniform_initializer,
    truncated_normal=truncated_normal_initializer, glorot_uniform=glorot_uniform_initializer,
    glorot_normal=glorot_normal_initializer, variance_scaling=variance_scaling_initializer,
    global_variables=global_variables_initializer, local_variables=local_variables_initializer,
    variables=variables_initializer)

compat = _types.SimpleNamespace(
    v1=_sys.modules[__name__], as_bytes=_compat.as_bytes, as_text=_compat.as_text,
    as_str=_compat.as_str, as_str_any=_compat.as_str_any)

__version__ = VERSION = "1.15.0-flowc"  # the TF1 API level flowc follows; not a TF build
arg_max = argmax  # TF1's deprecated spellings (`dimension=` is accepted)
arg_min = argmin

# -- issue 14 / rnncells: tf.contrib (contrib.rnn cells, contrib.layers.flatten, seq2seq) --
from .frontend import contrib as _contrib  # noqa: E402

contrib = _types.SimpleNamespace(rnn=_contrib.rnn, layers=_contrib.layers,
                                 seq2seq=_contrib.seq2seq)
__all__ = ["contrib"]
# -- end rnncells --
# -- issue 14 / kmeans: tf.contrib.factorization.KMeans --
from .estimator.kmeans import KMeansClustering as _KMeansClustering  # noqa: E402
from .frontend import factorization as _factorization  # noqa: E402

contrib.factorization = _types.SimpleNamespace(
    **{_n: getattr(_factorization, _n) for _n in _factorization.__all__},
    KMeansClustering=_KMeansClustering)
# `from tensorflow.contrib.factorization import KMeans`, `from tensorflow.contrib import rnn`
_sys.modules[__name__ + ".contrib"] = contrib
_sys.modules[__name__ + ".contrib.factorization"] = contrib.factorization
# -- end kmeans --

# -- issue 14 / cudnn: tf.contrib.cudnn_rnn (CudnnLSTM/GRU/RNNTanh/RNNRelu on dynamic_rnn) --
from .frontend.cudnn_rnn import cudnn_rnn as _cudnn_rnn  # noqa: E402

contrib.cudnn_rnn = _cudnn_rnn
# -- end cudnn --

__all__ += [
    "add_to_collection", "argmax", "argmin", "as_dtype", "assign", "assign_add", "assign_sub",
    "AUTO_REUSE", "bool", "bool_", "broadcast_to", "compat", "compile", "CompileOptions", "dump",
    "concat", "ConfigProto", "errors", "constant", "constant_initializer", "control_dependencies",
    "bitcast", "convert_to_tensor", "device", "double", "DType", "dtypes", "expand_dims", "fill",
    "float16",
    "float32", "float64", "gather", "get_collection", "get_default_graph", "get_default_session",
    "get_variable", "get_variable_scope", "global_variables", "global_variables_initializer",
    "gradients", "glorot_normal_initializer", "glorot_uniform_initializer", "Graph", "GraphError",
    "GraphKeys", "group", "half", "identity", "layers", "initialize_all_variables", "initializers",
    "int32", "int64", "jit", "local_variables", "local_variables_initializer", "name_scope",
    "newaxis", "nn", "no_op", "onnx", "one_hot", "ones", "ones_initializer", "ones_like",
    "Operation", "pad", "placeholder", "placeholder_with_default", "random", "random_normal",
    "random_normal_initializer", "random_uniform", "random_uniform_initializer", "range", "rank",
    "reduce_all", "reduce_any", "reduce_logsumexp", "reduce_max", "reduce_mean", "reduce_min",
    "reduce_prod", "reduce_sum", "reset_default_graph", "reshape", "reverse", "Session",
    "set_random_seed", "shape", "ShapeError", "size", "split", "squeeze", "stack", "summary",
    "Tensor", "TensorShape", "tile", "train", "trainable_variables", "transpose",
    "truncated_normal", "truncated_normal_initializer", "unstack", "Variable", "variable_scope",
    "variables_initializer", "VariableScope", "variance_scaling_initializer", "where", "where_v2",
    "zeros", "zeros_initializer", "zeros_like",
]
__all__ += [
    "arg_max", "arg_min", "clip_by_global_norm", "clip_by_norm", "get_collection_ref",
    "colocate_with", "global_norm", "DeviceSpec", "InteractiveSession", "VERSION", "app",
    "flags", "gfile", "logging",
]
__all__ += ["depth_to_space", "eye", "gather_nd", "matrix_band_part", "reverse_sequence",
            "scatter_nd", "space_to_depth", "tensor_scatter_add", "tensor_scatter_nd_add",
            "tensor_scatter_nd_sub", "tensor_scatter_nd_update", "tensor_scatter_sub",
            "tensor_scatter_update"]
__all__ += ["PartitionedVariable", "fixed_size_partitioner", "min_max_variable_partitioner",
            "variable_axis_size_partitioner"]
__all__ += ["cumprod", "cumsum", "matrix_determinant"]   # frontend/scan_ops.py
# -- api: strided_slice, assertions, deprecated aliases --
from .frontend import asserts as _asserts  # noqa: E402
from .frontend import deprecated as _deprecated  # noqa: E402
from .frontend.deprecated import *  # noqa: E402,F403  (its __all__: TF 0.x spellings)
from .frontend.indexing import strided_slice  # noqa: E402

Assert = _asserts.Assert
check_numerics = _asserts.check_numerics
verify_tensor_all_finite = _asserts.verify_tensor_all_finite
is_nan, is_inf, is_finite = _asserts.is_nan, _asserts.is_inf, _asserts.is_finite
_ASSERT_NAMES = ["assert_equal", "assert_none_equal", "assert_less", "assert_less_equal",
                 "assert_greater", "assert_greater_equal", "assert_positive", "assert_negative",
                 "assert_non_negative", "assert_non_positive", "assert_rank",
                 "assert_rank_at_least", "assert_type", "assert_integer", "assert_scalar"]
globals().update({n: getattr(_asserts, n) for n in _ASSERT_NAMES})
debugging = _types.SimpleNamespace(
    Assert=Assert, check_numerics=check_numerics, assert_all_finite=verify_tensor_all_finite,
    is_nan=is_nan, is_inf=is_inf,
    is_finite=is_finite, **{n: getattr(_asserts, n) for n in _ASSERT_NAMES})
__all__ += ["Assert", "check_numerics", "debugging", "is_finite", "is_inf", "is_nan",
            "strided_slice", "verify_tensor_all_finite"] + _ASSERT_NAMES + _deprecated.__all__
from . import run_metadata as _run_metadata  # noqa: E402
from .frontend import printing as _printing  # noqa: E402

Print = _printing.Print
print = _printing.print_  # noqa: A001  (TF's tf.print; shadows the builtin in this module only)
__all__ += ["Print", "print"]
RunOptions, RunMetadata = _run_metadata.RunOptions, _run_metadata.RunMetadata
timeline = _types.SimpleNamespace(Timeline=_run_metadata.Timeline)
__all__ += ["RunMetadata", "RunOptions", "timeline"]
# -- end api --
# -- integer dtypes (api) --
int8, int16, uint8, uint16 = dtypes.int8, dtypes.int16, dtypes.uint8, dtypes.uint16
uint32, uint64 = dtypes.uint32, dtypes.uint64
string = dtypes.string  # host-only string tensors (constants, summaries)
__all__ += ["int8", "int16", "uint8", "uint16", "uint32", "uint64", "string"]
__all__ += _math_ops.__all__  # the elementwise math API: listed once, in math_ops
__all__ += ["losses"]  # fc.losses; fc.nn.embedding_lookup lives in fc.nn

# -- issue 14 / data: tf.data input pipelines (compiler/data/) --
from . import data  # noqa: E402
from .data.queues import FIFOQueue, QueueBase, RandomShuffleQueue  # noqa: E402

__all__ += ["data", "FIFOQueue", "QueueBase", "RandomShuffleQueue"]
# -- end data --
# -- issue 14 / est: tf.metrics, tf.confusion_matrix, tf.estimator, tf.feature_column --
from . import estimator  # noqa: E402
from .frontend import feature_column, metrics  # noqa: E402
from .frontend.metrics import confusion_matrix  # noqa: E402

contrib.metrics = metrics.contrib_namespace()  # tf.contrib.metrics.streaming_* (old order)
__all__ += ["confusion_matrix", "estimator", "feature_column", "metrics"]
# -- end est --
# -- issue 14 / control flow: tf.cond, tf.case, tf.while_loop (compiled as regions) --
from .frontend.control_flow import case, cond, while_loop  # noqa: E402

__all__ += ["case", "cond", "while_loop"]
# -- end control flow --

# -- issue 14 / cfgrad: TensorArray, map_fn/scan/foldl/foldr --
from .frontend.functional_ops import foldl, foldr, map_fn, scan  # noqa: E402
from .frontend.tensor_array import TensorArray  # noqa: E402

__all__ += ["TensorArray", "foldl", "foldr", "map_fn", "scan"]
# -- end cfgrad --

# -- issue 15 / norm: tf.image resizing (frontend/image_ops.py) --
from .frontend import image_ops as _image_ops  # noqa: E402

image = globals().get("image") or _types.SimpleNamespace()  # tf.image (shared with pool)
for _n in _image_ops.__all__:
    setattr(image, _n, getattr(_image_ops, _n))
__all__ += ["image"]
# -- end norm --
# -- issue 15 / pool: tf.extract_image_patches, tf.image.extract_image_patches --
from .frontend.pooling import extract_image_patches  # noqa: E402

image = globals().get("image") or _types.SimpleNamespace()  # tf.image (shared with resize)
image.extract_image_patches = extract_image_patches
__all__ += ["extract_image_patches"]
# -- end pool --

# -- tf.einsum (also the ONNX Einsum converter's composite) --
from .frontend.special_math_ops import einsum  # noqa: E402

__all__ += ["einsum"]
# -- end einsum --

# -- issue 18 / elem: tf.math (its elementwise and reduction names), tf.bitwise --
from .frontend import bitwise_ops as _bitwise_ops  # noqa: E402

math = globals().get("math")  # tf.math, shared with other blocks (never the stdlib module)
if not isinstance(math, _types.SimpleNamespace):
    math = _types.SimpleNamespace()
for _n in ("abs", "acos", "acosh", "add", "add_n", "argmax", "argmin", "asin", "asinh",
           "atan", "atanh", "ceil", "cos", "cosh", "divide", "equal", "erf", "exp", "expm1",
           "floor", "floordiv", "floormod", "greater", "greater_equal", "in_top_k",
           "is_finite", "is_inf", "is_nan", "l2_normalize", "less", "less_equal", "log",
           "log1p", "log_softmax", "logical_and", "logical_not", "logical_or",
           "logical_xor", "maximum", "minimum", "mod", "multiply", "negative", "not_equal",
           "pow", "reciprocal", "reduce_all", "reduce_any", "reduce_logsumexp", "reduce_max",
           "reduce_mean", "reduce_min", "reduce_prod", "reduce_std", "reduce_sum",
           "reduce_variance", "round", "rsqrt", "sigmoid", "sign", "sin", "sinh", "softmax",
           "softplus", "sqrt", "square", "squared_difference", "subtract", "tan", "tanh",
           "top_k", "truediv"):
    _f = globals().get(_n) or getattr(nn, _n, None)
    if _f is not None and not hasattr(math, _n):
        setattr(math, _n, _f)
bitwise = _types.SimpleNamespace(**{_n: getattr(_bitwise_ops, _n)
                                    for _n in _bitwise_ops.__all__})
__all__ += ["bitwise", "math"]
# -- end elem --
