"""The CUDA driver API for flowc's runtime: context, device memory, cubin modules and
launches, through `cuda.bindings.driver` (the `cuda` extra).

Every driver status goes through `check()`, which raises `CudaError` (named after the
CUresult) on failure. Importing this module never touches the driver; the first use
does (`device()`), and a machine without a GPU or without the driver library gets
`NoGpuError`, never a crash. `gpu_available()` asks without raising.

Device arrays from other libraries are used in place (no copy) through
`__cuda_array_interface__` or DLPack (`device_array_view`). Imports neither `compiler`,
`passes` nor llvmlite.
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
    """The GPU, initialized on first use (NoGpuError without one)."""
    global _device
    with _lock:
        if _device is None:
            _device = Device()
        else:
            _device.activate()
        return _device


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
            try:
                _driver.cuMemFree(ptr)
            except Exception:  # noqa: BLE001  (interpreter shutdown)
                pass


def upload(dst_ptr: int, arr: np.ndarray):
    if arr.nbytes:
        check(driver().cuMemcpyHtoD(dst_ptr, arr.ctypes.data, arr.nbytes), "cuMemcpyHtoD")


def download(arr: np.ndarray, src_ptr: int):
    if arr.nbytes:
        check(driver().cuMemcpyDtoH(arr.ctypes.data, src_ptr, arr.nbytes), "cuMemcpyDtoH")


def copy_device(dst_ptr: int, src_ptr: int, nbytes: int):
    if nbytes:
        check(driver().cuMemcpyDtoD(dst_ptr, src_ptr, nbytes), "cuMemcpyDtoD")


def memset32(ptr: int, value: int, count: int):
    check(driver().cuMemsetD32(ptr, value, count), "cuMemsetD32")


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
                "strides": None, "version": 3}


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
        if strides is not None and tuple(strides) != _c_strides(shape, dtype.itemsize):
            raise ValueError("a GPU feed must be C-contiguous")
        return DeviceArray(shape, dtype, ptr=cai["data"][0] or 0, owner=obj)
    return _from_dlpack(obj)


def _c_strides(shape, itemsize):
    strides, step = [], itemsize
    for d in reversed(shape):
        strides.append(step)
        step *= d
    return tuple(reversed(strides))


def _from_dlpack(obj) -> DeviceArray:
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
        if strides != _c_strides(shape, dtype.itemsize) and all(s > 1 for s in shape):
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
            try:
                _driver.cuModuleUnload(handle)
            except Exception:  # noqa: BLE001
                pass


def launch(fn, grid: int, block: int, args: list, name="kernel"):
    """Launch `fn` on `grid` x `block` threads (1-D) on the default stream; `args` are
    ctypes values (c_void_p for pointers, c_int64 for symbols and the counter)."""
    params = (ctypes.c_void_p * max(1, len(args)))(*[ctypes.addressof(a) for a in args])
    check(driver().cuLaunchKernel(fn, grid, 1, 1, block, 1, 1, 0, 0,
                                  ctypes.addressof(params), 0), f"cuLaunchKernel({name})")
