"""docs/onnx_ops.md is what docs/onnx_ops.py makes now from the mapping table."""

import os
import runpy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_onnx_ops_table_is_current():
    script = runpy.run_path(os.path.join(ROOT, "docs", "onnx_ops.py"))
    with open(os.path.join(ROOT, "docs", "onnx_ops.md"), encoding="utf-8") as f:
        checked_in = f.read()
    assert checked_in == script["render"](), \
        "docs/onnx_ops.md is stale: run python docs/onnx_ops.py"
