"""The batched building blocks against SciPy/PIL references of the reference implementation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from moo_compress.corruptions import _filters as flt
from moo_compress.corruptions.blur import zoom_blur, zoom_factors
from moo_compress.corruptions.weather import _dilate3, _distance_to, _equalize_hist


@pytest.mark.parametrize("size", [30, 28, 27, 24, 20])
def test_box_resampling_matches_pil(size):
    from PIL import Image

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (32, 32), dtype=np.uint8)
    m = flt.pil_box_matrix(32, size).astype(np.float64)
    # One pass (resize along one axis only) equals PIL's up to its final rounding to uint8.
    one_pass = np.asarray(Image.fromarray(img).resize((size, 32), Image.BOX), dtype=float)
    assert np.abs(img.astype(float) @ m.T - one_pass).max() <= 0.5 + 1e-3
    # Both passes: PIL also rounds between them, we stay in float (documented deviation).
    ref = np.asarray(Image.fromarray(img).resize((size, size), Image.BOX), dtype=float)
    assert np.abs(m @ img.astype(float) @ m.T - ref).max() <= 1.0 + 1e-3


@pytest.mark.parametrize(
    ("sigma", "mode", "truncate"),
    [(0.4, "nearest", 4.0), (1.0, "nearest", 4.0), (6.4, "reflect", 3.0), (2.0, "mirror", 4.0)],
)
def test_gaussian_filter_matches_scipy(sigma, mode, truncate):
    rng = np.random.default_rng(1)
    img = rng.random((2, 3, 32, 32)).astype(np.float32)
    ours = flt.gaussian_filter(torch.from_numpy(img), sigma, mode=mode, truncate=truncate)
    ref = ndimage.gaussian_filter(img, sigma=(0, 0, sigma, sigma), mode=mode, truncate=truncate)
    assert np.abs(ours.numpy() - ref).max() < 1e-5


def _clipped_zoom_reference(img: np.ndarray, zoom: float) -> np.ndarray:
    h = img.shape[0]
    ch = int(np.ceil(h / zoom))
    top = (h - ch) // 2
    out = ndimage.zoom(img[top : top + ch, top : top + ch], (zoom, zoom, 1), order=1)
    trim = (out.shape[0] - h) // 2
    return out[trim : trim + h, trim : trim + h]


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_zoom_blur_matches_scipy_zoom(severity):
    rng = np.random.default_rng(2)
    img = rng.random((32, 32, 3)).astype(np.float32)
    zooms = zoom_factors(severity)
    ref = (img + sum(_clipped_zoom_reference(img, z) for z in zooms)) / (len(zooms) + 1)
    x = torch.from_numpy(img).permute(2, 0, 1)[None]
    ours = zoom_blur(x, severity, torch.Generator())[0].permute(1, 2, 0).numpy()
    assert np.abs(ours - np.clip(ref, 0, 1)).max() < 1e-5


def test_distance_transform_is_exact_euclidean():
    rng = np.random.default_rng(3)
    edges = rng.random((3, 1, 20, 24)) < 0.03
    ours = _distance_to(torch.from_numpy(edges), 20.0).numpy()[:, 0]
    for i in range(3):
        ref = np.minimum(ndimage.distance_transform_edt(~edges[i, 0]), 20.0)
        assert np.abs(ours[i] - ref).max() < 1e-4


def test_histogram_equalisation_matches_opencv_formula():
    rng = np.random.default_rng(4)
    img = rng.integers(10, 60, (1, 1, 16, 16)).astype(np.float32)
    ours = _equalize_hist(torch.from_numpy(img)).numpy().ravel()
    flat = img.ravel().astype(int)
    hist = np.bincount(flat, minlength=256)
    cdf = hist.cumsum()
    first = hist[np.nonzero(hist)[0][0]]
    lut = np.clip(np.round((cdf - first) * 255.0 / (flat.size - first)), 0, 255)
    assert np.array_equal(ours, lut[flat])


def test_pad_index_modes():
    assert list(flt._pad_index(4, 2, 2, "reflect")) == [1, 0, 0, 1, 2, 3, 3, 2]
    assert list(flt._pad_index(4, 2, 2, "mirror")) == [2, 1, 0, 1, 2, 3, 2, 1]
    assert list(flt._pad_index(4, 2, 2, "nearest")) == [0, 0, 0, 1, 2, 3, 3, 3]
    assert len(flt._pad_index(3, 7, 7, "reflect")) == 17  # pads larger than the axis


@pytest.mark.parametrize("mode", ["nearest", "reflect", "mirror"])
def test_pad2d_equals_gathering_the_pad_index(mode):
    """pad2d assembles slices; it must equal indexing both axes with _pad_index."""
    x = torch.rand(2, 3, 5, 7, generator=torch.Generator().manual_seed(0))
    for h, w in [(5, 7), (1, 7), (5, 1), (2, 3)]:
        part = x[:, :, :h, :w].contiguous()
        for ph, pw in [(0, 0), (1, 2), (2, 0), (4, 6), (11, 9)]:
            rows = torch.from_numpy(flt._pad_index(h, ph, ph, mode))
            cols = torch.from_numpy(flt._pad_index(w, pw, pw, mode))
            expected = part[:, :, rows][:, :, :, cols]
            padded = flt.pad2d(part, ph, pw, mode)
            assert padded.is_contiguous() and torch.equal(padded, expected), (h, w, ph, pw)


def test_plasma_fractal_is_normalised_and_seeded():
    a = flt.plasma_fractal(4, 32, 2.0, torch.Generator().manual_seed(0), "cpu")
    b = flt.plasma_fractal(4, 32, 2.0, torch.Generator().manual_seed(0), "cpu")
    assert a.shape == (4, 32, 32) and torch.equal(a, b)
    assert torch.allclose(a.amin(dim=(1, 2)), torch.zeros(4))
    assert torch.allclose(a.amax(dim=(1, 2)), torch.ones(4))


def test_motion_blur_kernel_conserves_mass_and_points_along_angle():
    x = torch.zeros(1, 1, 21, 21)
    x[0, 0, 10, 10] = 1.0
    out = flt.motion_blur_layer(x, 6, 2.0, torch.tensor([0.0]))
    assert abs(float(out.sum()) - 1.0) < 1e-5
    # angle 0: taps sample to the right, so the point spreads to the left of itself
    assert float(out[0, 0, 10, :10].sum()) > 0.5 and float(out[0, 0, 10, 11:].sum()) == 0.0


@pytest.mark.parametrize("kernel_shape", [(1, 5), (5, 1), (3, 3), (5, 5), (1, 39), (39, 1)])
def test_conv_planes_equals_a_plain_convolution(kernel_shape):
    """The depthwise form of conv_planes must compute exactly what F.conv2d does per plane."""
    gen = torch.Generator().manual_seed(1)
    planes = torch.rand(300, 1, 45, 41, generator=gen)
    kernel = torch.rand(kernel_shape, generator=gen)
    expected = torch.nn.functional.conv2d(planes, kernel[None, None])
    assert torch.equal(flt.conv_planes(planes, kernel), expected)


def test_shift_gather_equals_indexing_with_clamped_coordinates():
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(7, 3, 9, 11, generator=gen).permute(0, 2, 3, 1).contiguous()
    x = x.permute(0, 3, 1, 2)  # channels-last memory, as corruptions receive images
    dy = torch.randint(-12, 12, (7,), generator=gen)
    dx = torch.randint(-12, 12, (7,), generator=gen)
    rows = (torch.arange(9)[None, :] + dy[:, None]).clamp(0, 8)
    cols = (torch.arange(11)[None, :] + dx[:, None]).clamp(0, 10)
    batch = torch.arange(7)[:, None, None]
    expected = x[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    assert torch.equal(flt.shift_gather(x, dy, dx), expected)


@pytest.mark.parametrize("cap", [20.0, 3.5, 200.0])
def test_distance_to_edges_is_exact(cap):
    """Every value equals the brute-force minimum over all edge pixels, bit for bit."""
    gen = torch.Generator().manual_seed(3)
    for density, shape in [(0.0, (2, 1, 6, 9)), (0.01, (3, 1, 40, 33)), (0.3, (2, 1, 17, 5))]:
        edges = torch.rand(shape, generator=gen) < density
        edges[0] = False  # an image without edges: every distance is the cap
        ii, jj = torch.meshgrid(torch.arange(shape[2]), torch.arange(shape[3]), indexing="ij")
        expected = torch.full(shape, cap)
        for k in range(shape[0]):
            er, ec = torch.nonzero(edges[k, 0], as_tuple=True)
            if len(er):
                d2 = (ii[..., None] - er) ** 2 + (jj[..., None] - ec) ** 2
                expected[k, 0] = d2.amin(-1).float().sqrt().clamp(max=cap)
        assert torch.equal(_distance_to(edges, cap), expected), (density, shape)


def test_dilation_equals_max_pooling():
    gen = torch.Generator().manual_seed(5)
    for shape in [(4, 1, 7, 9), (2, 1, 1, 1), (3, 1, 1, 6), (2, 1, 6, 1)]:
        for density in (0.05, 0.3, 0.8):
            mask = torch.rand(shape, generator=gen) < density
            pooled = torch.nn.functional.max_pool2d(mask.float(), 3, stride=1, padding=1) > 0
            assert torch.equal(_dilate3(mask), pooled)


@pytest.mark.parametrize(("size", "back"), [(30, 32), (27, 32), (20, 32), (13, 40)])
def test_pil_box_resize_equals_the_dense_fixed_point_product(size, back):
    """The sparse BOX passes give exactly the dense fixed-point products' results."""
    half, scale = float(1 << 21), 1.0 / float(1 << 22)
    x = torch.randint(0, 256, (3, 2, 32, 32), generator=torch.Generator().manual_seed(6))
    x = x.double()

    def dense(img: torch.Tensor, h: int, w: int) -> torch.Tensor:
        mw = torch.from_numpy(flt._pil_box_fixed(img.shape[3], w).copy())
        img = torch.matmul(img, mw.t()).add_(half).mul_(scale).floor_().clamp_(0, 255)
        mh = torch.from_numpy(flt._pil_box_fixed(img.shape[2], h).copy())
        return torch.matmul(mh, img).add_(half).mul_(scale).floor_().clamp_(0, 255)

    small = flt.pil_box_resize_uint8(x, size, size)
    assert torch.equal(small, dense(x, size, size))
    assert torch.equal(flt.pil_box_resize_uint8(small, back, back), dense(small, back, back))
