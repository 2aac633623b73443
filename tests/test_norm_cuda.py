"""Normalization, LRN and resizing on the CUDA backend without a GPU: every kernel of a
training graph that uses them (batch-norm layers fused and not, their gradients and
moving-average updates, lrn, bilinear and nearest resizing) is rendered as CUDA C and
compiled by NVRTC, and the graph runs on the emulated GPU (tests/cuda_emulator.py)
with the interpreter's results."""

from __future__ import annotations

import dataclasses

import numpy as np
from cuda_emulator import emulated_gpu

import compiler as fc
from compiler.backends.cuda import emit, nvrtc
from compiler.convert import convert
from compiler.lower import kir as K
from compiler.pipeline import plan_and_lower
from passes.manager import run_pipeline

GPU = fc.CompileOptions(device="gpu")


def _graph():
    g = fc.Graph()
    with g.as_default():
        fc.set_random_seed(0)
        x = fc.placeholder(fc.float32, [None, 4, 4, 3], name="x")
        training = fc.placeholder_with_default(True, [], name="training")
        h = fc.layers.batch_normalization(x, training=training)
        h = fc.nn.lrn(fc.nn.relu(h), 1, 1.0, 0.5, 0.75)
        h = fc.image.resize_bilinear(h, [6, 5]) + fc.image.resize_nearest_neighbor(h, [6, 5])
        d = fc.layers.dense(fc.layers.flatten(h), 4)
        d = fc.layers.batch_normalization(d, training=True, fused=False)
        loss = fc.reduce_mean(d * d)
        with fc.control_dependencies(fc.get_collection(fc.GraphKeys.UPDATE_OPS)):
            train = fc.train.GradientDescentOptimizer(0.1).minimize(loss)
        init = fc.global_variables_initializer()
        moving = [v for v in fc.global_variables() if "moving" in v.name]
    return g, x, training, loss, train, init, moving


def test_every_kernel_compiles_with_nvrtc():
    g, x, training, loss, train, _, _ = _graph()
    with g.as_default():
        grads = fc.gradients(loss, [x])
    program = convert(g, [loss] + grads, [x, training])
    _, low = plan_and_lower(run_pipeline(program, GPU)[0], GPU)
    kernels = [dataclasses.replace(k, name=f"norm_{k.name}") for k in low.kernels]
    module = emit.emit_module(K.LoweredProgram([], kernels, [], [], {}), "norm")
    assert len(kernels) > 5 and len(nvrtc.compile_cubin(module, "sm_90")) > 0


def test_training_steps_on_the_emulated_gpu_match_the_interpreter():
    g, x, training, loss, train, init, moving = _graph()
    xv = np.random.default_rng(0).uniform(-1, 1, (3, 4, 4, 3)).astype(np.float32)
    results = []
    with emulated_gpu():
        for config in (fc.ConfigProto(device="gpu"), fc.ConfigProto(backend="interpret")):
            with fc.Session(graph=g, config=config) as sess:
                sess.run(init)
                for _ in range(2):
                    sess.run(train, {x: xv})
                results.append(sess.run([loss] + moving, {x: xv, training: False}))
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
