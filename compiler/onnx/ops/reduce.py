"""Reductions and index-returning ONNX ops: Reduce*, ArgMax/ArgMin, TopK, CumSum."""

from __future__ import annotations
