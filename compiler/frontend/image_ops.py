"""`fc.image`: TF1's image resizing, as gathers along H and W plus an elementwise blend.

`resize_bilinear`, `resize_nearest_neighbor`, `resize_images` (= `resize`) take NHWC
images whose height and width are static and a static output size (a list, tuple,
numpy array or constant tensor of two ints); the batch may be symbolic. The source
coordinates are TF1's, computed at build time in float32 exactly as TF1's kernels
compute them, and baked in as constant index and weight tables:

- scale = in / out, or (in - 1) / (out - 1) with `align_corners` (and out > 1);
- legacy mapping (TF1's default, `half_pixel_centers=False`): src = dst * scale;
  half-pixel centers: src = (dst + 0.5) * scale - 0.5 (bilinear),
  (dst + 0.5) * scale (nearest);
- bilinear: lower = max(floor(src), 0), upper = min(ceil(src), in - 1),
  lerp = src - floor(src); rows are blended as TF does,
  `top + (bottom - top) * y_lerp` after `left + (right - left) * x_lerp`; float32 out;
- nearest: floor(src) (round half away from zero with `align_corners`), clamped to
  [0, in - 1]; the input's dtype out.

Gradients come from autodiff of the gathers (scatter_add into the input). Nothing here
runs a graph.
"""

from __future__ import annotations

import numpy as np

from ..ir import dtypes as T
from .core import constant, convert_to_tensor, identity, known_shape, make, op_scope
from .manip_ops import squeeze
from .math_ops import cast
from .static import static_dims


class ResizeMethod:
    """TF1's `tf.image.ResizeMethod` (only BILINEAR and NEAREST_NEIGHBOR are built)."""

    BILINEAR = 0
    NEAREST_NEIGHBOR = 1
    BICUBIC = 2
    AREA = 3


_METHOD_NAMES = {0: "BILINEAR", 1: "NEAREST_NEIGHBOR", 2: "BICUBIC", 3: "AREA",
                 "bilinear": 0, "nearest": 1, "bicubic": 2, "area": 3}


def _scale(in_size, out_size, align_corners):
    """TF's CalculateResizeScale, in float32."""
    if align_corners and out_size > 1:
        return np.float32(in_size - 1) / np.float32(out_size - 1)
    return np.float32(in_size) / np.float32(out_size)


def bilinear_table(in_size, out_size, align_corners, half_pixel_centers):
    """(lower, upper, lerp) per output index, as TF1's compute_interpolation_weights."""
    scale = _scale(in_size, out_size, align_corners)
    i = np.arange(out_size, dtype=np.float32)
    if half_pixel_centers:
        src = (i + np.float32(0.5)) * scale - np.float32(0.5)
    else:
        src = i * scale
    floor = np.floor(src)
    lower = np.maximum(floor, 0).astype(np.int64)
    upper = np.minimum(np.ceil(src).astype(np.int64), in_size - 1)
    return lower, upper, (src - floor).astype(np.float32)


def nearest_table(in_size, out_size, align_corners, half_pixel_centers):
    """The source index per output index, as TF1's ResizeNearestNeighbor."""
    scale = _scale(in_size, out_size, align_corners)
    i = np.arange(out_size, dtype=np.float32)
    src = (i + np.float32(0.5)) * scale if half_pixel_centers else i * scale
    idx = np.floor(src + np.float32(0.5)) if align_corners else np.floor(src)
    idx = np.minimum(idx.astype(np.int64), in_size - 1)
    return np.maximum(idx, 0) if half_pixel_centers else idx


def _static_size(size, opname):
    """The output (height, width) as two positive Python ints."""
    if hasattr(size, "_as_graph_element") or hasattr(size, "op"):
        values = static_dims(convert_to_tensor(size))
        if values is None:
            raise ValueError(f"{opname}: size must be known at build time (a list or a "
                             f"constant tensor), got the computed tensor {size.name!r}")
    else:
        values = np.asarray(size).reshape(-1).tolist() if not isinstance(size, (list, tuple)) \
            else list(size)
    if len(values) != 2 or not all(isinstance(v, (int, np.integer)) for v in values):
        raise ValueError(f"{opname}: size must be 2 ints [new_height, new_width], got {size!r}")
    h, w = int(values[0]), int(values[1])
    if h <= 0 or w <= 0:
        raise ValueError(f"{opname}: size must be positive, got [{h}, {w}]")
    return h, w


def _image_dims(x, opname):
    """(height, width) of a 4-D NHWC `x`; both must be static."""
    dims = known_shape(x, opname)
    if len(dims) != 4:
        raise ValueError(f"{opname}: images {x.name!r} must be 4-D [batch, height, width, "
                         f"channels], got shape {list(dims)}")
    h, w = dims[1], dims[2]
    if not (isinstance(h, int) and isinstance(w, int)):
        raise ValueError(f"{opname}: the height and width of {x.name!r} must be static, got "
                         f"shape {list(dims)}")
    if h == 0 or w == 0:
        raise ValueError(f"{opname}: images {x.name!r} are empty (shape {list(dims)})")
    return h, w


def _check_flags(align_corners, half_pixel_centers, opname):
    if align_corners and half_pixel_centers:
        raise ValueError(f"{opname}: if half_pixel_centers is True, align_corners must be "
                         "False")


