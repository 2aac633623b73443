"""Shard 0 of 2 of the ONNX backend node suite (tests/onnx_conformance.py): BackendTest's
cases run `compiler.onnx.backend` against the outputs stored with each case."""

from onnx_conformance import node_cases

globals().update(node_cases(__name__, 0, 2))
