"""`tf.app`: `run(main=None, argv=None)` and `flags` (the `tf.flags` module).

`run` parses the defined flags out of `argv` (default `sys.argv`) — flags that are not
defined stay in the argv, as TF1's `tf.app.run` tolerates them — then calls
`main(remaining_argv)` (default: the `main` function of the `__main__` module) and exits
with its return value, `sys.exit(main(argv))`, exactly as TF1: a `main` returning None
exits with status 0.
"""

from __future__ import annotations

import sys

from . import flags

__all__ = ["flags", "run"]


def run(main=None, argv=None):
    """Parse flags, then `sys.exit(main(argv))`."""
    args = sys.argv if argv is None else argv
    remaining = flags.FLAGS(args)
    if main is None:
        main = getattr(sys.modules["__main__"], "main", None)
        if main is None:
            raise ValueError("tf.app.run: no main given and the __main__ module has no "
                             "function named 'main'")
    sys.exit(main(remaining))
