"""Loaders of compiled code that need more than ctypes: `cuda` (the CUDA driver API)."""
