"""Test configuration: hypothesis profiles ("ci" is derandomized, loaded when CI is set)
and the tests directory on sys.path for the shared `oracle` helpers."""

import os
import sys

from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(__file__))

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=8,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=8,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE",
                                                                        "dev"))


# ---- frontend tests (tests/test_frontend_*.py) -----------------------------------------
import pytest  # noqa: E402

import compiler as fc  # noqa: E402


@pytest.fixture
def fresh_default_graph():
    """An empty default graph for the test (requested by the frontend test modules)."""
    fc.reset_default_graph()
    yield


@pytest.fixture
def interp():
    """`interp(fetches, feed_dict=None, init=False, graph=None)`: run on the interpreter
    backend (a new Session per call; `init=True` runs the variable initializers first)."""

    def run(fetches, feed_dict=None, init=False, graph=None):
        config = fc.ConfigProto(backend="interpret")
        with fc.Session(graph=graph, config=config) as sess:
            if init:
                sess.run(fc.global_variables_initializer())
            return sess.run(fetches, feed_dict)

    return run


# ---- the compile cache (tests/test_cache.py; docs/cache.md) ----------------------------
@pytest.fixture(autouse=True, scope="session")
def _session_compile_cache(tmp_path_factory):
    """The suite never touches ~/.cache/flowc: it runs with the compile cache off
    (FLOWC_CACHE=0; linking every entry would slow it down) in an empty per-session
    directory (one per pytest-xdist worker: each has its own tmp_path_factory root).
    tests/test_cache.py turns it on where it tests it; `FLOWC_CACHE=1 pytest`
    runs the whole suite through the cache. A FLOWC_CACHE_DIR set by the caller is kept."""
    saved = {k: os.environ.get(k) for k in ("FLOWC_CACHE", "FLOWC_CACHE_DIR")}
    os.environ.setdefault("FLOWC_CACHE", "0")
    os.environ.setdefault("FLOWC_CACHE_DIR", str(tmp_path_factory.mktemp("flowc-cache")))
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


# ---- the Ray runtime of the distributed tests (tests/test_distributed_*.py) ------------
RAY_NUM_CPUS = 8  # logical CPUs (one per task): two three-task clusters fit on 2 cores


def ensure_ray():
    """Ray connected in this process: the runtime an earlier test module of this session
    started, when it is still up (one per session), else the cluster at $RAY_ADDRESS when
    that is set (a `ray start --head` of the caller), else a new local runtime
    (`num_cpus` pinned, no dashboard, loopback only: compiler/distributed/cluster.py
    `import_ray` sets RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 and RAY_AUTH_MODE=disabled).
    pytest-xdist (`--dist loadfile`) runs each test file in one worker process, so only
    the processes that run a distributed file start one."""
    from compiler.distributed.cluster import LOCAL_STORE_BYTES, import_ray
    ray = import_ray()
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            # address="local": a runtime of its own even when another test process's
            # runtime runs on this machine (a plain ray.init() joins that one and
            # refuses num_cpus)
            ray.init(address="local", num_cpus=RAY_NUM_CPUS, include_dashboard=False,
                     log_to_driver=False, object_store_memory=LOCAL_STORE_BYTES)
    return ray


@pytest.fixture(scope="module")
def ray_runtime():
    """The `ray` module, connected (`ensure_ray`)."""
    return ensure_ray()


@pytest.fixture(scope="session", autouse=True)
def _ray_shutdown_at_exit():
    """Shut down the Ray runtime a distributed test connected, once, at the end."""
    yield
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


# ---- the ONNX node conformance suite (tests/test_onnx_node_suite_*.py) ------------------
def pytest_terminal_summary(terminalreporter):
    """Print how many ONNX backend node cases passed (also under pytest-xdist, whose
    controller sees every worker's reports)."""
    from onnx_conformance import SUITE_CLASS

    counts = {}
    for outcome in ("passed", "failed", "error"):
        counts[outcome] = sum(1 for r in terminalreporter.stats.get(outcome, [])
                              if getattr(r, "when", "call") == "call"
                              and SUITE_CLASS in getattr(r, "nodeid", ""))
    if any(counts.values()):
        from onnx_exclusions import EXCLUDED
        terminalreporter.write_line(
            f"ONNX backend node suite (non-expanded cases): {counts['passed']} passed, "
            f"{counts['failed'] + counts['error']} failed; {len(EXCLUDED)} exclusion "
            f"patterns in tests/onnx_exclusions.py")


# ---- tests that load torch run last ---------------------------------------------------
def pytest_configure(config):
    config.addinivalue_line(
        "markers", "loads_torch: imports torch (which makes the process load every compiled "
        "program through the dynamic loader, compiler/backends/llvm/jit.py `library`); "
        "such tests run after the others")


def pytest_collection_modifyitems(config, items):
    """The test files with a test marked loads_torch go last (whole files: pytest-xdist
    hands a worker one file at a time; stable order otherwise), so the processes that run
    the rest of the suite keep MCJIT's faster loading."""
    late = {item.path for item in items if item.get_closest_marker("loads_torch")}
    items.sort(key=lambda item: item.path in late)
