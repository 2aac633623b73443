"""The JIT loader: the one runtime module that imports llvmlite.

`JitLibrary(module_ref, target_machine)` finalizes an optimized llvmlite module with
MCJIT and hands out function addresses; it keeps the engine alive as long as the
library object lives (callers must hold it while they use any address).
"""

from __future__ import annotations

import llvmlite.binding as llvm


class JitLibrary:
    def __init__(self, module_ref, target_machine):
        self._engine = llvm.create_mcjit_compiler(module_ref, target_machine)
        self._engine.finalize_object()
        self._engine.run_static_constructors()
        self._module = module_ref

    def address(self, name: str) -> int:
        addr = self._engine.get_function_address(name)
        if not addr:
            raise KeyError(f"the JIT-compiled module has no function {name!r}")
        return addr
