"""ONNX ops of domains other than the default one: the optimizer updates of
ai.onnx.preview.training (Adagrad, Adam, Momentum with its Nesterov mode) and the
classical-ML ops of ai.onnx.ml (Binarizer, ArrayFeatureExtractor, LabelEncoder,
TreeEnsemble), and ai.onnx.preview's FlexAttention (attention with score_mod / prob_mod
subgraphs, built inline with `cx.subgraph`). A node's `cx.opset` is the model's version
of the node's domain.

The training ops are elementwise update formulas over n tensors at once (inputs R, T, then
n X's, n G's, n of each state; outputs the n new X's, then the n new states of each
kind). The learning-rate factors that depend on T (Adagrad's decay, Adam's bias
correction, Momentum's first-step beta) are computed in float64 from the scalars R and T,
as the ONNX reference does, then cast to X's type.
"""

from __future__ import annotations

import numpy as np

from ...frontend import manip_ops as MO
from ...frontend import math_ops as M
from ...frontend import reduce_ops as R
from ...frontend.asserts import is_nan
from ...frontend.core import constant, expand_dims, make, stack
from ...ir import dtypes as T
from ..table import converter

TRAINING = "ai.onnx.preview.training"
ML = "ai.onnx.ml"


def _f64(x):
    return M.cast(x, T.float64) if x.dtype is not T.float64 else x


def _c(value, like):
    return constant(value, dtype=like.dtype)


def _groups(cx, kinds):
    """The n (X, G, state...) tuples of an optimizer node with `kinds` tensors per
    parameter (X, G and the states), after the inputs R and T."""
    rest = len(cx.inputs) - 2
    if rest <= 0 or rest % kinds:
        raise cx.unsupported(f"{len(cx.inputs)} inputs: {cx.op_type} takes R, T and "
                             f"{kinds} tensors per optimized tensor")
    n = rest // kinds
    ins = [cx.input(2 + i) for i in range(rest)]
    if any(t is None for t in ins):
        raise cx.unsupported("an omitted input (every X, G and state is required)")
    for t in ins:
        if not t.dtype.is_float:
            raise cx.unsupported(f"an input of element type {t.dtype.name}; {cx.op_type} "
                                 f"updates floating-point tensors")
    return [tuple(ins[k * n + i] for k in range(kinds)) for i in range(n)]


def _scalars(cx):
    r, t = cx.input(0), cx.input(1)
    if r is None or t is None:
        raise cx.unsupported("R and T (inputs 0 and 1) are required")
    return _f64(r), _f64(t)


@converter("Adagrad", domain=TRAINING, attrs=("decay_factor", "epsilon", "norm_coefficient"))
def adagrad(cx):
    r, t = _scalars(cx)
    decay, eps = cx.attr("decay_factor", 0.0), cx.attr("epsilon", 0.0)
    norm = cx.attr("norm_coefficient", 0.0)
    rate = r / (1.0 + t * decay)
    xs, hs = [], []
    for x, g, h in _groups(cx, 3):
        g = _c(norm, x) * x + g
        h_new = h + g * g
        xs.append(x - M.cast(rate, x.dtype) * g / (M.sqrt(h_new) + _c(eps, h_new)))
        hs.append(h_new)
    return xs + hs


@converter("Adam", domain=TRAINING,
           attrs=("alpha", "beta", "epsilon", "norm_coefficient", "norm_coefficient_post"))
def adam(cx):
    r, t = _scalars(cx)
    alpha, beta = cx.attr("alpha", 0.9), cx.attr("beta", 0.999)
    eps, norm = cx.attr("epsilon", 0.0), cx.attr("norm_coefficient", 0.0)
    post = cx.attr("norm_coefficient_post", 0.0)
    one = constant(1.0, dtype=T.float64)
    corrected = r * M.sqrt(one - M.pow(constant(beta, dtype=T.float64), t)) / (
        one - M.pow(constant(alpha, dtype=T.float64), t))
    rate = make("select", [make("greater", [t, constant(0.0, dtype=T.float64)]),
                           corrected, r])
    xs, vs, hs = [], [], []
    for x, g, v, h in _groups(cx, 4):
        g = _c(norm, x) * x + g
        v_new = _c(alpha, v) * v + _c(1 - alpha, v) * g
        h_new = _c(beta, h) * h + _c(1 - beta, h) * (g * g)
        x_new = x - M.cast(rate, x.dtype) * (v_new / (M.sqrt(h_new) + _c(eps, h_new)))
        xs.append(_c(1 - post, x) * x_new)
        vs.append(v_new)
        hs.append(h_new)
    return xs + vs + hs


@converter("Momentum", domain=TRAINING, attrs=("alpha", "beta", "mode", "norm_coefficient"),
           note="mode standard or nesterov")
