"""Models exported from torch (`torch.onnx.export(..., dynamo=False)`, the TorchScript
exporter, with a dynamic batch axis) through `fc.onnx.import_model`: a small CNN
(conv-bn-relu-pool-linear) and an LSTM model (nn.LSTM + Linear on the last step) match
torch's outputs at two batch sizes from one compile, and, imported with
`trainable=True`, take one `GradientDescentOptimizer` step that matches torch's SGD step
(loss and updated weights): fine-tuning an imported model. Exported without constant
folding, so the ONNX initializers are torch's parameters under their torch names (the
LSTM's gate reordering stays Slice/Concat ops in the graph, which gradients go through).
"""

from __future__ import annotations

import io

import numpy as np
import pytest

import compiler as fc
from compiler.onnx import import_model

# torch is imported inside the tests (loads_torch: tests/conftest.py runs them last),
# so the other test files' processes never load it
pytestmark = pytest.mark.loads_torch


def _model(kind):
    """(torch model in eval mode, shape of one example)."""
    import torch

    class SmallCNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(4)
            self.pool = torch.nn.MaxPool2d(2)
            self.fc = torch.nn.Linear(4 * 4 * 4, 5)

        def forward(self, x):
            return self.fc(torch.flatten(self.pool(torch.relu(self.bn(self.conv(x)))),
                                         1))

    class LSTMNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(4, 8, batch_first=True)
            self.fc = torch.nn.Linear(8, 3)

        def forward(self, x):
            y, _ = self.lstm(x)
            return self.fc(y[:, -1])

    torch.manual_seed(0)
    if kind == "cnn":
        model = SmallCNN()
        with torch.no_grad():   # running statistics that are not the identity
            model.bn.running_mean.uniform_(-0.5, 0.5)
            model.bn.running_var.uniform_(0.5, 2.0)
            model.bn.weight.uniform_(0.5, 1.5)
            model.bn.bias.uniform_(-0.2, 0.2)
        return model.eval(), (3, 8, 8)
    return LSTMNet().eval(), (5, 4)


def _export(model, example_shape):
    import torch

    f = io.BytesIO()
    torch.onnx.export(model, (torch.zeros(2, *example_shape),), f, dynamo=False,
                      do_constant_folding=False, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    return f.getvalue()


def _torch(model, x):
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("kind", ["cnn", "lstm"])
def test_torch_model_matches_at_two_batch_sizes_from_one_compile(kind):
    model, shape = _model(kind)
    data = _export(model, shape)
    rng = np.random.default_rng(0)
    with fc.Graph().as_default():
        (x,), (y,) = import_model(data)
        assert not isinstance(x.shape[0], int)       # the dynamic batch axis is symbolic
        with fc.Session() as sess:
            for batch in (1, 6):
                xv = rng.standard_normal((batch, *shape)).astype(np.float32)
                got = sess.run(y, {x: xv})
                np.testing.assert_allclose(got, _torch(model, xv), rtol=1e-4, atol=1e-5)
            assert sess.compile_count == 1
            # with torch loaded, MCJIT's 32-bit offsets from code to constants overflowed
            # (an abort): programs are linked and loaded by the dynamic loader
            # (compiler/backends/llvm/jit.py `library`)
            from runtime.dylib import SharedLibrary
            assert isinstance(next(iter(sess._cache.values()))._keepalive, SharedLibrary)


@pytest.mark.parametrize("kind", ["cnn", "lstm"])
def test_fine_tuning_an_imported_model_matches_a_torch_sgd_step(kind):
    import torch

    model, shape = _model(kind)
    data = _export(model, shape)
    rng = np.random.default_rng(1)
    xv = rng.standard_normal((4, *shape)).astype(np.float32)
    out = _torch(model, xv)
    tv = rng.standard_normal(out.shape).astype(np.float32)
    lr = 0.02

    with fc.Graph().as_default():
        (x,), (y,) = import_model(data, trainable=True)
        by_name = {v.op.name: v for v in fc.trainable_variables()}
        params = dict(model.named_parameters())
        assert set(params) <= set(by_name), sorted(by_name)
        target = fc.placeholder(fc.float32, [None, out.shape[1]])
        loss = fc.reduce_mean(fc.square(y - target))
        # the parameters torch trains (not BatchNorm's running statistics, which are
        # buffers in torch and initializers, hence variables, in the ONNX model)
        step = fc.train.GradientDescentOptimizer(lr).minimize(
            loss, var_list=[by_name[n] for n in params])
        with fc.Session() as sess:
            sess.run(fc.global_variables_initializer())
            loss0, _ = sess.run([loss, step], {x: xv, target: tv})
            new = sess.run({n: by_name[n] for n in params})
            loss1 = sess.run(loss, {x: xv, target: tv})

    opt = torch.optim.SGD(model.parameters(), lr=lr)
    t_loss = torch.nn.functional.mse_loss(model(torch.from_numpy(xv)), torch.from_numpy(tv))
    t_loss.backward()
    opt.step()
    np.testing.assert_allclose(loss0, t_loss.item(), rtol=1e-4)
    for n, p in model.named_parameters():
        np.testing.assert_allclose(new[n], p.detach().numpy(), rtol=1e-4, atol=1e-6,
                                   err_msg=n)
    with torch.no_grad():
        t_loss1 = torch.nn.functional.mse_loss(model(torch.from_numpy(xv)),
                                               torch.from_numpy(tv)).item()
    np.testing.assert_allclose(loss1, t_loss1, rtol=1e-4)
    assert loss1 < loss0
