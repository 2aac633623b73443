"""Simplification rules, grouped by op family: `arith` (add, sub, mul, div, neg,
logical_not), `select`, `cast` and `movement` (transpose, reshape, broadcast, slice,
concat, pad, and broadcasts feeding elementwise ops). `base` holds the `Rule` record and
the pattern helpers. Each module lists its rules in `RULES`; `passes/simplify.py`
registers those lists explicitly. docs/passes.md documents every rule."""