def momentum(cx):
    for a in ("alpha", "beta", "mode", "norm_coefficient"):
        if a not in cx.attrs:
            raise cx.unsupported(f"the required attribute {a} is missing")
    mode = cx.attr("mode")
    if mode not in ("standard", "nesterov"):
        raise cx.unsupported(f"mode {mode!r} (standard or nesterov)")
    r, t = _scalars(cx)
    alpha, beta, norm = cx.attr("alpha"), cx.attr("beta"), cx.attr("norm_coefficient")
    beta_t = make("select", [make("greater", [t, constant(0.0, dtype=T.float64)]),
                             constant(float(beta), dtype=T.float64),
                             constant(1.0, dtype=T.float64)])
    xs, vs = [], []
    for x, g, v in _groups(cx, 3):
        g = _c(norm, x) * x + g
        v_new = _c(alpha, v) * v + M.cast(beta_t, v.dtype) * g
        step = v_new if mode == "standard" else g + _c(alpha, v_new) * v_new
        xs.append(x - M.cast(r, x.dtype) * step)
        vs.append(v_new)
    return xs + vs


# ---- ai.onnx.ml -------------------------------------------------------------------------

@converter("Binarizer", domain=ML, attrs=("threshold",))
def binarizer(cx):
    x = cx.input(0)
    return [M.cast(M.greater(x, _c(cx.attr("threshold", 0.0), x)), x.dtype)]


@converter("ArrayFeatureExtractor", domain=ML,
           note="the indices' shape must be known at import; 1-D data gives a (1, k) output")
def array_feature_extractor(cx):
    x, idx = cx.input(0), cx.input(1)
    dims = idx.shape.as_list() if idx.shape.rank is not None else None
    if dims is None or any(d is None for d in dims):
        raise cx.unsupported("input 1 (indices) must have a shape known at import")
    k = int(np.prod(dims, dtype=np.int64))
    flat = MO.reshape(idx, [k]) if dims != [k] else idx
    out = MO.gather(x, flat, axis=x.shape.rank - 1)
    return [MO.reshape(out, [1, k]) if x.shape.rank == 1 else out]


_LE_KEYS = ("keys_floats", "keys_int64s", "keys_strings", "keys_tensor")
_LE_VALUES = ("values_floats", "values_int64s", "values_strings", "values_tensor")


@converter("LabelEncoder", domain=ML, since=2,
           attrs=_LE_KEYS + _LE_VALUES + ("default_float", "default_int64", "default_string",
                                         "default_tensor"),
           note="numeric keys and values only (flowc has no string tensors); a float NaN "
                "key matches no input")
def label_encoder(cx):
    keys = [a for a in _LE_KEYS if a in cx.attrs]
    values = [a for a in _LE_VALUES if a in cx.attrs]
    for a in keys + values + ["default_string"]:
        if "string" in a and a in cx.attrs:
            raise cx.unsupported(f"attribute {a}: flowc has no string tensors")
    if len(keys) != 1 or len(values) != 1:
        raise cx.unsupported(f"one keys_* and one values_* attribute, got {keys + values}")
    x = cx.input(0)
    if x.dtype.is_bool or not (x.dtype.is_float or x.dtype.is_int):
        raise cx.unsupported(f"input of element type {x.dtype.name}")
    k = np.asarray(cx.attr(keys[0])).reshape(-1)
    vname = values[0]
    if vname == "values_tensor":
        v = np.asarray(cx.attr(vname)).reshape(-1)
        default = cx.attr("default_tensor")   # ONNX's default: -1 for ints, -0.0 for floats
        default = (np.asarray(-0.0 if v.dtype.kind == "f" else -1, v.dtype) if default is None
                   else np.asarray(default, dtype=v.dtype).reshape(-1)[0])
    elif vname == "values_floats":
        v = np.asarray(cx.attr(vname), dtype=np.float32)
        default = np.float32(cx.attr("default_float", -0.0))
    else:
        v = np.asarray(cx.attr(vname), dtype=np.int64)
        default = np.int64(cx.attr("default_int64", -1))
    if k.size != v.size:
        raise cx.unsupported(f"{keys[0]} has {k.size} entries, {vname} {v.size}")
    hit = M.equal(expand_dims(x, -1), constant(k.astype(x.dtype.np)))
    pos = R.argmax(M.cast(hit, T.int32), axis=-1)
    vals = constant(v)
    return [MO.where_v2(R.reduce_any(hit, axis=-1), MO.gather(vals, pos),
                        constant(default, dtype=vals.dtype))]


_TREE_ATTRS = ("aggregate_function", "leaf_targetids", "leaf_weights", "membership_values",
               "n_targets", "nodes_falseleafs", "nodes_falsenodeids", "nodes_featureids",
               "nodes_hitrates", "nodes_missing_value_tracks_true", "nodes_modes",
               "nodes_splits", "nodes_trueleafs", "nodes_truenodeids", "post_transform",
               "tree_roots")


