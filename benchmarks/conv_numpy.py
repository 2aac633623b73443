"""Hand-written numpy forward and backward of the CNN pieces the C workloads use: the
reference the benchmark systems are checked against, and the "numpy" system itself.

Layouts are TF1's: activations NHWC, filters [KH, KW, Ci, Co]. A convolution is a
tensordot over `sliding_window_view` windows (stride 1; SAME as explicit zero padding);
its input gradient is the full convolution of dy with the flipped, channel-swapped filter,
its filter gradient a tensordot of the windows with dy. Batch norm uses batch statistics
(training mode, biased variance). Max pooling is 2x2 with stride 2, its gradient going to
the first maximum of each window in row-major order (TF's MaxPoolGrad). Never imports
flowc.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def conv_valid(x, w):
    """[N, H, W, Ci] * [KH, KW, Ci, Co] -> [N, H-KH+1, W-KW+1, Co], stride 1, no padding."""
    win = sliding_window_view(x, w.shape[:2], axis=(1, 2))      # [N, OH, OW, Ci, KH, KW]
    return np.tensordot(win, w, axes=([4, 5, 3], [0, 1, 2]))


def conv_valid_grads(x, w, dy):
    """(dx, dw) of `conv_valid(x, w)` for the output gradient dy."""
    kh, kw = w.shape[:2]
    win = sliding_window_view(x, (kh, kw), axis=(1, 2))
    dw = np.tensordot(win, dy, axes=([0, 1, 2], [0, 1, 2]))      # [Ci, KH, KW, Co]
    dyp = np.pad(dy, ((0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1), (0, 0)))
    dx = conv_valid(dyp, w[::-1, ::-1].transpose(0, 1, 3, 2))
    return dx, dw.transpose(1, 2, 0, 3)


def pad_same(x, k):
    """Zero padding of TF's SAME for an odd k x k kernel at stride 1."""
    p = k // 2
    return np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))


def conv_same(x, w):
    return conv_valid(pad_same(x, w.shape[0]), w)


def conv_same_grads(x, w, dy):
    p = w.shape[0] // 2
    dxp, dw = conv_valid_grads(pad_same(x, w.shape[0]), w, dy)
    return dxp[:, p:dxp.shape[1] - p, p:dxp.shape[2] - p], dw


def batch_norm(h, gamma, beta, eps):
    """Training-mode batch norm over N, H, W; returns (y, cache for the backward)."""
    mean = h.mean(axis=(0, 1, 2))
    var = h.var(axis=(0, 1, 2))
    inv = 1.0 / np.sqrt(var + eps)
    xhat = (h - mean) * inv
    return gamma * xhat + beta, (xhat, inv, gamma)


def batch_norm_grads(dy, cache):
    """(dh, dgamma, dbeta) of `batch_norm`."""
    xhat, inv, gamma = cache
    m = dy.shape[0] * dy.shape[1] * dy.shape[2]
    dbeta = dy.sum(axis=(0, 1, 2))
    dgamma = (dy * xhat).sum(axis=(0, 1, 2))
    dh = (gamma * inv / m) * (m * dy - dbeta - xhat * dgamma)
    return dh, dgamma, dbeta


def max_pool2(x):
    """2x2 max pooling with stride 2 (H and W even); returns (y, argmax per window)."""
    n, h, w, c = x.shape
    win = x.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    win = win.reshape(n, h // 2, w // 2, 4, c)
    arg = win.argmax(axis=3)                     # the first maximum in row-major order
    return np.take_along_axis(win, arg[:, :, :, None], axis=3)[:, :, :, 0], arg


def max_pool2_grad(dy, arg):
    n, h2, w2, c = dy.shape
    win = np.zeros((n, h2, w2, 4, c), dy.dtype)
    np.put_along_axis(win, arg[:, :, :, None], dy[:, :, :, None], axis=3)
    win = win.reshape(n, h2, w2, 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    return win.reshape(n, 2 * h2, 2 * w2, c)


def softmax_xent(logits, y):
    """(mean softmax cross-entropy, its gradient wrt logits) for one-hot labels y."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    loss = float(np.mean(np.log(s)[:, 0] - (z * y).sum(axis=1)))
    return loss, (e / s - y) / np.float32(logits.shape[0])
