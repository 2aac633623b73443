"""D1 (issue 17, item 7): the overhead of a two-partition step on two Ray workers against
the same graph in one process.

The graph is trivial on purpose: `y = x + 1` on /job:worker/task:0, then `z = y * 2` on
/job:worker/task:1, x a float32[16] feed; what a step costs beyond one process is the
distributed machinery. Every system's result is checked equal to `(x + 1) * 2` before it
is timed; each step is timed on its own (the note gives the p90), and a line's overhead
(in its note) is its median minus the one-process median. Systems, from the top layer down:

- `flowc`: `fc.Session("")` (soft placement puts both tasks' ops in this process) running
  the whole graph: `sess.run(z, {x: v})`.
- `flowc-ray`: `fc.Session("ray://local", config=ConfigProto(cluster_def=...))` with a
  `worker` job of two tasks: the Session places, partitions and registers, and each step
  runs its StepPlan (a Ray compiled graph after the second step) - the user's figure.
- `flowc-plan`: the StepPlan alone, without the Session (compiler/distributed/: two
  partitions cut by hand by feeding y, registered with two workers, `plan.run`), as a Ray
  compiled graph; the difference to `flowc-ray` is the Session's own cost per step.
- `flowc-plan-chained`: the same plan with compiled graphs off: one actor call per stage
  with ObjectRefs (what a plan runs before it earns a compiled graph).
- `ray-cgraph`: the floor under all of them: two bare Ray actors (numpy `x + 1`, `y * 2`,
  no flowc) in one Ray compiled graph with the same shape; `flowc-plan` minus this is
  what flowc adds to Ray.

Each Ray line runs with its own two actors, closed before the next line starts (so no
idle cluster shares the cores). Target (issue 17): overhead under 1 ms a step.
"""

from __future__ import annotations

import time

import numpy as np
from benchlib import failed, note, skipped
from raybench import ray_available, start_ray, step_record, step_times

NAME = "D1"
SIZE = 16
TASKS = ("/job:worker/replica:0/task:0", "/job:worker/replica:0/task:1")
SYSTEMS = ("flowc", "flowc-ray", "flowc-plan", "flowc-plan-chained", "ray-cgraph")


def build(fc):
    """(graph, x placeholder, z): x + 1 on worker task 0, then * 2 on task 1."""
    graph = fc.Graph()
    with graph.as_default():
        x = fc.placeholder(fc.float32, [SIZE], name="x")
        with fc.device("/job:worker/task:0"):
            y = fc.add(x, 1.0, name="y")
        with fc.device("/job:worker/task:1"):
            z = fc.multiply(y, 2.0, name="z")
    return graph, x, z


def check(got, want) -> str:
    got = np.asarray(got)
    if got.dtype != want.dtype or got.shape != want.shape:
        return f"got {got.dtype}{list(got.shape)}, expected {want.dtype}{list(want.shape)}"
    if not np.array_equal(got, want):
        i = int(np.flatnonzero(got != want)[0])
        return f"differs from (x + 1) * 2 at index {i}: got {got[i]!r}, expected {want[i]!r}"
    return "ok"


def run(cfg):
    steps, warmup = (50, 10) if cfg.quick else (2000, 200)
    x = np.linspace(-2, 2, SIZE, dtype=np.float32)
    want = (x + np.float32(1)) * np.float32(2)
    base, ray = None, ray_available()
    for system in SYSTEMS:
        if not cfg.wants(system):
            continue
        if system != "flowc" and not ray:
            yield skipped(NAME, system, "ray not installed (pip install -e '.[distributed]')")
            continue
        try:
            rec = _SYSTEMS[system](x, want, steps, warmup, base)
        except Exception as e:  # noqa: BLE001  (a failing line must not stop the others)
            rec = failed(NAME, system, e)
        if system == "flowc" and rec["check"] == "ok":
            base = rec["median_ms"]
        yield rec


def _timed(system, step, want, steps, warmup, base, what, t_setup):
    chk = check(step(), want)
    times = step_times(step, steps, warmup) if chk == "ok" else [float("nan")]
    return step_record(NAME, system, times, chk, base,
                       f"{what}; {steps} steps timed one by one after {warmup}; "
                       f"setup {t_setup:.1f} s (not timed)")