@converter("TreeEnsemble", domain=ML, since=5, attrs=_TREE_ATTRS,
           note="post_transform NONE only; every node's comparison is computed for every "
                "sample and each leaf's path is a product of them (no branching): the graph "
                "grows with the trees' sizes")
def tree_ensemble(cx):
    x = cx.input(0)
    if not x.dtype.is_float or x.shape.rank != 2:
        raise cx.unsupported("X must be a 2-D floating-point tensor")
    if cx.attr("post_transform", 0) != 0:
        raise cx.unsupported(f"post_transform {cx.attr('post_transform')} (only 0, NONE)")
    agg = cx.attr("aggregate_function", 1)
    if agg not in (0, 1, 2, 3):
        raise cx.unsupported(f"aggregate_function {agg}")
    need = ("leaf_targetids", "leaf_weights", "nodes_falseleafs", "nodes_falsenodeids",
            "nodes_featureids", "nodes_modes", "nodes_splits", "nodes_trueleafs",
            "nodes_truenodeids", "tree_roots", "n_targets")
    missing = [a for a in need if a not in cx.attrs]
    if missing:
        raise cx.unsupported(f"required attributes {', '.join(missing)} are missing")
    splits = np.asarray(cx.attr("nodes_splits")).reshape(-1).astype(np.float64)
    modes = [int(m) for m in np.asarray(cx.attr("nodes_modes")).reshape(-1)]
    feats, roots = cx.attr("nodes_featureids"), cx.attr("tree_roots")
    t_ids, f_ids = cx.attr("nodes_truenodeids"), cx.attr("nodes_falsenodeids")
    t_leaf, f_leaf = cx.attr("nodes_trueleafs"), cx.attr("nodes_falseleafs")
    weights = np.asarray(cx.attr("leaf_weights")).reshape(-1).astype(np.float64)
    targets, n_targets = cx.attr("leaf_targetids"), int(cx.attr("n_targets"))
    missing_true = cx.attr("nodes_missing_value_tracks_true") or [0] * len(modes)
    if any(m not in range(7) for m in modes):
        raise cx.unsupported(f"nodes_modes {sorted(set(modes) - set(range(7)))}")
    # the members of each BRANCH_MEMBER node, in node order, NaN-delimited
    members, it = {}, iter(np.asarray(cx.attr("membership_values", [])).reshape(-1).tolist())
    for i, m in enumerate(modes):
        if m == 6:
            members[i] = []
            for v in it:
                if np.isnan(v):
                    break
                members[i].append(v)
    conds = {}

    def cond(i):  # the bool [N] of node i's test
        if i not in conds:
            col = MO.gather(x, constant(int(feats[i]), dtype=T.int64), axis=1)
            m = modes[i]
            if m == 6:
                c = None
                for v in members[i]:
                    e = M.equal(col, _c(v, col))
                    c = e if c is None else M.logical_or(c, e)
                if c is None:
                    c = M.less(col, col)    # an empty set: false (NaN too)
            else:
                op = (M.less_equal, M.less, M.greater_equal, M.greater, M.equal,
                      M.not_equal)[m]
                c = op(col, _c(splits[i], col))
            if missing_true[i]:
                c = M.logical_or(c, is_nan(col))
            conds[i] = c
        return conds[i]

    leaves = []  # (path: [(node, truth)], leaf index)

    def walk(i, path, depth):
        if depth > len(modes):
            raise cx.unsupported("the trees' node ids form a cycle")
        for truth, nxt, is_leaf in ((True, t_ids[i], t_leaf[i]), (False, f_ids[i], f_leaf[i])):
            p = path + [(i, truth)]
            if is_leaf:
                leaves.append((p, int(nxt)))
            else:
                walk(int(nxt), p, depth + 1)

    for r in roots:
        r = int(r)
        if t_leaf[r] and f_leaf[r] and t_ids[r] == f_ids[r]:
            leaves.append(([], r))      # a tree that is one leaf (as the ONNX reference)
        else:
            walk(r, [], 0)
    n = MO.gather(x, constant(0, dtype=T.int64), axis=1)
    columns = [[] for _ in range(n_targets)]   # per target: (bool [N] or None, weight)
    for path, leaf in leaves:
        c = None
        for i, truth in path:
            t = cond(i) if truth else M.logical_not(cond(i))
            c = t if c is None else M.logical_and(c, t)
        tid = int(targets[leaf])
        if not 0 <= tid < n_targets:
            raise cx.unsupported(f"leaf {leaf} has target id {tid} (n_targets {n_targets})")
        columns[tid].append((c, float(weights[leaf])))
    outs = []
    big = float(np.finfo(x.dtype.np).max)
    for col in columns:
        if agg in (0, 1):
            acc = None
            for c, w in col:
                term = (_c(w, x) if c is None else
                        MO.where_v2(c, _c(w, x), _c(0.0, x)))
                acc = term if acc is None else acc + term
            if agg == 0 and acc is not None:
                acc = acc / _c(len(roots), x)
            outs.append(acc)
        else:
            init = big if agg == 2 else -big
            pick = M.minimum if agg == 2 else M.maximum
            acc = None
            for c, w in col:
                term = (_c(w, x) if c is None else
                        MO.where_v2(c, _c(w, x), _c(init, x)))
                acc = term if acc is None else pick(acc, term)
            outs.append(acc if acc is None else pick(acc, _c(init, x)))
    base = M.cast(M.less(n, n), x.dtype)    # zeros of shape [N] (NaN-safe: n < n is false)
    filled = []
    for acc in outs:
        fill = 0.0 if agg in (0, 1) else (big if agg == 2 else -big)
        filled.append(base + (acc if acc is not None else _c(fill, x)))
    return [stack(filled, axis=1)]


