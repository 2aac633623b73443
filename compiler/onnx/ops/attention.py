"""Attention ONNX ops: Attention (opsets 23 to 25), RotaryEmbedding (23), LinearAttention
(27: its recurrence unrolled over the sequence).

Compositions of flowc frontend functions (matmul, reductions, where, iota masks); no
primitive of their own. Attention follows the ONNX reference
(onnx/reference/ops/op_attention.py) step for step, so the node cases' stored outputs
agree: Q and K each scaled by sqrt(scale), softcap before the additive bias, every mask
(attn_mask, is_causal with its bottom-right offset, the sliding window, nonpad_kv_seqlen)
folded into one additive bias, a softmax that gives 0 for an all -inf row, and rows
whose bias is all -inf zeroed by a select (never a multiply, so NaN cannot leak).
"""

from __future__ import annotations

import numpy as np

from ...frontend import core
from ...frontend import manip_ops as MO
from ...frontend import math_ops as M
from ...frontend import reduce_ops as R
from ...ir import dtypes as T
from .. import proto
from ..table import converter
from .transformer import const, rank_of, static_dim

_ATTENTION_ATTRS = ("is_causal", "kv_num_heads", "q_num_heads", "qk_matmul_output_mode",
                    "scale", "softcap", "softmax_precision", "left_window_size",
                    "right_window_size")


