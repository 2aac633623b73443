"""The JIT loader: the one runtime module that imports llvmlite.

`JitLibrary(objects, target_machine)` loads object code (bytes, e.g. from
`TargetMachine.emit_object`, compiled in parallel from several modules that call each
other) into one MCJIT engine and hands out function addresses; it keeps the engine
alive as long as the library object lives (callers must hold it while they use any
address).
"""

from __future__ import annotations

import llvmlite.binding as llvm


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

    def address(self, name: str) -> int:
        addr = self._engine.get_function_address(name)
        if not addr:
            raise KeyError(f"the JIT-compiled module has no function {name!r}")
        return addr
