"""tf.image.resize_bilinear / resize_nearest_neighbor / resize_images / resize
(compiler/frontend/image_ops.py) against a per-pixel numpy implementation of TF1's
documented kernels written here (float32 coordinate arithmetic; legacy mapping,
align_corners, half_pixel_centers), on the compiled Session (LLVM) and the interpreter;
gradients against the transpose of the same linear map and finite differences."""

import numpy as np
import pytest
from autodiff_check import check_grads

import compiler as tf

pytestmark = pytest.mark.usefixtures("fresh_default_graph")

BACKENDS = ["llvm", "interpret"]
RNG = np.random.default_rng(5)
F = np.float32


def _scale(n_in, n_out, align):
    return F(n_in - 1) / F(n_out - 1) if align and n_out > 1 else F(n_in) / F(n_out)


def np_bilinear(img, out_h, out_w, align=False, half=False):
    """TF1's ResizeBilinear, one output pixel at a time."""
    n, h, w, c = img.shape
    img = img.astype(np.float32)
    sh, sw = _scale(h, out_h, align), _scale(w, out_w, align)
    out = np.zeros((n, out_h, out_w, c), np.float32)
    for y in range(out_h):
        iy = (F(y) + F(0.5)) * sh - F(0.5) if half else F(y) * sh
        y0, y1, ly = max(int(np.floor(iy)), 0), min(int(np.ceil(iy)), h - 1), iy - np.floor(iy)
        for x in range(out_w):
            ix = (F(x) + F(0.5)) * sw - F(0.5) if half else F(x) * sw
            x0, x1 = max(int(np.floor(ix)), 0), min(int(np.ceil(ix)), w - 1)
            lx = ix - np.floor(ix)
            top = img[:, y0, x0] + (img[:, y0, x1] - img[:, y0, x0]) * lx
            bottom = img[:, y1, x0] + (img[:, y1, x1] - img[:, y1, x0]) * lx
            out[:, y, x] = top + (bottom - top) * ly
    return out


def np_nearest(img, out_h, out_w, align=False, half=False):
    """TF1's ResizeNearestNeighbor."""
    n, h, w, c = img.shape
    sh, sw = _scale(h, out_h, align), _scale(w, out_w, align)

    def src(i, s, size):
        v = (F(i) + F(0.5)) * s if half else F(i) * s
        k = int(np.round(v)) if align else int(np.floor(v))  # v >= 0: round = half up
        if align and v - np.floor(v) == 0.5:
            k = int(np.floor(v)) + 1
        return max(min(k, size - 1), 0)
    rows = [src(i, sh, h) for i in range(out_h)]
    cols = [src(j, sw, w) for j in range(out_w)]
    return img[:, rows][:, :, cols]


