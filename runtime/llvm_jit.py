"""The JIT loader: the one runtime module that imports llvmlite.

`JitLibrary(objects, target_machine)` loads object code (bytes, e.g. from
`TargetMachine.emit_object`, compiled in parallel from several modules that call each
other) into one MCJIT engine and hands out function addresses; it keeps the engine
alive as long as the library object lives (callers must hold it while they use any
address).
"""

from __future__ import annotations

import ctypes

import llvmlite.binding as llvm

#: the generated thread pool's stop function (compiler/backends/llvm/pool.py)
POOL_STOP = "flowc_pool_stop"


class JitLibrary:
    def __init__(self, objects, target_machine):
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
        if engine is None:
            return
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
