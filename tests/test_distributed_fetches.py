"""What a step on Ray hands back (compiler/distributed/step.py): fetched arrays are the
caller's own, as in one process — writable, unchanged by later steps, and holding them
does not stall the plan. A Ray compiled graph deserializes a stage's numpy outputs
zero-copy out of its shared-memory channel; handed back as they are, they were read-only
views and a caller keeping them (a list of losses) pinned the channel's buffers until a
later step hung (D2 of benchmarks/bench.py hung after 16 steps)."""

from types import SimpleNamespace

import numpy as np
import pytest

import compiler as fc
from compiler import distributed as dist
from compiler import pipeline

W0, W1 = "/job:worker/replica:0/task:0", "/job:worker/replica:0/task:1"
STEPS = 30


@pytest.fixture(scope="module")
def plan(ray_runtime):
    """x -> y = x + 1 on worker 0 -> (z = y * 2, w = 3 * y as a float32[64]) on worker 1,
    fetching z and y, as a compiled graph."""
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [64], name="x")
        y = fc.add(x, 1.0, name="y")
        z = fc.multiply(y, 2.0, name="z")
    opts = fc.CompileOptions()
    first = pipeline.compile_graph(g, [y], [x], opts).executable
    second = pipeline.compile_graph(g, [z], [y], opts).executable
    cl = dist.connect("ray://local", {"worker": 2},
                      SimpleNamespace(operation_timeout_in_ms=5_000))
    cl.register(W0, "first", first, opts)
    cl.register(W1, "second", second, opts)
    p = cl.plan([dist.Stage(W0, "first", ("x:0",), ("y:0",)),
                 dist.Stage(W1, "second", ("y:0",), ("z:0",))], ["x:0"], ["z:0", "y:0"])
    yield p
    cl.close()


def test_fetches_kept_across_steps_stay_the_callers_and_do_not_stall_the_plan(plan):
    kept = []
    for i in range(STEPS):
        xv = np.full(64, i, np.float32)
        got = plan.run({"x:0": xv}, i)
        kept.append((got["z:0"], got["y:0"]))
    assert plan.compiled  # the steps after the second ran as a Ray compiled graph
    for i, (z, y) in enumerate(kept):
        np.testing.assert_array_equal(y, np.full(64, i + 1, np.float32))
        np.testing.assert_array_equal(z, np.full(64, 2 * (i + 1), np.float32))
        assert z.flags.writeable and y.flags.writeable, f"step {i}: a read-only fetch"
    kept[0][0][:] = -1  # the caller's own array: writing it changes nothing else
    np.testing.assert_array_equal(kept[1][0], np.full(64, 4, np.float32))