def _flowc(x, want, steps, warmup, base):
    import compiler as fc
    graph, xp, z = build(fc)
    t0 = time.perf_counter()
    sess = fc.Session(graph=graph, config=fc.ConfigProto(allow_soft_placement=True))
    sess.run(z, {xp: x})
    setup = time.perf_counter() - t0
    with sess:
        return _timed("flowc", lambda: sess.run(z, {xp: x}), want, steps, warmup, None,
                      "one process: Session('').run(z, {x: v}), the whole graph", setup)


def _cluster_def(fc):
    return fc.train.ClusterSpec({"worker": 2}).as_cluster_def()


def _flowc_ray(x, want, steps, warmup, base):
    import compiler as fc
    start_ray()
    graph, xp, z = build(fc)
    t0 = time.perf_counter()
    sess = fc.Session("ray://local", graph=graph,
                      config=fc.ConfigProto(cluster_def=_cluster_def(fc)))
    with sess:
        for _ in range(3):  # registration, then the plan earns its compiled graph
            sess.run(z, {xp: x})
        setup = time.perf_counter() - t0
        parts = ", ".join(f"{p.name}@{p.task.to_string()}"
                          for p in sess.last_partitioning.partitions)
        return _timed("flowc-ray", lambda: sess.run(z, {xp: x}), want, steps, warmup, base,
                      f"Session('ray://local', cluster_def worker:2).run(z, {{x: v}}); "
                      f"partitions {parts}", setup)


def hand_cut(fc):
    """The two partitions of `build`'s graph cut by hand (feeding y prunes at it):
    (first: x -> y, second: y -> z), compiled for this CPU."""
    from compiler import pipeline
    graph, xp, z = build(fc)
    y = graph.get_tensor_by_name("y:0")
    opts = fc.CompileOptions()
    return (pipeline.compile_graph(graph, [y], [xp], opts).executable,
            pipeline.compile_graph(graph, [z], [y], opts).executable, opts)


def _plan(x, want, steps, warmup, base, compiled=True):
    import compiler as fc
    from compiler import distributed as dist
    start_ray()
    t0 = time.perf_counter()
    first, second, opts = hand_cut(fc)
    with dist.connect("ray://local", {"worker": 2}, compiled_graphs=compiled) as cl:
        cl.register(TASKS[0], "first", first, opts)
        cl.register(TASKS[1], "second", second, opts)
        plan = cl.plan([dist.Stage(TASKS[0], "first", ("x:0",), ("y:0",)),
                        dist.Stage(TASKS[1], "second", ("y:0",), ("z:0",))],
                       ["x:0"], ["z:0"])
        counter = iter(range(1 << 62))

        def step():
            return plan.run({"x:0": x}, next(counter))["z:0"]

        for _ in range(3):
            step()
        setup = time.perf_counter() - t0
        if compiled and not plan.compiled:
            note("D1 flowc-plan: the plan did not get a Ray compiled graph (see the warning)")
        system = "flowc-plan" if compiled else "flowc-plan-chained"
        how = "Ray compiled graph" if plan.compiled else "chained actor calls, ObjectRefs"
        return _timed(system, step, want, steps, warmup, base,
                      f"StepPlan.run without the Session, 2 workers, {how}", setup)


def _plan_chained(x, want, steps, warmup, base):
    return _plan(x, want, steps, warmup, base, compiled=False)


def _ray_cgraph(x, want, steps, warmup, base):
    ray = start_ray()
    from ray.dag import InputNode
    t0 = time.perf_counter()

    class Bare:  # defined here, so Ray ships it by value (benchmarks/ is no package)
        def __init__(self, add):
            self.add = add

        def apply(self, v):
            return v + np.float32(1) if self.add else v * np.float32(2)

    actor = ray.remote(num_cpus=1)(Bare)
    a, b = actor.remote(True), actor.remote(False)
    dag = None
    try:
        with InputNode() as inp:
            node = b.apply.bind(a.apply.bind(inp))
        dag = node.experimental_compile()
        setup = time.perf_counter() - t0
        return _timed("ray-cgraph", lambda: ray.get(dag.execute(x), timeout=60), want,
                      steps, warmup, base,
                      "two bare Ray actors (numpy x + 1, then * 2) in one compiled graph, "
                      f"no flowc: Ray's floor; ray {ray.__version__}", setup)
    finally:
        if dag is not None:
            dag.teardown(kill_actors=True)
        for h in (a, b):
            ray.kill(h)


_SYSTEMS = {"flowc": _flowc, "flowc-ray": _flowc_ray, "flowc-plan": _plan,
            "flowc-plan-chained": _plan_chained, "ray-cgraph": _ray_cgraph}
