"""`CompileError`: the graph cannot be compiled (for these fetches and feeds, or with
this toolchain). A floor below every compile stage, so each may raise it; conversion
(compiler/convert.py) re-exports it."""


class CompileError(ValueError):
    """The graph cannot be compiled for these fetches and feeds."""