def _take(x, idx, axis):
    """`x` gathered along `axis` at the constant indices `idx` (skipped when identity)."""
    if idx.size == x.shape[axis] and np.array_equal(idx, np.arange(idx.size)):
        return x
    return make("gather", [x, constant(idx.astype(np.int32))], axis=axis)


def _blend(x, lower, upper, lerp, axis):
    """`a + (b - a) * lerp` of the gathers at lower and upper along `axis`."""
    a = _take(x, lower, axis)
    if np.array_equal(lower, upper):
        return a
    b = _take(x, upper, axis)
    shape = (lerp.size,) + (1,) * (3 - axis)
    weight = constant(lerp.reshape(shape), T.float32)
    return make("add", [a, make("mul", [make("sub", [b, a]), weight])])


def resize_bilinear(images, size, align_corners=False, name=None, half_pixel_centers=False):
    """Bilinear resize of 4-D NHWC `images` to `size` = [new_height, new_width]; returns
    float32 (see the module docstring for TF1's coordinate mapping)."""
    x = convert_to_tensor(images)
    _check_flags(align_corners, half_pixel_centers, "ResizeBilinear")
    in_h, in_w = _image_dims(x, "ResizeBilinear")
    out_h, out_w = _static_size(size, "ResizeBilinear")
    if not (x.dtype.is_float or x.dtype.is_int):
        raise TypeError(f"ResizeBilinear: images must be numeric, got {x.dtype.name}")
    with op_scope(name, "ResizeBilinear", [x]) as scope:
        xf = x if x.dtype is T.float32 else cast(x, T.float32)
        cols = _blend(xf, *bilinear_table(in_w, out_w, align_corners, half_pixel_centers), 2)
        out = _blend(cols, *bilinear_table(in_h, out_h, align_corners, half_pixel_centers), 1)
        return _named(out, scope)


def resize_nearest_neighbor(images, size, align_corners=False, name=None,
                            half_pixel_centers=False):
    """Nearest-neighbour resize of 4-D NHWC `images` to `size`; keeps the dtype."""
    x = convert_to_tensor(images)
    _check_flags(align_corners, half_pixel_centers, "ResizeNearestNeighbor")
    in_h, in_w = _image_dims(x, "ResizeNearestNeighbor")
    out_h, out_w = _static_size(size, "ResizeNearestNeighbor")
    with op_scope(name, "ResizeNearestNeighbor", [x]) as scope:
        rows = _take(x, nearest_table(in_h, out_h, align_corners, half_pixel_centers), 1)
        out = _take(rows, nearest_table(in_w, out_w, align_corners, half_pixel_centers), 2)
        return _named(out, scope)


def _named(t, scope):
    return identity(t, name=scope)


def resize_images(images, size, method=ResizeMethod.BILINEAR, align_corners=False,
                  preserve_aspect_ratio=False, name=None):
    """TF1's `tf.image.resize_images` / `tf.image.resize`: 3-D [h, w, c] or 4-D images;
    BILINEAR (float32 out) or NEAREST_NEIGHBOR; returns `images` unchanged when the size
    is already the target size (as TF1 does). With `preserve_aspect_ratio` the image is
    scaled by the smaller ratio to fit inside `size`."""
    x = convert_to_tensor(images)
    dims = known_shape(x, "resize_images")
    if len(dims) not in (3, 4):
        raise ValueError(f"resize_images: images {x.name!r} must have 3 or 4 dims, got "
                         f"shape {list(dims)}")
    key = _METHOD_NAMES.get(method, method) if isinstance(method, str) else method
    if key not in (ResizeMethod.BILINEAR, ResizeMethod.NEAREST_NEIGHBOR):
        raise NotImplementedError(f"resize_images: method {_METHOD_NAMES.get(key, method)!r} "
                                  "is not supported (BILINEAR and NEAREST_NEIGHBOR are)")
    with op_scope(name, "resize_images", [x]):
        batch = x if len(dims) == 4 else make("reshape", [x], shape=(1,) + dims)
        in_h, in_w = _image_dims(batch, "resize_images")
        out_h, out_w = _static_size(size, "resize_images")
        if preserve_aspect_ratio:
            out_h, out_w = _fit(in_h, in_w, out_h, out_w)
        if (out_h, out_w) == (in_h, in_w):
            return x
        if key == ResizeMethod.BILINEAR:
            out = resize_bilinear(batch, [out_h, out_w], align_corners)
        else:
            out = resize_nearest_neighbor(batch, [out_h, out_w], align_corners)
        return out if len(dims) == 4 else squeeze(out, [0])


def _fit(in_h, in_w, out_h, out_w):
    """TF1's preserve_aspect_ratio size (float32 ratios, round half to even)."""
    factor = min(np.float32(out_h) / np.float32(in_h), np.float32(out_w) / np.float32(in_w))
    factor = np.float32(factor)
    return (int(np.round(factor * np.float32(in_h))), int(np.round(factor * np.float32(in_w))))


resize = resize_images

__all__ = ["ResizeMethod", "resize_bilinear", "resize_nearest_neighbor", "resize_images",
           "resize"]
