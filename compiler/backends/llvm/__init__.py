"""The LLVM CPU backend: scalar-op table, emitter and target/optimizer setup."""
