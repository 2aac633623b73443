"""runtime/cuda_driver.py without a GPU: which fed GPU arrays count as C-contiguous
(array interface and DLPack), finalizers that free in the device's context from any
thread and never raise, the memory calls making the context current in a new thread,
the cubin/device architecture rule, and the CUDA event helper. The driver is replaced by
small fakes (as in tests/test_cuda_codegen.py); what needs the real driver is in
tests/test_cuda_gpu.py."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from runtime import cuda_driver as C

drv = C.driver()
OK = drv.CUresult.CUDA_SUCCESS


class _Cai:
    """A GPU array as another library exposes it (no memory behind the pointer)."""

    def __init__(self, shape, strides, typestr="<f4", stream=None):
        self.__cuda_array_interface__ = {"shape": shape, "strides": strides,
                                         "typestr": typestr, "data": (4096, False),
                                         "version": 3, "stream": stream}


@pytest.mark.parametrize("shape, strides", [
    ((1, 5), (4, 4)),              # a transposed [5, 1]
    ((3, 1, 4), (16, 999, 4)),     # contiguous; the size-1 dim's stride is arbitrary
    ((2, 3), (12, 4)),
    ((2, 3), None),
    ((0, 3), (4, 8)),              # empty
    ((1, 1), (0, 0)),
])
def test_contiguous_array_interface_feeds_are_used_in_place(shape, strides):
    view = C.device_array_view(_Cai(shape, strides))
    assert view.shape == shape and view.ptr == 4096 and view.dtype == np.float32


@pytest.mark.parametrize("shape, strides", [
    ((2, 1, 5), (40, 20, 4)),      # every other row of a [4, 5]
    ((5, 1), (8, 4)),              # every other element
    ((2, 3), (4, 8)),              # Fortran order
])
def test_strided_array_interface_feeds_are_refused(shape, strides):
    with pytest.raises(ValueError, match="C-contiguous"):
        C.device_array_view(_Cai(shape, strides))


class _DLPack:
    """A CPU numpy array behind the DLPack protocol (its capsule is numpy's own); the
    device check is not involved: `device_array_view` is called directly."""

    def __init__(self, array):
        self.array, self.streams = array, []

    def __dlpack__(self, stream=None):
        self.streams.append(stream)
        return self.array.__dlpack__()   # numpy accepts only stream=None


def test_dlpack_feeds_compare_strides_over_dims_larger_than_one():
    base = np.arange(40, dtype=np.float32).reshape(8, 5)
    transposed = np.ascontiguousarray(base[:1].T).T   # [1, 5] with strides (4, 4)
    for array in (base, transposed, base[:1], base[2:4], np.zeros((0, 3), np.float32)):
        feed = _DLPack(array)
        view = C.device_array_view(feed)
        assert view.shape == array.shape and view.dtype == np.float32
        assert view.ptr == array.ctypes.data
        assert feed.streams[0] == 1   # asked for our stream first
    for array in (base[::2][:, None, :], base[:, ::2], base.T):
        with pytest.raises(ValueError, match="C-contiguous"):
            C.device_array_view(_DLPack(array))


def test_our_arrays_name_the_stream_their_work_is_on():
    arr = C.DeviceArray((2, 3), np.float32, ptr=4096)
    assert arr.__cuda_array_interface__["stream"] == 1   # the legacy default stream


class _Driver:
    """A driver that records its calls (and from which thread)."""
    CUresult = drv.CUresult

    def __init__(self, fail=()):
        self.calls, self.fail = [], set(fail)

    def __getattr__(self, name):
        if not name.startswith("cu"):
            raise AttributeError(name)

        def call(*args):
            self.calls.append((name, args, threading.current_thread().name))
            if name in self.fail:
                raise RuntimeError(f"{name}: context destroyed")
            return {"cuEventCreate": (OK, "event"), "cuEventElapsedTime": (OK, 1.25),
                    "cuCtxPopCurrent": (OK, "ctx")}.get(name, (OK,))
        return call


class _Device:
    context = "ctx"

    def __init__(self):
        self.activated = []

    def activate(self):
        self.activated.append(threading.current_thread().name)


def _in_thread(fn):
    t = threading.Thread(target=fn, name="other")
    t.start()
    t.join(10)


@pytest.mark.parametrize("fail", [(), ("cuMemFree", "cuModuleUnload", "cuEventDestroy"),
                                  ("cuCtxPushCurrent",)])
def test_finalizers_free_in_the_devices_context_and_never_raise(monkeypatch, fail):
    fake = _Driver(fail)
    monkeypatch.setattr(C, "_driver", fake)
    monkeypatch.setattr(C, "_device", _Device())
    buf = object.__new__(C.DeviceBuffer)
    buf.ptr = 1234
    mod = object.__new__(C.Module)
    mod.handle = "module"
    ev = object.__new__(C.Event)
    ev.handle = "event"
    _in_thread(lambda: (buf.__del__(), mod.__del__(), ev.__del__()))
    names = [c[0] for c in fake.calls]
    assert all(c[2] == "other" for c in fake.calls)
    if "cuCtxPushCurrent" in fail:   # no context: nothing freed, nothing raised
        assert set(names) == {"cuCtxPushCurrent"}
    else:
        assert names == ["cuCtxPushCurrent", "cuMemFree", "cuCtxPopCurrent",
                         "cuCtxPushCurrent", "cuModuleUnload", "cuCtxPopCurrent",
                         "cuCtxPushCurrent", "cuEventDestroy", "cuCtxPopCurrent"]
        assert fake.calls[1][1] == (1234,) and fake.calls[0][1] == ("ctx",)
    buf.__del__()   # a second call frees nothing
    assert len(fake.calls) == len(names)


def test_memory_calls_make_the_context_current_in_a_new_thread(monkeypatch):
    fake, dev = _Driver(), _Device()
    monkeypatch.setattr(C, "_driver", fake)
    monkeypatch.setattr(C, "_device", dev)
    host = np.zeros(4, np.float32)
    _in_thread(lambda: C.download(host, 4096))
    assert dev.activated == ["other"]
    assert fake.calls[-1][0] == "cuMemcpyDtoH" and fake.calls[-1][2] == "other"


def test_events_time_through_the_driver(monkeypatch):
    fake = _Driver()
    monkeypatch.setattr(C, "_driver", fake)
    monkeypatch.setattr(C, "_device", _Device())
    start, end = C.Event(), C.Event()
    start.record()
    end.record()
    end.synchronize()
    assert start.elapsed_ms(end) == 1.25
    names = [c[0] for c in fake.calls]
    assert names == ["cuEventCreate", "cuEventCreate", "cuEventRecord", "cuEventRecord",
                     "cuEventSynchronize", "cuEventElapsedTime"]


@pytest.mark.parametrize("cubin, device, runs", [
    ("sm_90", "sm_90", True),
    ("sm_90a", "sm_90", True),     # arch-specific: exactly its compute capability
    ("sm_80", "sm_86", True),      # same major, higher minor
    ("sm_86", "sm_80", False),     # never to a lower minor
    ("sm_80", "sm_90", False),     # never across majors
    ("sm_90", "sm_100", False),
    ("sm_100a", "sm_103", False),  # `a` does not carry to another minor
    ("sm_100f", "sm_103", True),   # a family cubin does
    ("sm_120", "sm_121", True),
])
def test_which_cubins_run_on_which_device(cubin, device, runs):
    assert C.arch_runs_on(cubin, device) is runs


def test_an_arch_that_is_not_one_is_refused():
    with pytest.raises(ValueError, match="not a CUDA architecture"):
        C.arch_runs_on("compute_90", "sm_90")


def test_an_sm_90a_program_runs_on_an_sm_90_gpu_and_an_sm_100_one_does_not():
    from cuda_emulator import emulated_gpu  # an sm_90 device

    import compiler as fc
    from compiler.convert import convert
    from compiler.pipeline import build_program
    from runtime.variables import VariableStore
    with emulated_gpu(), fc.Graph().as_default() as g:
        x = fc.placeholder(fc.float32, [None], name="x")
        exe = build_program(convert(g, [x * 2.0], [x]), fc.CompileOptions(device="gpu"))
        exe.arch = "sm_90a"
        out, = exe.run([np.arange(5, dtype=np.float32)], VariableStore())
        np.testing.assert_array_equal(out, np.arange(5) * 2.0)
        exe._module, exe.arch = None, "sm_100"
        with pytest.raises(C.CudaError, match="sm_100, which does not run on the GPU"):
            exe.run([np.arange(5, dtype=np.float32)], VariableStore())
