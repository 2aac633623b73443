"""The light model zoo shipped in the `onnx` wheel (onnx/backend/test/data/light: AlexNet,
DenseNet-121, Inception v1 and v2, ResNet-50, ShuffleNet, SqueezeNet, VGG-19, ZFNet-512;
opset 9, NCHW, batch 1) imports, compiles and matches the stored expected output.

As onnx's BackendTest runs these 'light' cases (onnx.backend.test.runner): the input is
`Runner.generate_dummy_data(input, seed=0, random=False)` (arange / n, as float32), the
expected output the wheel's `light_<model>_output_0.pb`, the tolerances those of the
model's case in onnx/backend/test/data/real (`load_model_tests(kind="real")`: rtol 1e-3,
2e-3 for DenseNet-121; atol 1e-7). The weights of the light models are ConstantOfShape
nodes (the wheel keeps them small), so every conv, pool, normalization and Gemm runs as
in the full models.
Compiles run through the ONNX backend (`compiler.onnx.backend`, Session on the LLVM
path): one compile per model, its kernels cached on disk as any Session's.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import numpy_helper  # noqa: E402
from onnx.backend.test.loader import load_model_tests  # noqa: E402
from onnx.backend.test.runner import Runner  # noqa: E402

from compiler.onnx.backend import backend  # noqa: E402

LIGHT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
MODELS = ["bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50",
          "shufflenet", "squeezenet", "vgg19", "zfnet512"]


def _tolerances():
    return {case.model_name: (case.rtol, case.atol)
            for case in load_model_tests(kind="real")}


def test_every_light_model_of_the_wheel_is_tested():
    shipped = sorted(f[len("light_"):-len(".onnx")] for f in os.listdir(LIGHT)
                     if f.startswith("light_") and f.endswith(".onnx"))
    assert shipped == MODELS


@pytest.mark.parametrize("name", MODELS)
def test_light_model_matches_its_stored_output(name):
    model = onnx.load(os.path.join(LIGHT, f"light_{name}.onnx"))
    inits = {t.name for t in model.graph.initializer}
    inputs = [Runner.generate_dummy_data(vi, seed=0, name=name, random=False)
              for vi in model.graph.input if vi.name not in inits]
    want = numpy_helper.to_array(onnx.load_tensor(
        os.path.join(LIGHT, f"light_{name}_output_0.pb")))
    rtol, atol = _tolerances()[name]
    got = backend().prepare(model, "CPU").run(inputs)
    assert len(got) == 1 and got[0].shape == want.shape and got[0].dtype == want.dtype
    np.testing.assert_allclose(got[0], want, rtol=rtol, atol=atol)
    assert np.all(np.isfinite(got[0]))
    last = model.graph.node[-1]
    if last.op_type == "Softmax":   # a distribution per image (opset 9: over axis 1 on)
        axis = next((a.i for a in last.attribute if a.name == "axis"), 1)
        flat = got[0].reshape(int(np.prod(got[0].shape[:axis])), -1)
        np.testing.assert_allclose(flat.sum(axis=1), 1.0, rtol=1e-4)
