"""Recurrent ONNX ops: LSTM, GRU, RNN."""

from __future__ import annotations
