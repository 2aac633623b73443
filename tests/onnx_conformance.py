"""The ONNX backend node suite against `compiler.onnx.backend`, through
`onnx.backend.test.BackendTest` (onnx >= 1.23 builds the node cases in memory).

`node_cases(shard, shards)` gives the BackendTest unittest classes of one shard of the
node cases that are neither `_expanded` variants nor excluded (tests/onnx_exclusions.py):
tests/test_onnx_node_suite_*.py put one shard each in pytest, so pytest-xdist spreads
them over the cores. tests/conftest.py prints the pass count.

Run directly to see every failure in one line (for work on the mapping table):
    python tests/onnx_conformance.py [REGEX] [--expanded] [--excluded]
"""

from __future__ import annotations

import re
import sys
import zlib

from onnx_exclusions import EXCLUDED

SUITE_CLASS = "OnnxBackendNodeModelTest"


def excluded(name):
    for pattern, why in EXCLUDED.items():
        if re.search(pattern, name):
            return why
    return None


def selected(name, expanded=False):
    return (name.startswith("test_") and (expanded or "_expanded" not in name)
            and excluded(name) is None)


def node_cases(module, shard, shards):
    """{class name: unittest class} of the selected node cases with crc32(name) % shards
    == shard, for `globals().update(...)` in a test module."""
    from onnx.backend.test import BackendTest

    from compiler.onnx.backend import backend

    bt = BackendTest(backend(), module)
    # Keep the node cases of this shard only; the rest are not collected (rather than
    # collected and skipped by BackendTest.include), so pytest's counts are the suite's.
    items = bt._test_items
    for category in list(items):
        if category != "NodeModel":
            del items[category]
    items["NodeModel"] = {
        name: item for name, item in items["NodeModel"].items()
        if name.endswith("_cpu") and selected(name[:-4])
        and zlib.crc32(name.encode()) % shards == shard}
    return bt.test_cases


def _main(argv):
    import traceback

    from onnx.backend.test.loader import load_model_tests
    from onnx.backend.test.runner import Runner, _normalize_tensor

    from compiler.onnx.backend import backend

    pattern = re.compile(next((a for a in argv if not a.startswith("--")), ""))
    want_expanded, want_excluded = "--expanded" in argv, "--excluded" in argv
    passed, failed = [], []
    for case in sorted(load_model_tests(kind="node"), key=lambda c: c.name):
        name = case.name
        if not pattern.search(name) or (("_expanded" in name) and not want_expanded):
            continue
        if excluded(name) and not want_excluded:
            continue
        try:
            rep = backend().prepare(case.model, "CPU")
            for inputs, refs in case.data_sets:
                # as BackendTest does: the stored values may be TensorProtos
                outs = rep.run([_normalize_tensor(x) for x in inputs])
                Runner.assert_similar_outputs([_normalize_tensor(r) for r in refs], list(outs),
                                              rtol=case.rtol, atol=case.atol)
            passed.append(name)
        except Exception as e:  # one line per failing case
            line = (str(e).strip().splitlines() or [type(e).__name__])
            failed.append(name)
            print(f"FAIL {name}: {type(e).__name__}: {' | '.join(line[:3])[:300]}")
            if "--trace" in argv:
                traceback.print_exc()
    print(f"{len(passed)} passed, {len(failed)} failed")


if __name__ == "__main__":
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    _main(sys.argv[1:])
