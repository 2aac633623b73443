"""Workers on a simulated cluster of three nodes (`ray.cluster_utils.Cluster` on this
machine, two CPUs each): SPREAD puts each task on its own node (PACK fills one node
first), and a step across them computes what one process does (by chained actor calls:
a plan across nodes never takes a compiled graph, compiler/distributed/step.py). This
module connects to its own simulated cluster in place of the session's local runtime
(tests/conftest.py), and disconnects at its end."""

import numpy as np
import pytest

import compiler as fc
from compiler import distributed as dist
from compiler import pipeline
from compiler.distributed.cluster import import_ray
from runtime.variables import VariableStore

TASKS = ["/job:ps/replica:0/task:0", "/job:worker/replica:0/task:0",
         "/job:worker/replica:0/task:1"]


@pytest.fixture(scope="module")
def three_nodes():
    ray = import_ray()
    if ray.is_initialized():
        ray.shutdown()  # the session's runtime: tests/conftest.py starts it again if asked
    from ray.cluster_utils import Cluster

    from compiler.distributed.cluster import LOCAL_STORE_BYTES
    store = {"object_store_memory": LOCAL_STORE_BYTES}  # why: cluster.py LOCAL_STORE_BYTES
    sim = Cluster(initialize_head=True, head_node_args={"num_cpus": 2,
                                                        "include_dashboard": False, **store})
    for _ in range(2):
        sim.add_node(num_cpus=2, **store)
    yield ray, sim  # the first connect("ray://HOST:PORT") joins it
    ray.shutdown()
    sim.shutdown()


def test_pack_fills_one_node_first(three_nodes):
    """First in the module: on empty nodes (a group just removed may still hold its
    resources for a moment, and PACK is best effort)."""
    ray, sim = three_nodes
    assert not ray.is_initialized()
    cl = dist.connect(f"ray://{sim.address}", {"worker": 2})  # ray.init(address=...)
    try:
        assert ray.get_runtime_context().gcs_address == sim.address
        assert len(set(cl.nodes().values())) == 1
    finally:
        cl.close()
    with pytest.raises(ValueError, match=r"connected to the Ray cluster at .* already"):
        dist.connect("ray://127.0.0.1:1", {"worker": 2})


def test_spread_places_each_task_on_its_own_node_and_a_step_runs_across_them(three_nodes):
    ray, sim = three_nodes
    g = fc.Graph()
    with g.as_default():
        x = fc.placeholder(fc.float32, [None, 4], name="x")
        w = fc.Variable(np.eye(4, dtype=np.float32), name="w")
        a = fc.matmul(x, w, name="a")
        b = fc.tanh(a, name="b")
        c = fc.reduce_sum(b * b, name="c")
    opts = fc.CompileOptions(threads=1)
    parts = [pipeline.compile_graph(g, [a], [x], opts).executable,
             pipeline.compile_graph(g, [b], [a], opts).executable,
             pipeline.compile_graph(g, [c], [b], opts).executable]
    whole = pipeline.compile_graph(g, [c], [x], opts).executable
    cl = dist.connect(f"ray://{sim.address}", {"ps": 1, "worker": 2}, strategy="SPREAD")
    try:
        nodes = cl.nodes()
        assert len(set(nodes.values())) == 3, nodes
        assert set(nodes.values()) == {n["NodeID"] for n in ray.nodes() if n["Alive"]}
        keys = [("x:0", "a:0"), ("a:0", "b:0"), ("b:0", "c:0")]
        for task, exe, (i, o) in zip(TASKS, parts, keys):
            cl.register(task, f"{i}->{o}", exe)
        w0 = np.random.default_rng(1).standard_normal((4, 4)).astype(np.float32)
        cl.set_variables(TASKS[0], {"w": w0})
        plan = cl.plan([dist.Stage(t, f"{i}->{o}", (i,), (o,)) for t, (i, o) in
                        zip(TASKS, keys)], ["x:0"], ["c:0"])
        store = VariableStore()
        store.set("w", w0)
        for k in range(4):
            feed = np.random.default_rng(k).standard_normal((8, 4)).astype(np.float32)
            got = plan.run({"x:0": feed}, k)["c:0"]
            np.testing.assert_array_equal(got, whole.run([feed], store, k)[0])
        assert not plan.compiled
    finally:
        cl.close()


def test_the_distributed_session_trains_across_nodes_like_one_process(three_nodes):
    """examples/distributed_mlp.py through fc.Session("ray://HEAD:PORT"): three tasks of
    one CPU on nodes of two CPUs sit on more than one node (PACK fills a node first)."""
    import importlib.util
    import os
    ray, sim = three_nodes
    spec = importlib.util.spec_from_file_location("distributed_mlp", os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples",
        "distributed_mlp.py"))
    mlp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mlp)
    cluster = fc.train.ClusterSpec(mlp.CLUSTER)
    data = mlp.batches(3)
    local = mlp.build(cluster)
    with fc.Session(graph=local["graph"]) as sess:
        ref = mlp.train(sess, local, data)
    model = mlp.build(cluster)
    with fc.Session(f"ray://{sim.address}", graph=model["graph"],
                    config=mlp.config_for(cluster)) as sess:
        got = mlp.train(sess, model, data)
        nodes = sess._master.cluster.nodes()
    assert len(set(nodes.values())) > 1, nodes
    np.testing.assert_allclose(got, ref, rtol=1e-5)