def _heads_first(cx, x, heads, what):
    """(B, S, H*D) -> (B, H, S, D)."""
    b, s, hidden = list(x.shape)
    hidden = static_dim(cx, x, 2, what)
    if heads <= 0 or hidden % heads:
        raise cx.unsupported(f"{what}: hidden size {hidden} is not a multiple of "
                             f"{heads} heads")
    return MO.transpose(MO.reshape(x, [b, s, heads, hidden // heads]), [0, 2, 1, 3])


def _iota(n, axis, rank):
    shape = [1] * rank
    shape[axis] = n
    return core.make("iota", [], shape=tuple(shape), axis=axis, dtype=T.int64)


def _all(masks):
    out = None
    for m in masks:
        out = m if out is None else M.logical_and(out, m)
    return out


def safe_softmax(x):
    """Softmax over the last axis that gives 0 for a row of -inf (no NaN)."""
    m = R.reduce_max(x, axis=-1, keepdims=True)
    m = MO.where_v2(M.equal(m, const(-np.inf, m)), const(0, m), m)
    e = M.exp(M.subtract(x, m))
    s = R.reduce_sum(e, axis=-1, keepdims=True)
    s = MO.where_v2(M.equal(s, const(0, s)), const(1, s), s)
    return M.divide(e, s)


def _softmax_dtype(cx, x):
    code = cx.attr("softmax_precision")
    if code is None:
        return x.dtype
    try:
        dt = T.as_dtype(proto.onnx().helper.tensor_dtype_to_np_dtype(int(code)))
    except Exception:
        dt = None
    if dt not in (T.float16, T.float32, T.float64):
        raise cx.unsupported(f"softmax_precision={code}: flowc computes the softmax in "
                             f"float16, float32 or float64 (bfloat16 and others: no)")
    return dt


def _bias(cx, q_len, kv_len, dtype, past_len, nonpad):
    """The additive bias (broadcastable to (B, H, Sq, Skv)) of every mask of the node, or
    None when it has none."""
    parts, allowed = [], []
    like = core.constant(np.zeros((), dtype.np))
    if cx.has(3):
        mask = cx.input(3)
        if mask.dtype.kind == "bool":
            mask = MO.where_v2(mask, const(0, like), const(-np.inf, like))
        elif mask.dtype is not dtype:
            raise cx.unsupported(f"input 3 (attn_mask) has element type {mask.dtype.name}; "
                                 f"it must be bool or Q's type {dtype.name}")
        last = list(mask.shape)[-1] if mask.shape.ndims else None
        if last != kv_len and not (isinstance(last, int) and isinstance(kv_len, int)):
            raise cx.unsupported(f"input 3 (attn_mask): its last dim ({last}) must be the "
                                 f"total key length ({kv_len}) or both known at import")
        if last != kv_len and last > kv_len:
            raise cx.unsupported(f"input 3 (attn_mask) has {last} key positions, more "
                                 f"than the {kv_len} keys")
        if last != kv_len:  # the missing key positions are masked
            pads = [[0, 0]] * (mask.shape.ndims - 1) + [[0, kv_len - last]]
            mask = MO.pad(mask, pads, constant_values=-np.inf)
        parts.append(mask)
    causal = bool(cx.attr("is_causal", 0))
    left, right = int(cx.attr("left_window_size", -1)), int(cx.attr("right_window_size", -1))
    if left < -1 or right < -1:
        raise cx.unsupported(f"left_window_size={left}, right_window_size={right}: each "
                             f"is -1 (unbounded) or >= 0")
    if causal or left >= 0 or right >= 0:
        i, j = _iota(q_len, 0, 2), _iota(kv_len, 1, 2)
        if nonpad is not None and past_len == 0:   # external cache: offset per batch
            off = MO.reshape(M.subtract(nonpad, core.constant(np.int64(q_len))),
                             [-1, 1, 1, 1])
            pos = M.add(i, off)                     # (B, 1, Sq, 1)
        else:
            pos = M.add(i, core.constant(np.int64(past_len)))
        if causal:
            allowed.append(M.less_equal(j, pos))
        diff = M.subtract(pos, j)
        if left >= 0:
            allowed.append(M.less_equal(diff, core.constant(np.int64(left))))
        if right >= 0:
            allowed.append(M.less_equal(M.negative(diff), core.constant(np.int64(right))))
    if nonpad is not None:
        keep = M.less(_iota(kv_len, 3, 4), MO.reshape(nonpad, [-1, 1, 1, 1]))
        allowed.append(keep)
    if allowed:
        parts.append(MO.where_v2(_all(allowed), const(0, like), const(-np.inf, like)))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else M.add(parts[0], parts[1])


@converter("Attention", since=23, attrs=_ATTENTION_ATTRS,
           note="3-D (with q_num_heads/kv_num_heads) or 4-D Q/K/V, GQA, bool or additive "
                "attn_mask, is_causal, past_key/past_value, nonpad_kv_seqlen (24), "
                "sliding windows (25), softcap, qk_matmul_output_mode 0-3, "
                "softmax_precision float16/32/64; the head counts and hidden sizes must "
                "be known at import")
def attention(cx):
    q, k, v = cx.input(0), cx.input(1), cx.input(2)
    rank = rank_of(cx, q, "input 0 (Q)")
    if rank not in (3, 4) or {rank_of(cx, k, "input 1 (K)"),
                              rank_of(cx, v, "input 2 (V)")} != {rank}:
        raise cx.unsupported("Q, K and V must all be 3-D or all be 4-D")
    if q.dtype.kind != "float" or k.dtype is not q.dtype or v.dtype is not q.dtype:
        raise cx.unsupported(f"Q, K, V must share one float type (got {q.dtype.name}, "
                             f"{k.dtype.name}, {v.dtype.name})")
    if cx.has(4) != cx.has(5):
        raise cx.unsupported("past_key and past_value come together")
    nonpad = cx.input(6)
    if nonpad is not None and cx.has(4):
        raise cx.unsupported("nonpad_kv_seqlen cannot be combined with past_key/past_value")
    if rank == 3:
        if "q_num_heads" not in cx.attrs or "kv_num_heads" not in cx.attrs:
            raise cx.unsupported("3-D Q/K/V need the q_num_heads and kv_num_heads attributes")
        hq, hkv = int(cx.attr("q_num_heads")), int(cx.attr("kv_num_heads"))
        q = _heads_first(cx, q, hq, "input 0 (Q)")
        k = _heads_first(cx, k, hkv, "input 1 (K)")
        v = _heads_first(cx, v, hkv, "input 2 (V)")
    else:
        if cx.opset >= 25 and ("q_num_heads" in cx.attrs or "kv_num_heads" in cx.attrs):
            raise cx.unsupported("q_num_heads/kv_num_heads are for 3-D inputs only")
        hq, hkv = static_dim(cx, q, 1, "Q"), static_dim(cx, k, 1, "K")
    if hq % hkv:
        raise cx.unsupported(f"q_num_heads={hq} is not a multiple of kv_num_heads={hkv}")
    head = static_dim(cx, q, 3, "Q") if rank == 4 else list(q.shape)[3]
    scale = cx.attr("scale")
    scale = 1.0 / np.sqrt(head) if scale is None else float(scale)
    s = const(np.sqrt(scale), q)
    if cx.has(4):
        k = MO.concat([cx.input(4), k], axis=2)
        v = MO.concat([cx.input(5), v], axis=2)
        past_len = static_dim(cx, cx.input(4), 2, "input 4 (past_key)")
    else:
        past_len = 0
    present_k, present_v = k, v
    b, _, q_len, _ = list(q.shape)
    kv_len = list(k.shape)[2]
    qs, ks = M.multiply(q, s), M.multiply(k, s)
    group = hq // hkv
    if group > 1:   # GQA: query head h reads key/value head h // group
        qs = MO.reshape(qs, [b, hkv, group, q_len, head])
        ks, v = MO.expand_dims(ks, 2), MO.expand_dims(v, 2)
    scores = M.matmul(qs, ks, transpose_b=True)
    if group > 1:
        scores = MO.reshape(scores, [b, hq, q_len, kv_len])
    softcap = float(cx.attr("softcap", 0.0))
    if softcap > 0:
        c = const(softcap, scores)
        scores = M.multiply(M.tanh(M.divide(scores, c)), c)
    bias = _bias(cx, q_len, kv_len, q.dtype, past_len, nonpad)
    biased = scores if bias is None else M.add(scores, bias)
    mode = int(cx.attr("qk_matmul_output_mode", 0))
    if mode not in (0, 1, 2, 3):
        raise cx.unsupported(f"qk_matmul_output_mode={mode} (0 to 3)")
    sdt = _softmax_dtype(cx, q)
    p = safe_softmax(biased if sdt is q.dtype else M.cast(biased, sdt))
    if bias is not None:   # rows with no attendable key are 0 (select, not multiply)
        dead = M.equal(R.reduce_max(bias, axis=-1, keepdims=True), const(-np.inf, bias))
        p = MO.where_v2(dead, const(0, p), p)
    if p.dtype is not q.dtype:
        p = M.cast(p, q.dtype)
    qk_out = {0: scores, 1: scores, 2: biased, 3: p}[mode]
    if group > 1:
        y = M.matmul(MO.reshape(p, [b, hkv, group, q_len, kv_len]), v)
        y = MO.reshape(y, [b, hq, q_len, list(y.shape)[-1]])
    else:
        y = M.matmul(p, v)
    if rank == 3:
        y = MO.transpose(y, [0, 2, 1, 3])
        y = MO.reshape(y, [b, q_len, hq * list(y.shape)[-1]])
    return [y, present_k, present_v, qk_out]


@converter("RotaryEmbedding", since=23,
           attrs=("interleaved", "num_heads", "rotary_embedding_dim"),
           note="4-D (B, H, S, D) or 3-D (B, S, H*D) input with num_heads; caches indexed "
                "by position_ids, or (B, S, dim/2) caches without them")
def rotary_embedding(cx):
    x, cos, sin = cx.input(0), cx.input(1), cx.input(2)
    rank = rank_of(cx, x)
    if x.dtype.kind != "float":
        raise cx.unsupported(f"input 0 has element type {x.dtype.name}")
    if rank == 4:
        xs = MO.transpose(x, [0, 2, 1, 3])                 # (B, S, H, D)
    elif rank == 3:
        heads = int(cx.attr("num_heads", 0))
        if heads <= 0:
            raise cx.unsupported("a 3-D input needs the num_heads attribute")
        xs = MO.transpose(_heads_first(cx, x, heads, "input 0"), [0, 2, 1, 3])
    else:
        raise cx.unsupported(f"input 0 has rank {rank}; RotaryEmbedding takes 3-D or 4-D")
    b, s, h, d = list(xs.shape)
    d = static_dim(cx, xs, 3, "input 0 (head size)")
    rd = int(cx.attr("rotary_embedding_dim", 0)) or d
    if rd > d or rd % 2:
        raise cx.unsupported(f"rotary_embedding_dim={rd} must be even and at most the "
                             f"head size {d}")
    half = rd // 2
    if cx.has(3):
        cos, sin = MO.gather(cos, cx.input(3)), MO.gather(sin, cx.input(3))
    for name, t in (("cos_cache", cos), ("sin_cache", sin)):
        if t.shape.ndims != 3 or list(t.shape)[-1] != half:
            raise cx.unsupported(f"{name} gives shape {list(t.shape)}; it must be "
                                 f"(batch, sequence, {half}) (rotary_embedding_dim / 2)")
    cos, sin = MO.expand_dims(cos, 2), MO.expand_dims(sin, 2)   # (B, S, 1, rd/2)
    rot, rest = (xs, None) if rd == d else MO.split(xs, [rd, d - rd], axis=3)
    if cx.attr("interleaved", 0):
        x1, x2 = MO.unstack(MO.reshape(rot, [b, s, h, half, 2]), num=2, axis=4)
    else:
        x1, x2 = MO.split(rot, 2, axis=3)
    real = M.subtract(M.multiply(cos, x1), M.multiply(sin, x2))
    imag = M.add(M.multiply(sin, x1), M.multiply(cos, x2))
    if cx.attr("interleaved", 0):
        rot = MO.reshape(core.stack([real, imag], axis=4), [b, s, h, rd])
    else:
        rot = MO.concat([real, imag], axis=3)
    out = rot if rest is None else MO.concat([rot, rest], axis=3)
    if rank == 3:
        return [MO.reshape(out, list(x.shape))]
    return [MO.transpose(out, [0, 2, 1, 3])]


MAX_UNROLLED_STEPS = 128


@converter("LinearAttention", since=27,
           attrs=("chunk_size", "kv_num_heads", "q_num_heads", "scale", "update_rule"),
           note="update_rule linear/gated/delta/gated_delta as the recurrence over the "
                f"sequence, unrolled: the sequence length must be known at import and at "
                f"most {MAX_UNROLLED_STEPS}; computes in float32 (chunk_size, a tuning "
                f"hint, has no effect on the result)")
def linear_attention(cx):
    rule = cx.attr("update_rule", "gated_delta")
    rule = rule.decode() if isinstance(rule, bytes) else str(rule)
    if rule not in ("linear", "gated", "delta", "gated_delta"):
        raise cx.unsupported(f"update_rule={rule!r} (linear, gated, delta or gated_delta)")
    gating, delta = rule in ("gated", "gated_delta"), rule in ("delta", "gated_delta")
    if gating != cx.has(4):
        raise cx.unsupported(f"update_rule {rule!r} {'needs' if gating else 'forbids'} "
                             f"input 4 (decay)")
    if delta != cx.has(5):
        raise cx.unsupported(f"update_rule {rule!r} {'needs' if delta else 'forbids'} "
                             f"input 5 (beta)")
    if "q_num_heads" not in cx.attrs or "kv_num_heads" not in cx.attrs:
        raise cx.unsupported("the q_num_heads and kv_num_heads attributes are required")
    hq, hkv = int(cx.attr("q_num_heads")), int(cx.attr("kv_num_heads"))
    if hq <= 0 or hkv <= 0 or hq % hkv:
        raise cx.unsupported(f"q_num_heads={hq} must be a positive multiple of "
                             f"kv_num_heads={hkv}")
    q, k, v = cx.input(0), cx.input(1), cx.input(2)
    for i, t in enumerate((q, k, v)):
        if rank_of(cx, t, f"input {i}") != 3 or t.dtype.kind != "float":
            raise cx.unsupported(f"input {i} must be a rank-3 float tensor (B, T, H*D)")
    steps = static_dim(cx, q, 1, "input 0 (sequence length)")
    if steps > MAX_UNROLLED_STEPS:
        raise cx.unsupported(f"sequence length {steps}: flowc unrolls the recurrence up to "
                             f"{MAX_UNROLLED_STEPS} steps")
    f32 = T.float32 if q.dtype is not T.float64 else T.float64

    def wide(t):
        return t if t.dtype is f32 else M.cast(t, f32)

    b = list(q.shape)[0]
    q4 = _heads_first(cx, wide(q), hq, "input 0 (query)")     # (B, Hq, T, dk)
    k4 = _heads_first(cx, wide(k), hkv, "input 1 (key)")      # (B, Hkv, T, dk)
    v4 = _heads_first(cx, wide(v), hkv, "input 2 (value)")    # (B, Hkv, T, dv)
    dk, dv = list(q4.shape)[3], list(v4.shape)[3]
    group = hq // hkv

    def per_step(t, last_ok, what):
        """(B, T, n) -> T tensors (B, heads or 1, n') for the decay/beta inputs."""
        last = list(t.shape)[-1]
        if t.shape.ndims != 3 or last not in last_ok:
            raise cx.unsupported(f"{what} has shape {list(t.shape)}; its last dim must be "
                                 f"one of {sorted(set(last_ok))}")
        if last == hkv * dk and hkv * dk in last_ok and last != hkv:
            t4 = _heads_first(cx, wide(t), hkv, what)                    # (B, Hkv, T, dk)
        else:
            t4 = MO.transpose(MO.reshape(wide(t), [b, steps, last, 1]), [0, 2, 1, 3])
        return MO.unstack(t4, num=steps, axis=2)

    decays = per_step(cx.input(4), (hkv, hkv * dk), "input 4 (decay)") if gating else None
    betas = per_step(cx.input(5), (hkv, 1), "input 5 (beta)") if delta else None
    if cx.has(3):
        past = cx.input(3)
        if list(past.shape)[1:] != [hkv, dk, dv]:
            raise cx.unsupported(f"input 3 (past_state) has shape {list(past.shape)}; it "
                                 f"must be (batch, {hkv}, {dk}, {dv})")
        state, state_dtype = wide(past), past.dtype
    else:
        state, state_dtype = None, q.dtype
    scale = cx.attr("scale")
    scale = 1.0 / np.sqrt(dk) if not scale else float(scale)
    qs = MO.unstack(q4, num=steps, axis=2)
    ks = MO.unstack(k4, num=steps, axis=2)
    vs = MO.unstack(v4, num=steps, axis=2)
    outs = []
    for i in range(steps):
        k_col = MO.expand_dims(ks[i], 3)                    # (B, Hkv, dk, 1)
        v_row = MO.expand_dims(vs[i], 2)                    # (B, Hkv, 1, dv)
        if gating and state is not None:
            state = M.multiply(state, MO.expand_dims(M.exp(decays[i]), 3))
        if delta:
            if state is not None:
                retrieved = M.matmul(MO.expand_dims(ks[i], 2), state)   # (B, Hkv, 1, dv)
                v_row = M.subtract(v_row, retrieved)
            v_row = M.multiply(MO.expand_dims(betas[i], 3), v_row)
        update = M.multiply(k_col, v_row)                   # (B, Hkv, dk, dv)
        state = update if state is None else M.add(state, update)
        q_rows = MO.reshape(qs[i], [b, hkv, group, dk])
        read = M.matmul(q_rows, state)                      # (B, Hkv, G, dv)
        outs.append(MO.reshape(read, [b, hq, 1, dv]))
    y = M.multiply(MO.concat(outs, axis=2), const(scale, outs[0]))   # (B, Hq, T, dv)
    y = MO.reshape(MO.transpose(y, [0, 2, 1, 3]), [b, steps, hq * dv])
    y = y if y.dtype is q.dtype else M.cast(y, q.dtype)
    return [y, state if state.dtype is state_dtype else M.cast(state, state_dtype)]
