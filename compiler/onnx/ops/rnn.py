"""Recurrent ONNX ops: LSTM, GRU, RNN.

Each direction is one `fc.scan` over time (a `while_loop` with TensorArrays, the
machinery of `fc.nn.dynamic_rnn`), so one compile serves every sequence length and batch
size, and gradients flow through the loop (an imported LSTM can be fine-tuned). The input
projections `X W^T + Wb (+ Rb)` of every step are one matmul before the loop; the loop
body does the recurrent matmul `H R^T` and the gates. `sequence_lens` may be computed at
run time: a row's steps at t >= its length give zeros in Y and carry its state through
(so Y_h/Y_c are the states after its last step); the reverse direction runs on each
row's first `length` steps reversed (`reverse_sequence`). `layout=1` (batch-major) is a
transpose of X, the initial states and the outputs.
"""

from __future__ import annotations

import numpy as np

from ...frontend import array_ops as A
from ...frontend import core
from ...frontend import manip_ops as MO
from ...frontend import math_ops as M
from ...frontend.functional_ops import scan
from ...frontend.indexing import reverse
from ...frontend.rnn_dynamic import reverse_sequence
from ...ir import dtypes as T
from ..table import converter

_COMMON = ("activation_alpha", "activation_beta", "activations", "clip", "direction",
           "hidden_size", "layout")

#: ONNX's RNN activation functions: lower-case name -> (fn(x, alpha, beta), default
#: alpha or None when it takes none, default beta or None)
_ACTIVATIONS = {
    "relu": (lambda x, a, b: M.maximum(x, _c(0, x)), None, None),
    "tanh": (lambda x, a, b: M.tanh(x), None, None),
    "sigmoid": (lambda x, a, b: M.sigmoid(x), None, None),
    "affine": (lambda x, a, b: x * _c(a, x) + _c(b, x), 1.0, 0.0),
    "leakyrelu": (lambda x, a, b: MO.where_v2(x >= _c(0, x), x, x * _c(a, x)), 0.01, None),
    "thresholdedrelu": (lambda x, a, b: MO.where_v2(x > _c(a, x), x, _c(0, x)), 1.0, None),
    "scaledtanh": (lambda x, a, b: _c(a, x) * M.tanh(x * _c(b, x)), 1.0, 1.0),
    "hardsigmoid": (lambda x, a, b: M.maximum(_c(0, x), M.minimum(_c(1, x), x * _c(a, x)
                                                                   + _c(b, x))), 0.2, 0.5),
    "elu": (lambda x, a, b: MO.where_v2(x >= _c(0, x), x, _c(a, x) * M.expm1(
        M.minimum(x, _c(0, x)))), 1.0, None),
    "softsign": (lambda x, a, b: x / (_c(1, x) + M.abs(x)), None, None),
    "softplus": (lambda x, a, b: M.log1p(M.exp(-M.abs(x))) + M.maximum(x, _c(0, x)),
                 None, None),
}


def _c(v, like):
    return core.constant(np.asarray(v, dtype=like.dtype.np))


