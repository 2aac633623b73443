"""The CUDA driver API for flowc's runtime: context, device memory, cubin modules and
launches, through `cuda.bindings.driver` (the `cuda` extra).

Every driver status goes through `check()`, which raises `CudaError` (named after the
CUresult) on failure. Importing this module never touches the driver; the first use
does (`device()`), and a machine without a GPU or without the driver library gets
`NoGpuError`, never a crash. `gpu_available()` asks without raising.

Device arrays from other libraries are used in place (no copy) through
`__cuda_array_interface__` or DLPack (`device_array_view`). Imports neither `compiler`,
`passes` nor llvmlite.

Threads: the context is made current in whichever thread touches memory (a thread
that never called `device()`, a finalizer at GC); all work goes to the legacy default
stream, so it runs in the order it was issued from any thread. `DeviceArray` exports
`stream: 1` (that stream) in its array interface, so consumers order their work after
ours; a fed array's producer stream is waited for (array interface) or handed our
stream (DLPack `stream=1`). `Event` times GPU work with CUDA events.
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np


class CudaError(RuntimeError):
    """A CUDA driver call failed; the message names the call and the CUresult."""


class NoGpuError(CudaError):
    """This machine has no usable GPU (no driver library, or no device), or the CUDA
    Python bindings are not installed."""


_lock = threading.Lock()
_device = None
_driver = None
_thread = threading.local()   # .context: the context made current in this thread


def driver():
    """The `cuda.bindings.driver` module (NoGpuError when it is not installed)."""
    global _driver
    if _driver is None:
        try:
            from cuda.bindings import driver as drv
        except ImportError as e:
            raise NoGpuError("running on the GPU needs the CUDA Python bindings: pip "
                             "install 'flowc[cuda]' (cuda-bindings)") from e
        _driver = drv
    return _driver


def check(result, what: str):
    """Raise CudaError unless the driver call's status is CUDA_SUCCESS; return its other
    values (one value unpacked, several as a tuple, none as None)."""
    drv = driver()
    status, *values = result if isinstance(result, tuple) else (result,)
    if status != drv.CUresult.CUDA_SUCCESS:
        name = getattr(status, "name", str(status))
        try:
            err, text = drv.cuGetErrorString(status)
            detail = text.decode() if err == drv.CUresult.CUDA_SUCCESS and text else ""
        except Exception:  # noqa: BLE001  (the message must not fail)
            detail = ""
        cls = NoGpuError if name in ("CUDA_ERROR_NO_DEVICE", "CUDA_ERROR_NOT_INITIALIZED",
                                     "CUDA_ERROR_INSUFFICIENT_DRIVER") else CudaError
        raise cls(f"{what} failed: {name}" + (f" ({detail})" if detail else ""))
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


class Device:
    """The current GPU (device 0) and its primary context."""

    def __init__(self, ordinal=0):
        drv = driver()
        try:
            check(drv.cuInit(0), "cuInit")
        except CudaError:
            raise
        except Exception as e:  # noqa: BLE001  (DynamicLibNotFoundError: no driver library)
            raise NoGpuError(f"no GPU: the CUDA driver library could not be loaded "
                             f"({type(e).__name__}: {e})") from None
        count = check(drv.cuDeviceGetCount(), "cuDeviceGetCount")
        if count <= ordinal:
            raise NoGpuError(f"no GPU: the CUDA driver reports {count} device(s)")
        self.handle = check(drv.cuDeviceGet(ordinal), "cuDeviceGet")
        self.context = check(drv.cuDevicePrimaryCtxRetain(self.handle),
                             "cuDevicePrimaryCtxRetain")
        self.activate()
        attr = drv.CUdevice_attribute
        self.sm_count = check(drv.cuDeviceGetAttribute(
            attr.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, self.handle), "cuDeviceGetAttribute")
        major = check(drv.cuDeviceGetAttribute(
            attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, self.handle),
            "cuDeviceGetAttribute")
        minor = check(drv.cuDeviceGetAttribute(
            attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, self.handle),
            "cuDeviceGetAttribute")
        self.arch = f"sm_{major}{minor}"
        name = check(drv.cuDeviceGetName(256, self.handle), "cuDeviceGetName")
        self.name = name.split(b"\0", 1)[0].decode(errors="replace")

    def activate(self):
        check(driver().cuCtxSetCurrent(self.context), "cuCtxSetCurrent")

    def synchronize(self):
        check(driver().cuCtxSynchronize(), "cuCtxSynchronize")


def device() -> Device:
    """The GPU, initialized on first use (NoGpuError without one); its context is made
    current in the calling thread."""
    global _device
    with _lock:
        if _device is None:
            _device = Device()
        else:
            _device.activate()
        _thread.context = _device.context
        return _device


def arch_runs_on(cubin_arch: str, device_arch: str) -> bool:
    """Whether a cubin compiled for `cubin_arch` (sm_XY, sm_XYa, sm_XYf) runs on a device
    of compute capability `device_arch` (sm_XZ). The CUDA C++ Programming Guide's
    binary-compatibility rule: a cubin for X.y runs on X.z with z >= y (same major, same
    or higher minor), never across majors; an arch-specific cubin (`a`: sm_90a) only on
    exactly X.y; a family-specific one (`f`, CUDA 12.9+) like the plain one."""
    def parse(arch):
        digits = arch[3:].rstrip("af")
        if not arch.startswith("sm_") or len(digits) < 2 or not digits.isdigit():
            raise ValueError(f"not a CUDA architecture: {arch!r}")
        return int(digits[:-1]), int(digits[-1]), arch[3 + len(digits):]
    major, minor, suffix = parse(cubin_arch)
    dmajor, dminor, _ = parse(device_arch)
    if major != dmajor:
        return False
    return dminor == minor if suffix == "a" else dminor >= minor


def _in_context(fn, *args):
    """Call a freeing driver function with the device's context current in this thread
    (finalizers run in any thread, or at GC); never raises (interpreter shutdown, a
    context already gone)."""
    drv, dev = _driver, _device
    if drv is None or dev is None:
        return
    try:
        drv.cuCtxPushCurrent(dev.context)
        try:
            fn(*args)
        finally:
            drv.cuCtxPopCurrent()
    except Exception:  # noqa: BLE001  (a finalizer must not raise)
        pass


def _current():
    """The driver, with the device's context current in this thread (a thread that
    never ran a program may read a device value: `VariableStore.get`)."""
    dev = _device
    if dev is None or getattr(_thread, "context", None) is not dev.context:
        device()
    return driver()


def gpu_available() -> bool:
    try:
        device()
        return True
    except NoGpuError:
        return False


# ---- memory -----------------------------------------------------------------------------
class DeviceBuffer:
    """`nbytes` of device memory (at least 1 byte is allocated), freed with the object."""

    def __init__(self, nbytes: int):
        device()  # initializes the driver (NoGpuError without a GPU)
        self.nbytes = int(nbytes)
        self.ptr = int(check(driver().cuMemAlloc(max(1, self.nbytes)), "cuMemAlloc"))

    def __del__(self):
        ptr, self.ptr = getattr(self, "ptr", 0), 0
        if ptr and _driver is not None:
            _in_context(_driver.cuMemFree, ptr)


def upload(dst_ptr: int, arr: np.ndarray):
    if arr.nbytes:
        check(_current().cuMemcpyHtoD(dst_ptr, arr.ctypes.data, arr.nbytes), "cuMemcpyHtoD")


def download(arr: np.ndarray, src_ptr: int):
    if arr.nbytes:
        check(_current().cuMemcpyDtoH(arr.ctypes.data, src_ptr, arr.nbytes), "cuMemcpyDtoH")


def copy_device(dst_ptr: int, src_ptr: int, nbytes: int):
    if nbytes:
        check(_current().cuMemcpyDtoD(dst_ptr, src_ptr, nbytes), "cuMemcpyDtoD")


def memset32(ptr: int, value: int, count: int):
    check(_current().cuMemsetD32(ptr, value, count), "cuMemsetD32")


class DeviceArray:
    """A C-contiguous array in device memory: `shape`, `dtype`, `ptr`; `numpy()` copies
    it to the host; `__cuda_array_interface__` lets cupy/torch/jax use it in place."""

    def __init__(self, shape, dtype, buffer: DeviceBuffer = None, ptr=None, owner=None):
        self.shape, self.dtype = tuple(int(s) for s in shape), np.dtype(dtype)
        self.buffer = buffer if buffer is not None or ptr is not None else \
            DeviceBuffer(self.nbytes)
        self.ptr = int(ptr) if ptr is not None else self.buffer.ptr
        self.owner = owner

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @classmethod
    def from_numpy(cls, arr) -> "DeviceArray":
        arr = np.asarray(arr, order="C")  # ascontiguousarray would make a scalar [1]
        out = cls(arr.shape, arr.dtype)
        upload(out.ptr, arr)
        return out

    def numpy(self) -> np.ndarray:
        out = np.empty(self.shape, self.dtype)
        download(out, self.ptr)
        return out

    def copy(self) -> "DeviceArray":
        out = DeviceArray(self.shape, self.dtype)
        copy_device(out.ptr, self.ptr, self.nbytes)
        return out

    @property
    def __cuda_array_interface__(self):
        return {"shape": self.shape, "typestr": self.dtype.str, "data": (self.ptr, False),
                "strides": None, "version": 3,
                "stream": 1}  # our work is on the legacy default stream


# ---- arrays of other libraries, in place -------------------------------------------------
_DL_CODES = {(0, 8): "int8", (0, 16): "int16", (0, 32): "int32", (0, 64): "int64",
             (1, 8): "uint8", (1, 16): "uint16", (1, 32): "uint32", (1, 64): "uint64",
             (2, 16): "float16", (2, 32): "float32", (2, 64): "float64",
             (6, 8): "bool"}


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


def is_device_array(obj) -> bool:
    """True for objects that live in GPU memory (CUDA array interface, or DLPack on a
    CUDA device); numpy arrays and Python values are host values."""
    if isinstance(obj, (np.ndarray, np.generic, DeviceArray)):
        return isinstance(obj, DeviceArray)
    if hasattr(obj, "__cuda_array_interface__"):
        return True
    dev = getattr(obj, "__dlpack_device__", None)
    if dev is not None:
        try:
            return dev()[0] in (2, 13)  # kDLCUDA, kDLCUDAManaged
        except Exception:  # noqa: BLE001
            return False
    return False


def device_array_view(obj) -> DeviceArray:
    """A DeviceArray viewing `obj`'s device memory in place (no copy); raises ValueError
    for non-contiguous arrays. The view holds `obj` (or its DLPack capsule) alive."""
    if isinstance(obj, DeviceArray):
        return obj
    cai = getattr(obj, "__cuda_array_interface__", None)
    if cai is not None:
        shape = tuple(cai["shape"])
        dtype = np.dtype(cai["typestr"])
        strides = cai.get("strides")
        if strides is not None and not _c_contiguous(shape, strides, dtype.itemsize):
            raise ValueError("a GPU feed must be C-contiguous")
        _wait_for(cai.get("stream"))
        return DeviceArray(shape, dtype, ptr=cai["data"][0] or 0, owner=obj)
    return _from_dlpack(obj)


def _c_contiguous(shape, strides, itemsize) -> bool:
    """Whether byte `strides` lay `shape` out C-contiguously: a dim of size 1 may carry
    any stride (it is never stepped over), an empty array is contiguous."""
    if any(d == 0 for d in shape):
        return True
    step = itemsize
    for d, s in zip(reversed(shape), reversed(tuple(strides))):
        if d > 1 and s != step:
            return False
        step *= d
    return True


def _wait_for(stream):
    """Wait for the work a fed array's producer queued on `stream` (its array
    interface's `stream`): None or 1 (the legacy default stream, ours) needs nothing."""
    if stream not in (None, 1):
        check(_current().cuStreamSynchronize(int(stream)), "cuStreamSynchronize")


