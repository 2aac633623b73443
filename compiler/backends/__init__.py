"""Code generators that render the kernel IR: `llvm` (CPU)."""