class _Rnn:
    """What the three ops share: the attributes, the inputs per direction, the loop."""

    def __init__(self, cx, n_gates, default_acts):
        self.cx = cx
        self.gates = n_gates
        direction = cx.attr("direction", "forward")
        if isinstance(direction, bytes):
            direction = direction.decode()
        if direction not in ("forward", "reverse", "bidirectional"):
            raise cx.unsupported(f"direction {direction!r} (forward, reverse, bidirectional)")
        self.dirs = ["forward", "reverse"] if direction == "bidirectional" else [direction]
        self.layout = cx.attr("layout", 0)
        if self.layout not in (0, 1):
            raise cx.unsupported(f"layout {self.layout} (0 or 1)")
        x = cx.input(0)
        if x.shape.ndims != 3:
            raise cx.unsupported(f"input X of rank {x.shape.ndims} (3 expected)")
        self.x = MO.transpose(x, [1, 0, 2]) if self.layout else x          # [T, B, I]
        self.dtype = self.x.dtype
        w, r = cx.input(1), cx.input(2)
        for name, t in (("W", w), ("R", r)):
            if t.shape.ndims != 3 or t.shape[0] != len(self.dirs):
                raise cx.unsupported(f"input {name} of shape {t.shape}: [{len(self.dirs)}, "
                                     f"{n_gates}*hidden_size, ...] expected for direction "
                                     f"{direction!r}")
        hidden = cx.attr("hidden_size", None)
        if hidden is None:
            hidden = r.shape[2]
            if not isinstance(hidden, int):
                raise cx.unsupported("no hidden_size attribute and R's last dim is not known")
        self.hidden = int(hidden)
        if w.shape[1] != n_gates * self.hidden:
            raise cx.unsupported(f"W of shape {w.shape} for hidden_size {self.hidden} "
                                 f"({n_gates} gates)")
        nd = len(self.dirs)
        self.w = MO.unstack(w, num=nd)
        self.r = MO.unstack(r, num=nd)
        self.b = MO.unstack(cx.input(3), num=nd) if cx.has(3) else [None] * nd
        clip = cx.attr("clip", None)
        self.clip = None if clip is None else float(clip)
        self.acts = self._activations(default_acts)
        self.lens = None
        if cx.has(4):
            self.lens = M.cast(cx.input(4), T.int32)
            known = cx.importer.static_value(cx.input(4))
            steps = self.x.shape[0]
            if known is not None and isinstance(steps, int) and np.all(known == steps):
                self.lens = None       # every row runs every step: no mask

    def _activations(self, defaults):
        cx, n = self.cx, len(defaults)
        names = cx.attr("activations", None)
        if names is None:
            names = defaults * len(self.dirs)
        names = [a.decode() if isinstance(a, bytes) else a for a in names]
        if len(names) == n and len(self.dirs) == 2:
            names = names * 2
        if len(names) != n * len(self.dirs):
            raise cx.unsupported(f"activations {names}: {n} per direction expected")
        alphas = list(cx.attr("activation_alpha", []) or [])
        betas = list(cx.attr("activation_beta", []) or [])
        out = []
        for name in names:   # alphas and betas are taken in order by the functions using them
            entry = _ACTIVATIONS.get(name.lower())
            if entry is None:
                raise cx.unsupported(f"activation {name!r} (supported: "
                                     f"{', '.join(sorted(_ACTIVATIONS))})")
            fn, da, db = entry
            a = (alphas.pop(0) if alphas else da) if da is not None else None
            b = (betas.pop(0) if betas else db) if db is not None else None
            out.append(lambda x, fn=fn, a=a, b=b: fn(x, a, b))
        return [out[k * n:(k + 1) * n] for k in range(len(self.dirs))]

    def gate(self, f, x):
        if self.clip is not None:
            x = M.clip_by_value(x, _c(-self.clip, x), _c(self.clip, x))
        return f(x)

    def state(self, i):
        """Initial state input `i` ([D, B, H], or [B, D, H] with layout 1) per direction, or
        zeros [B, H]."""
        if self.cx.has(i):
            s = self.cx.input(i)
            if self.layout:
                s = MO.transpose(s, [1, 0, 2])
            return MO.unstack(s, num=len(self.dirs))
        batch = A.shape(self.x)[1]
        zero = A.fill(MO.stack([batch, self.hidden]), _c(0, self.x))
        return [zero] * len(self.dirs)

    def projected(self, k, bias):
        """`X W^T + bias` for direction k, time-major and in the direction's step order."""
        x = self.x
        if self.dirs[k] == "reverse":
            x = reverse(x, [0]) if self.lens is None else reverse_sequence(x, self.lens, 0, 1)
        xw = M.matmul(x, self.w[k], transpose_b=True)                  # [T, B, G*H]
        return xw if bias is None else xw + bias

    def run(self, k, step, init, bias):
        """Scan `step(state, xw_t) -> state` over direction k's steps; returns (Y [T, B, H],
        final states). `state[0]` is H, the output."""
        xw = self.projected(k, bias)
        n = len(init)
        if self.lens is None:
            def fn(acc, xt):
                return list(step(list(acc), xt))
            hist = scan(fn, xw, initializer=list(init))
            y = hist[0]
        else:
            steps = A.range(A.shape(xw)[0])
            live = M.cast(MO.reshape(steps, [-1, 1]) < MO.reshape(self.lens, [1, -1]),
                          self.dtype)
            live = MO.expand_dims(live, -1)                            # [T, B, 1]

            def fn(acc, elems):
                xt, m = elems
                new = step(list(acc[:n]), xt)
                kept = [m * s + (_c(1, m) - m) * old for s, old in zip(new, acc[:n])]
                return kept + [m * new[0]]
            hist = scan(fn, (xw, live), initializer=list(init) + [init[0] * _c(0, init[0])])
            y = hist[n]
        if self.dirs[k] == "reverse":
            y = reverse(y, [0]) if self.lens is None else reverse_sequence(y, self.lens, 0, 1)
        finals = [h[-1] for h in hist[:n]]
        return y, finals

    def outputs(self, ys, finals):
        """(Y [T, D, B, H], and each final state [D, B, H]), in the layout asked for."""
        y = MO.stack(ys, axis=1)
        states = [MO.stack(list(f), axis=0) for f in zip(*finals)]
        if self.layout:
            y = MO.transpose(y, [2, 0, 1, 3])
            states = [MO.transpose(s, [1, 0, 2]) for s in states]
        return [y] + states

    def bias_parts(self, k):
        """Direction k's (Wb, Rb) as lists of per-gate [H] vectors, or None."""
        b = self.b[k]
        if b is None:
            return None
        parts = MO.split(b, 2 * self.gates)
        return parts[:self.gates], parts[self.gates:]