CASES = [  # (in h, in w, out h, out w, align_corners, half_pixel_centers)
    (3, 5, 7, 4, False, False), (4, 4, 8, 8, False, False), (5, 7, 3, 3, False, False),
    (3, 5, 7, 4, True, False), (5, 3, 1, 4, True, False), (3, 5, 7, 4, False, True),
    (6, 6, 4, 9, False, True), (3, 3, 3, 3, False, False)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_resize_matches_tf1_formulas(backend):
    images = {}
    fetches = []
    for h, w, oh, ow, align, half in CASES:
        if (h, w) not in images:
            images[h, w] = tf.placeholder(tf.float32, [None, h, w, 2])
        x = images[h, w]
        fetches.append(tf.image.resize_bilinear(x, [oh, ow], align_corners=align,
                                                half_pixel_centers=half))
        fetches.append(tf.image.resize_nearest_neighbor(x, tf.constant([oh, ow]),
                                                        align_corners=align,
                                                        half_pixel_centers=half))
    ints = tf.placeholder(tf.int32, [None, 3, 5, 2])
    extra = [tf.image.resize_bilinear(ints, (6, 2)), tf.image.resize_nearest_neighbor(ints, [6, 2]),
             tf.image.resize_images(images[3, 5], [6, 10]),
             tf.image.resize(images[3, 5], np.array([6, 10]),
                             tf.image.ResizeMethod.NEAREST_NEIGHBOR),
             tf.image.resize_images(tf.placeholder(tf.float32, [3, 5, 2], name="hwc"), [4, 4]),
             tf.image.resize_images(images[4, 4], [8, 2], preserve_aspect_ratio=True)]
    feeds = {p: RNG.uniform(-2, 2, (2,) + tuple(p.shape.as_list()[1:])).astype(np.float32)
             for p in images.values()}
    iv = RNG.integers(-50, 50, (2, 3, 5, 2)).astype(np.int32)
    hwc = feeds[images[3, 5]][0]
    with tf.Session(config=tf.ConfigProto(backend=backend)) as sess:
        got = sess.run(fetches + extra, {**feeds, ints: iv, "hwc:0": hwc})
    for k, (h, w, oh, ow, align, half) in enumerate(CASES):
        img = feeds[images[h, w]]
        np.testing.assert_allclose(got[2 * k], np_bilinear(img, oh, ow, align, half),
                                   rtol=1e-6, atol=1e-6, err_msg=str(CASES[k]))
        np.testing.assert_array_equal(got[2 * k + 1], np_nearest(img, oh, ow, align, half),
                                      err_msg=str(CASES[k]))
    bil_i, nn_i, r_bil, r_nn, r_hwc, r_aspect = got[len(fetches):]
    assert bil_i.dtype == np.float32 and nn_i.dtype == np.int32
    np.testing.assert_allclose(bil_i, np_bilinear(iv, 6, 2), rtol=1e-6)
    np.testing.assert_array_equal(nn_i, np_nearest(iv, 6, 2))
    np.testing.assert_allclose(r_bil, np_bilinear(feeds[images[3, 5]], 6, 10), rtol=1e-6)
    np.testing.assert_array_equal(r_nn, np_nearest(feeds[images[3, 5]], 6, 10))
    np.testing.assert_allclose(r_hwc, np_bilinear(hwc[None], 4, 4)[0], rtol=1e-6)
    # 4x4 into at most 8x2 keeping the aspect ratio: 2x2
    np.testing.assert_allclose(r_aspect, np_bilinear(feeds[images[4, 4]], 2, 2), rtol=1e-6)


def test_same_size_returns_the_images():
    x = tf.placeholder(tf.uint8, [None, 3, 5, 1])
    assert tf.image.resize_images(x, [3, 5]) is x  # TF1 skips the resize (and the cast)
    assert tf.image.resize_bilinear(x, [3, 5]).dtype == tf.float32


def _linear_map(fn, shape):
    """The matrix of a linear map on float64 arrays of `shape`, column per basis vector."""
    size = int(np.prod(shape))
    cols = [fn(np.eye(size)[i].reshape(shape)).reshape(-1) for i in range(size)]
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_are_the_transposed_map(backend):
    x = tf.placeholder(tf.float32, [None, 3, 4, 1])
    dy_b = tf.placeholder(tf.float32, [None, 5, 3, 1])
    dy_n = tf.placeholder(tf.float32, [None, 7, 6, 1])
    yb = tf.image.resize_bilinear(x, [5, 3], half_pixel_centers=True)
    yn = tf.image.resize_nearest_neighbor(x, [7, 6])
    ya = tf.image.resize_bilinear(x, [7, 6], align_corners=True)
    loss = tf.reduce_sum(yb * dy_b) + tf.reduce_sum(yn * dy_n) + tf.reduce_sum(ya * dy_n)
    (gx,) = tf.gradients(loss, [x])
    xv = RNG.standard_normal((1, 3, 4, 1)).astype(np.float32)
    bv = RNG.standard_normal((1, 5, 3, 1)).astype(np.float32)
    nv = RNG.standard_normal((1, 7, 6, 1)).astype(np.float32)
    with tf.Session(config=tf.ConfigProto(backend=backend)) as sess:
        got = sess.run(gx, {x: xv, dy_b: bv, dy_n: nv})
    mb = _linear_map(lambda a: np_bilinear(a, 5, 3, half=True).astype(np.float64), xv.shape)
    mn = _linear_map(lambda a: np_nearest(a, 7, 6).astype(np.float64), xv.shape)
    ma = _linear_map(lambda a: np_bilinear(a, 7, 6, align=True).astype(np.float64), xv.shape)
    want = mb.T @ bv.reshape(-1) + mn.T @ nv.reshape(-1) + ma.T @ nv.reshape(-1)
    np.testing.assert_allclose(got.reshape(-1), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_finite_differences(backend):
    def build(x):
        a = tf.image.resize_bilinear(x, [5, 2])
        return tf.image.resize_nearest_neighbor(a * a, [3, 3], align_corners=True)
    check_grads(build, [dict(shape=(None, 3, 4, 2), feed=(2, 3, 4, 2), dtype="float32")],
                backend)


def test_errors_name_the_culprit():
    x = tf.placeholder(tf.float32, [None, 4, 4, 3], name="img")
    with pytest.raises(ValueError, match="ResizeBilinear: images 'v:0' must be 4-D"):
        tf.image.resize_bilinear(tf.placeholder(tf.float32, [4, 4, 3], name="v"), [2, 2])
    with pytest.raises(ValueError, match="height and width of 'd:0' must be static"):
        tf.image.resize_bilinear(tf.placeholder(tf.float32, [1, None, 4, 3], name="d"), [2, 2])
    with pytest.raises(ValueError, match="ResizeNearestNeighbor: size must be 2 ints"):
        tf.image.resize_nearest_neighbor(x, [2, 2, 2])
    with pytest.raises(ValueError, match="size must be positive, got \\[0, 2\\]"):
        tf.image.resize_bilinear(x, [0, 2])
    with pytest.raises(ValueError, match="size must be known at build time"):
        tf.image.resize_bilinear(x, tf.placeholder(tf.int32, [2], name="hw"))
    # a size computed from static dims is known at build time (frontend/static.py)
    assert tf.image.resize_bilinear(x, tf.shape(x)[1:3] * 2).shape.as_list()[1:] == [8, 8, 3]
    with pytest.raises(ValueError, match="if half_pixel_centers is True, align_corners"):
        tf.image.resize_bilinear(x, [2, 2], align_corners=True, half_pixel_centers=True)
    with pytest.raises(NotImplementedError, match="method 'BICUBIC' is not supported"):
        tf.image.resize_images(x, [2, 2], method=tf.image.ResizeMethod.BICUBIC)
    with pytest.raises(ValueError, match="resize_images: images 'r:0' must have 3 or 4"):
        tf.image.resize_images(tf.placeholder(tf.float32, [4, 4], name="r"), [2, 2])


@pytest.mark.parametrize("backend", BACKENDS)
def test_half_pixel_upsampling_matches_jax_image_resize(backend):
    """jax.image.resize's "linear" (no antialiasing when upsampling) is half-pixel-centre
    bilinear: values and jax.grad against it, on a second implementation of the kernel."""
    import jax
    import jax.numpy as jnp

    x = tf.placeholder(tf.float32, [2, 3, 4, 2])
    w = tf.placeholder(tf.float32, [2, 7, 9, 2])
    y = tf.image.resize_bilinear(x, [7, 9], half_pixel_centers=True)
    (gx,) = tf.gradients(tf.reduce_sum(y * y * w), [x])
    xv = RNG.standard_normal((2, 3, 4, 2)).astype(np.float32)
    wv = RNG.standard_normal((2, 7, 9, 2)).astype(np.float32)
    with tf.Session(config=tf.ConfigProto(backend=backend)) as sess:
        yv, gv = sess.run([y, gx], {x: xv, w: wv})

    def jax_resize(a):
        return jax.image.resize(a, (2, 7, 9, 2), method="linear", antialias=False)
    np.testing.assert_allclose(yv, jax_resize(jnp.asarray(xv)), rtol=1e-5, atol=1e-6)
    want = jax.grad(lambda a: jnp.sum(jax_resize(a) ** 2 * wv))(jnp.asarray(xv))
    np.testing.assert_allclose(gv, np.asarray(want), rtol=1e-4, atol=1e-5)