# ---- ai.onnx.preview --------------------------------------------------------------------

PREVIEW = "ai.onnx.preview"


def _mod(cx, name, x):
    """The node's `name` subgraph (score_mod / prob_mod) applied to `x`, as x's dtype."""
    g = cx.attr(name)
    if g is None:
        return x
    if len(g.input) != 1 or len(g.output) != 1:
        raise cx.unsupported(f"{name} must have one input and one output (it has "
                             f"{len(g.input)} and {len(g.output)})")
    (out,) = cx.subgraph(g, [x])
    if out.shape.ndims != x.shape.ndims:
        raise cx.unsupported(f"{name} gives a rank-{out.shape.ndims} output for its rank-"
                             f"{x.shape.ndims} input (it must keep the shape)")
    return out if out.dtype is x.dtype else M.cast(out, x.dtype)


@converter("FlexAttention", domain=PREVIEW, attrs=("prob_mod", "scale", "score_mod",
                                                   "softmax_precision"),
           note="rank-4 Q/K/V, GQA; score_mod/prob_mod subgraphs built inline on the score "
                "and probability tensors; the head counts and head size must be known at "
                "import")
def flex_attention(cx):
    from .attention import _softmax_dtype
    from .transformer import rank_of, static_dim
    q, k, v = cx.input(0), cx.input(1), cx.input(2)
    for t, what in ((q, "input 0 (Q)"), (k, "input 1 (K)"), (v, "input 2 (V)")):
        if rank_of(cx, t, what) != 4:
            raise cx.unsupported(f"{what} must be 4-D (batch, heads, sequence, head size)")
    if not q.dtype.is_float or k.dtype is not q.dtype or v.dtype is not q.dtype:
        raise cx.unsupported(f"Q, K, V must share one float type (got {q.dtype.name}, "
                             f"{k.dtype.name}, {v.dtype.name})")
    hq, hkv = static_dim(cx, q, 1, "Q"), static_dim(cx, k, 1, "K")
    if static_dim(cx, v, 1, "V") != hkv:
        raise cx.unsupported("K and V must have the same number of heads")
    if hq % hkv:
        raise cx.unsupported(f"Q's {hq} heads are not a multiple of K's {hkv}")
    head = static_dim(cx, q, 3, "Q")
    scale = cx.attr("scale")
    scale = 1.0 / np.sqrt(head) if scale is None else float(scale)
    # as the ONNX reference: Q and K each scaled by sqrt(scale) (taken in float32)
    s = constant(np.asarray(np.sqrt(np.float32(scale)), dtype=q.dtype.np))
    if hq != hkv:   # GQA: query head h reads key/value head h // (hq / hkv)
        heads = constant(np.arange(hq, dtype=np.int64) // (hq // hkv))
        k, v = MO.gather(k, heads, axis=1), MO.gather(v, heads, axis=1)
    scores = M.matmul(q * s, k * s, transpose_b=True)
    if "softmax_precision" in cx.attrs:
        sdt = _softmax_dtype(cx, q)
    else:
        sdt = T.float32 if q.dtype.itemsize < 4 else q.dtype
    scores = _mod(cx, "score_mod", scores if scores.dtype is sdt else M.cast(scores, sdt))
    m = R.reduce_max(scores, axis=-1, keepdims=True)
    e = M.exp(scores - m)
    p = _mod(cx, "prob_mod", e / R.reduce_sum(e, axis=-1, keepdims=True))
    y = M.matmul(p, v if v.dtype is sdt else M.cast(v, sdt))
    return [y if y.dtype is q.dtype else M.cast(y, q.dtype)]
