"""ONNX models in flowc (docs/onnx.md): `fc.onnx.import_model` adds an ONNX model to the
default graph; `compiler.onnx.backend` is an `onnx.backend.base.Backend`. The `onnx`
package is needed only when these are used."""

from .importer import OnnxImportError, import_model
from .table import rows

__all__ = ["OnnxImportError", "import_model", "rows"]
