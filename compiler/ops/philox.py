"""Philox-4x32-10 and the uniform/normal transforms: the numpy reference of the random
numbers contract in DESIGN.md.

Element `e` of a random op in run `r` draws one Philox block with
    counter = (e mod 2^32, e >> 32, r mod 2^32, r >> 32),  key = (op_seed, graph_seed)
(seeds taken mod 2^32) and uses its words in order:
- uniform float32: `(w0 >> 8) * 2^-24`                                  in [0, 1)
- uniform float64: `((w0 >> 5) * 2^26 + (w1 >> 6)) * 2^-53`            in [0, 1)
- normal: Box-Muller `sqrt(-2 log(1 - u0)) * cos(2 pi u1)`, where float32 takes u0, u1
  from w0, w1 and float64 from (w0, w1) and (w2, w3).
float16 draws as float32 and rounds. The LLVM and CUDA backends implement the same
integer arithmetic, so all three draw identical bits.
"""

from __future__ import annotations

import numpy as np

M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85
ROUNDS = 10
MASK32 = 0xFFFFFFFF


def philox4x32(c0, c1, c2, c3, k0, k1):
    """Vectorized Philox-4x32-10 over uint32 arrays; returns four uint32 arrays."""
    c = [np.asarray(x, np.uint64) for x in (c0, c1, c2, c3)]
    k0 = np.uint64(k0 & MASK32)
    k1 = np.uint64(k1 & MASK32)
    m0, m1 = np.uint64(M0), np.uint64(M1)
    mask = np.uint64(MASK32)
    for r in range(ROUNDS):
        p0 = c[0] * m0
        p1 = c[2] * m1
        hi0, lo0 = p0 >> np.uint64(32), p0 & mask
        hi1, lo1 = p1 >> np.uint64(32), p1 & mask
        c = [hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0]
        if r != ROUNDS - 1:
            k0 = (k0 + np.uint64(W0)) & mask
            k1 = (k1 + np.uint64(W1)) & mask
    return [x.astype(np.uint32) for x in c]


def blocks(n, counter, op_seed, graph_seed):
    e = np.arange(n, dtype=np.uint64)
    lo = e & np.uint64(MASK32)
    hi = e >> np.uint64(32)
    r = int(counter)
    c2 = np.full(n, r & MASK32, np.uint64)
    c3 = np.full(n, (r >> 32) & MASK32, np.uint64)
    return philox4x32(lo, hi, c2, c3, op_seed, graph_seed)


def uniform_from_words(w, dtype):
    if np.dtype(dtype) == np.float64:
        hi = (w[0] >> np.uint32(5)).astype(np.float64)
        lo = (w[1] >> np.uint32(6)).astype(np.float64)
        return (hi * 67108864.0 + lo) * (2.0 ** -53)
    return ((w[0] >> np.uint32(8)).astype(np.float32) * np.float32(2.0 ** -24))


def normal_from_words(w, dtype):
    if np.dtype(dtype) == np.float64:
        u0 = uniform_from_words(w[0:2], np.float64)
        u1 = uniform_from_words(w[2:4], np.float64)
        return np.sqrt(-2.0 * np.log(1.0 - u0)) * np.cos(2.0 * np.pi * u1)
    u0 = uniform_from_words([w[0]], np.float32)
    u1 = uniform_from_words([w[1]], np.float32)
    one, two = np.float32(1.0), np.float32(-2.0)
    r = np.sqrt(two * np.log(one - u0))
    return r * np.cos(np.float32(2.0 * np.pi) * u1)


def draw(kind, shape, dtype, op_seed, graph_seed, counter):
    """`kind` is "uniform" or "normal"; returns an array of `shape` and numpy `dtype`."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64))
    w = blocks(n, counter, op_seed, graph_seed)
    work = np.float64 if dtype == np.float64 else np.float32
    with np.errstate(all="ignore"):
        vals = uniform_from_words(w, work) if kind == "uniform" else normal_from_words(w, work)
    return vals.astype(dtype).reshape(shape)
