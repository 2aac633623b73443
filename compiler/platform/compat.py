"""`tf.compat` string helpers on the host: `as_bytes`, `as_text`, `as_str` (= `as_text`,
as in TF1 under Python 3), `as_str_any`. They never build graph ops."""

from __future__ import annotations

__all__ = ["as_bytes", "as_str", "as_str_any", "as_text"]


def as_bytes(bytes_or_text, encoding="utf-8"):
    """`bytes_or_text` as bytes (text is encoded with `encoding`); TypeError otherwise."""
    if isinstance(bytes_or_text, bytearray):
        return bytes(bytes_or_text)
    if isinstance(bytes_or_text, str):
        return bytes_or_text.encode(encoding)
    if isinstance(bytes_or_text, bytes):
        return bytes_or_text
    raise TypeError(f"Expected binary or unicode string, got {bytes_or_text!r}")


def as_text(bytes_or_text, encoding="utf-8"):
    """`bytes_or_text` as str (bytes are decoded with `encoding`); TypeError otherwise."""
    if isinstance(bytes_or_text, str):
        return bytes_or_text
    if isinstance(bytes_or_text, (bytes, bytearray)):
        return bytes(bytes_or_text).decode(encoding)
    raise TypeError(f"Expected binary or unicode string, got {bytes_or_text!r}")


as_str = as_text


def as_str_any(value):
    """`as_str(value)` for bytes, else `str(value)`."""
    return as_str(value) if isinstance(value, (bytes, bytearray)) else str(value)
