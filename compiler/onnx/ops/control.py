"""Control-flow ONNX ops: If, Loop, Scan (subgraphs built by the importer)."""

from __future__ import annotations
