"""ONNX models in flowc (docs/onnx.md): `fc.onnx.import_model` adds an ONNX model to the
default graph; `fc.onnx.export` writes a user graph as an ONNX model;
`compiler.onnx.backend` is an `onnx.backend.base.Backend`. The `onnx` package is needed
only when these are used."""

from .export import OnnxExportError, export
from .importer import OnnxImportError, import_model
from .table import rows

__all__ = ["OnnxExportError", "OnnxImportError", "export", "import_model", "rows"]
