"""`python -m compiler ...` runs the `flowc` command line (compiler/cli.py)."""

import sys

from .cli import main

sys.exit(main())