def _from_dlpack(obj) -> DeviceArray:
    try:   # stream=1: the producer orders its pending work before our (legacy) stream
        capsule = obj.__dlpack__(stream=1)
    except TypeError:  # a producer without the stream argument
        capsule = obj.__dlpack__()
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    # DLManagedTensor starts with its DLTensor
    t = _DLTensor.from_address(get(capsule, b"dltensor"))
    shape = tuple(t.shape[i] for i in range(t.ndim))
    key = (t.dtype.code, t.dtype.bits)
    if key not in _DL_CODES or t.dtype.lanes != 1:
        raise ValueError(f"unsupported DLPack dtype {key}")
    dtype = np.dtype(_DL_CODES[key])
    if t.strides:
        strides = tuple(t.strides[i] * dtype.itemsize for i in range(t.ndim))
        if not _c_contiguous(shape, strides, dtype.itemsize):
            raise ValueError("a GPU feed must be C-contiguous")
    return DeviceArray(shape, dtype, ptr=(t.data or 0) + t.byte_offset, owner=(obj, capsule))


# ---- modules and launches -----------------------------------------------------------------
class Module:
    """A loaded cubin and its functions."""

    def __init__(self, cubin: bytes):
        device()
        image = np.frombuffer(bytes(cubin), np.uint8).copy()  # a stable host address
        self.handle = check(driver().cuModuleLoadData(image.ctypes.data), "cuModuleLoadData")
        self._functions = {}

    def function(self, name: str):
        fn = self._functions.get(name)
        if fn is None:
            fn = check(driver().cuModuleGetFunction(self.handle, name.encode()),
                       f"cuModuleGetFunction({name})")
            self._functions[name] = fn
        return fn

    def __del__(self):
        handle, self.handle = getattr(self, "handle", None), None
        if handle is not None and _driver is not None:
            _in_context(_driver.cuModuleUnload, handle)


