"""The JIT loader: the one runtime module that imports llvmlite.

`JitLibrary(objects, target_machine)` loads object code (bytes, e.g. from
`TargetMachine.emit_object`, compiled in parallel from several modules that call each
other) into one MCJIT engine and hands out function addresses; it keeps the engine
alive as long as the library object lives (callers must hold it while they use any
address).

Fork: llvmlite runs every LLVM call under one process-wide lock. A fork while another
thread is inside an LLVM call (a compile) would leave that lock held in the child forever
and LLVM's state half-changed, so a fork waits for the call in flight to return and holds
the lock across the fork (`_LlvmForkGuard`, runtime/forksafe.py); the child then compiles
as usual. If the wait times out (one LLVM call longer than `forksafe.FORK_WAIT_S`),
`check_llvm()` (called before this process's LLVM work: `target_machine`, a new
`JitLibrary`) raises `ForkError` in the child instead of hanging.
"""

from __future__ import annotations

import ctypes

import llvmlite.binding as llvm
import llvmlite.binding.ffi as llvm_ffi

from . import forksafe
from .errors import ForkError

#: the generated thread pool's stop function (compiler/backends/llvm/pool.py)
POOL_STOP = "flowc_pool_stop"


class _LlvmForkGuard(forksafe.LockHeldAcrossFork):
    """Holds llvmlite's lock across a fork (the module docstring)."""

    def __init__(self, lock):
        self._lock = lock   # llvmlite's RLock; None when this llvmlite has another layout
        self._held = False
        self.broken = None

    def _fork_child(self):
        if self._held:
            self._held = False
            self._lock.release()
        elif self._lock is not None:
            # a call was still in flight: no new LLVM work here (check_llvm), but the
            # lock is freed so that llvmlite objects collected later do not hang
            self.broken = forksafe.broken_message("LLVM (another thread was compiling)")
            self._lock._at_fork_reinit()


_GUARD = _LlvmForkGuard(getattr(getattr(llvm_ffi.lib, "_lock", None), "_lock", None))
forksafe.register_last(_GUARD)


def check_llvm():
    """Raise `ForkError` where LLVM cannot be used (see the module docstring)."""
    if _GUARD.broken is not None:
        raise ForkError(_GUARD.broken)


class JitLibrary:
    def __init__(self, objects, target_machine):
        check_llvm()
        self._module = llvm.parse_assembly("")
        self._module.triple = target_machine.triple
        self._engine = llvm.create_mcjit_compiler(self._module, target_machine)
        self._objects = [llvm.ObjectFileRef.from_data(o) for o in objects]
        for obj in self._objects:
            self._engine.add_object_file(obj)
        self._engine.finalize_object()
        self._engine.run_static_constructors()

    def close(self):
        """Stop the program's thread pool (its workers run code of this engine), then
        let the engine go. Idempotent; also run when the library is collected."""
        engine, self._engine = getattr(self, "_engine", None), None
        if engine is None or _GUARD.broken is not None:
            return  # (a forked child whose LLVM is unusable: leave the engine be)
        try:
            stop = engine.get_function_address(POOL_STOP)
            if stop:
                ctypes.CFUNCTYPE(None)(stop)()
        except Exception:  # noqa: BLE001  (interpreter shutdown: nothing left to do)
            pass

    def __del__(self):
        self.close()

    def address(self, name: str) -> int:
        addr = self._engine.get_function_address(name)
        if not addr:
            raise KeyError(f"the JIT-compiled module has no function {name!r}")
        return addr