_NOTE_RNN = ("one fc.scan (while_loop) per direction: one compile for every sequence "
             "length; sequence_lens may be computed at run time")


@converter("LSTM", since=7, attrs=_COMMON + ("input_forget",), note=_NOTE_RNN)
def lstm(cx):
    rnn = _Rnn(cx, 4, ["Sigmoid", "Tanh", "Tanh"])
    hs, cs = rnn.state(5), rnn.state(6)
    coupled = bool(cx.attr("input_forget", 0))
    peep = MO.unstack(cx.input(7), num=len(rnn.dirs)) if cx.has(7) else None
    ys, finals = [], []
    for k in range(len(rnn.dirs)):
        f, g, h = rnn.acts[k]
        bp = rnn.bias_parts(k)
        bias = None if bp is None else MO.concat([a + b for a, b in zip(*bp)], 0)
        rk = rnn.r[k]
        pi, po, pf = MO.split(peep[k], 3) if peep is not None else (None, None, None)

        def step(state, xw, rk=rk, f=f, g=g, h=h, pi=pi, po=po, pf=pf):
            ht, ct = state
            i_, o_, f_, c_ = MO.split(xw + M.matmul(ht, rk, transpose_b=True), 4, axis=1)
            if pi is not None:
                i_, f_ = i_ + pi * ct, f_ + pf * ct
            it = rnn.gate(f, i_)
            ft = _c(1, it) - it if coupled else rnn.gate(f, f_)
            c_new = ft * ct + it * rnn.gate(g, c_)
            if po is not None:
                o_ = o_ + po * c_new
            h_new = rnn.gate(f, o_) * h(c_new)
            return [h_new, c_new]
        y, fin = rnn.run(k, step, [hs[k], cs[k]], bias)
        ys.append(y)
        finals.append(fin)
    return rnn.outputs(ys, finals)


@converter("GRU", since=7, attrs=_COMMON + ("linear_before_reset",), note=_NOTE_RNN)
def gru(cx):
    rnn = _Rnn(cx, 3, ["Sigmoid", "Tanh"])
    hs = rnn.state(5)
    before = bool(cx.attr("linear_before_reset", 0))
    ys, finals = [], []
    for k in range(len(rnn.dirs)):
        f, g = rnn.acts[k]
        bp = rnn.bias_parts(k)
        rbh = None
        if bp is None:
            bias = None
        elif before:   # Rbh is applied inside the reset gate's product
            (wz, wr, wh), (rz, rr, rbh) = bp
            bias = MO.concat([wz + rz, wr + rr, wh], 0)
        else:
            bias = MO.concat([a + b for a, b in zip(*bp)], 0)
        rzr, rh = MO.split(rnn.r[k], [2 * rnn.hidden, rnn.hidden], axis=0)

        def step(state, xw, rzr=rzr, rh=rh, rbh=rbh, f=f, g=g):
            (ht,) = state
            xzr, xh = MO.split(xw, [2 * rnn.hidden, rnn.hidden], axis=1)
            z_, r_ = MO.split(xzr + M.matmul(ht, rzr, transpose_b=True), 2, axis=1)
            zt, rt = rnn.gate(f, z_), rnn.gate(f, r_)
            if before:
                hr = M.matmul(ht, rh, transpose_b=True)
                if rbh is not None:
                    hr = hr + rbh
                h_ = xh + rt * hr
            else:
                h_ = xh + M.matmul(rt * ht, rh, transpose_b=True)
            return [(_c(1, zt) - zt) * rnn.gate(g, h_) + zt * ht]
        y, fin = rnn.run(k, step, [hs[k]], bias)
        ys.append(y)
        finals.append(fin)
    return rnn.outputs(ys, finals)


@converter("RNN", since=7, attrs=_COMMON, note=_NOTE_RNN)
def rnn_(cx):
    rnn = _Rnn(cx, 1, ["Tanh"])
    hs = rnn.state(5)
    ys, finals = [], []
    for k in range(len(rnn.dirs)):
        (f,) = rnn.acts[k]
        bp = rnn.bias_parts(k)
        bias = None if bp is None else bp[0][0] + bp[1][0]
        rk = rnn.r[k]

        def step(state, xw, rk=rk, f=f):
            return [rnn.gate(f, xw + M.matmul(state[0], rk, transpose_b=True))]
        y, fin = rnn.run(k, step, [hs[k]], bias)
        ys.append(y)
        finals.append(fin)
    return rnn.outputs(ys, finals)