def launch(fn, grid: int, block: int, args: list, name="kernel"):
    """Launch `fn` on `grid` x `block` threads (1-D) on the default stream; `args` are
    ctypes values (c_void_p for pointers, c_int64 for symbols and the counter)."""
    params = (ctypes.c_void_p * max(1, len(args)))(*[ctypes.addressof(a) for a in args])
    check(driver().cuLaunchKernel(fn, grid, 1, 1, block, 1, 1, 0, 0,
                                  ctypes.addressof(params), 0), f"cuLaunchKernel({name})")


class Event:
    """A CUDA event on the legacy default stream, for timing GPU work:
    `a.record(); ...; b.record(); b.synchronize(); a.elapsed_ms(b)`."""

    def __init__(self):
        self.handle = check(_current().cuEventCreate(0), "cuEventCreate")  # timing on

    def record(self):
        check(_current().cuEventRecord(self.handle, 0), "cuEventRecord")

    def synchronize(self):
        check(_current().cuEventSynchronize(self.handle), "cuEventSynchronize")

    def elapsed_ms(self, end: "Event") -> float:
        """Milliseconds of GPU time from this event to `end` (both recorded, `end`
        completed)."""
        return float(check(_current().cuEventElapsedTime(self.handle, end.handle),
                           "cuEventElapsedTime"))

    def __del__(self):
        handle, self.handle = getattr(self, "handle", None), None
        if handle is not None and _driver is not None:
            _in_context(_driver.cuEventDestroy, handle)
