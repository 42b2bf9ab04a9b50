"""Per-op tests: bad shapes raise, float64 gradcheck on tiny inputs, identity settings change nothing."""

import pytest
import torch
from torch.autograd import gradcheck

from patchsim.errors import ShapeError
from patchsim.render import camera as cam
from patchsim.render.fragments import face_level, rasterize_sign, sample_face
from patchsim.printing.printer import PrinterModel, apply_printer
from patchsim.render.renderer import composite_sticker
from patchsim.render.shading import shade_background, shade_sign, white_balance

from identity import identity_conditions

D = torch.float64


def _uv(b, h, w, dtype=D):
    ys, xs = torch.meshgrid(torch.linspace(0.05, 0.95, h, dtype=dtype), torch.linspace(0.05, 0.95, w, dtype=dtype),
                            indexing="ij")
    return torch.stack([xs, ys], -1)[None].expand(b, h, w, 2).clone()


# ---- bad shapes -------------------------------------------------------------------------------------------

def test_bad_shapes_raise():
    c = identity_conditions(2)
    with pytest.raises(ShapeError, match="albedo"):
        shade_sign(torch.zeros(2, 4, 3, 3), _uv(2, 3, 3, torch.float32), c)
    with pytest.raises(ShapeError, match="uv"):
        shade_sign(torch.zeros(2, 3, 3, 3), _uv(2, 4, 3, torch.float32), c)
    with pytest.raises(ShapeError, match="background"):
        shade_background(torch.zeros(2, 3, 3), c)
    with pytest.raises(ShapeError, match="grid_from_face"):
        rasterize_sign(torch.eye(3), 4, 4)
    with pytest.raises(ShapeError, match="uv"):
        sample_face(torch.zeros(1, 4, 8, 8), torch.zeros(2, 4, 4))
    with pytest.raises(ShapeError, match="face"):
        sample_face(torch.zeros(3, 4, 8, 8), torch.zeros(2, 4, 4, 2))
    with pytest.raises(ShapeError, match="sigma_px"):
        cam.defocus_blur(torch.zeros(2, 3, 8, 8), torch.zeros(3))
    with pytest.raises(ShapeError, match="shift_px"):
        cam.motion_blur(torch.zeros(2, 3, 8, 8), torch.zeros(2, 3))
    with pytest.raises(ShapeError, match="image"):
        cam.jpeg(torch.zeros(2, 1, 16, 16), torch.full((2,), 50.0))
    with pytest.raises(ShapeError, match="colours"):
        apply_printer(torch.zeros(1, 4, 2, 2), torch.eye(3), torch.ones(3), torch.zeros(3), torch.ones(3))
    with pytest.raises(ShapeError, match="sticker"):
        composite_sticker(torch.zeros(1, 4, 8, 8), torch.zeros(1, 3, 4, 4), torch.zeros(1, 1, 8, 8))
    with pytest.raises(ShapeError, match="sticker mask"):
        composite_sticker(torch.zeros(1, 4, 8, 8), torch.zeros(1, 3, 8, 8), torch.zeros(1, 8, 8))


# ---- gradcheck --------------------------------------------------------------------------------------------

def test_gradcheck_shade_sign():
    c = identity_conditions(2, sun=0.5, shadow=0.4, glare=0.3, color_temp_k=5000.0, sun_azimuth_deg=20.0).to(dtype=D)
    uv = _uv(2, 4, 4)
    x = torch.rand(2, 3, 4, 4, dtype=D, requires_grad=True)
    assert gradcheck(lambda a: shade_sign(a, uv, c), (x,))


def test_gradcheck_sample_face_and_composite():
    face = torch.rand(1, 4, 6, 6, dtype=D)
    mask = torch.zeros(1, 1, 6, 6, dtype=D)
    mask[..., 1:4, 2:5] = 1
    st = torch.rand(1, 3, 6, 6, dtype=D, requires_grad=True)
    uv = _uv(2, 5, 5)
    assert gradcheck(lambda s: sample_face(composite_sticker(face, s, mask), uv), (st,))
    f = torch.rand(1, 4, 8, 8, dtype=D, requires_grad=True)
    assert gradcheck(lambda a: face_level(a, 3.0), (f,))


def test_gradcheck_camera_ops():
    x = torch.rand(2, 3, 8, 8, dtype=D, requires_grad=True)
    assert gradcheck(lambda a: cam.defocus_blur(a, torch.tensor([0.7, 1.2], dtype=D)), (x,))
    assert gradcheck(lambda a: cam.motion_blur(a, torch.tensor([[1.5, 0.3], [0.0, -2.0]], dtype=D), taps=3), (x,))
    y = (torch.rand(2, 3, 8, 8, dtype=D) * 0.8 + 0.05).requires_grad_()
    assert gradcheck(lambda a: cam.tone(a, torch.tensor([0.2, -0.3], dtype=D), torch.tensor([1.1, 0.9], dtype=D)), (y,))
    assert gradcheck(lambda a: cam.sensor_noise(a, torch.tensor([0.02, 0.01], dtype=D), torch.tensor([3, 4])), (y,))


def test_jpeg_gradient_finite_nonzero():
    x = torch.rand(2, 3, 16, 16, requires_grad=True)
    y = cam.jpeg(x, torch.tensor([50.0, 80.0]))
    (y * torch.randn_like(y)).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert (y - x).abs().mean() > 1e-3  # lossy


def test_gradcheck_printer():
    x = (torch.rand(1, 3, 3, 3, dtype=D) * 0.8 + 0.1).requires_grad_()
    m = torch.tensor([[0.9, 0.05, 0.0], [0.05, 0.85, 0.05], [0.0, 0.1, 0.8]], dtype=D)
    assert gradcheck(lambda a: apply_printer(a, m, torch.full((3,), 0.9, dtype=D), torch.full((3,), 0.03, dtype=D),
                                             torch.full((3,), 1.1, dtype=D)), (x,))


# ---- identity settings ------------------------------------------------------------------------------------

def test_identity_settings_leave_image_unchanged():
    c = identity_conditions(2)
    x = torch.rand(2, 3, 16, 16)
    uv = _uv(2, 16, 16, torch.float32)
    assert torch.allclose(shade_sign(x, uv, c), x, atol=1e-6)
    assert torch.allclose(white_balance(torch.tensor([6500.0])), torch.ones(1, 3))
    assert torch.equal(cam.defocus_blur(x, torch.zeros(2)), x)
    assert torch.equal(cam.motion_blur(x, torch.zeros(2, 2)), x)
    assert torch.equal(cam.sensor_noise(x, torch.zeros(2), torch.tensor([1, 2])), x)
    assert torch.equal(cam.jpeg(x, torch.full((2,), 100.0)), x)
    from kornia.color import rgb_to_linear_rgb

    assert torch.allclose(cam.tone(rgb_to_linear_rgb(x), torch.zeros(2), torch.ones(2)), x, atol=1e-5)
    assert torch.equal(PrinterModel()(x), x)


def test_effects_do_change_images():
    x = torch.zeros(1, 3, 16, 16)
    x[..., 8:, :] = 1
    assert (cam.defocus_blur(x, torch.tensor([1.0])) - x).abs().max() > 0.1
    assert (cam.motion_blur(x, torch.tensor([[0.0, 4.0]])) - x).abs().max() > 0.1
    n1 = cam.sensor_noise(x, torch.tensor([0.05]), torch.tensor([7]))
    n2 = cam.sensor_noise(x, torch.tensor([0.05]), torch.tensor([7]))
    assert torch.equal(n1, n2) and (n1 - x).std() > 0.02


def test_warm_light_is_red():
    wb = white_balance(torch.tensor([3000.0, 10000.0]))
    assert wb[0, 0] > 1 > wb[0, 2] and wb[1, 2] > 1 > wb[1, 0]


def test_printer_profile_load(tmp_path):
    import json

    p = tmp_path / "profile.json"
    p.write_text(json.dumps({"matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]], "gain": [0.9, 0.9, 0.9],
                             "offset": [0.05, 0.05, 0.05], "gamma": [1, 1, 1]}))
    pm = PrinterModel.load(p)
    x = torch.ones(1, 3, 2, 2)
    assert torch.allclose(pm(x), torch.full_like(x, 0.95))
    p.write_text(json.dumps({"matrix": [[1, 0], [0, 1]]}))
    from patchsim.errors import PatchsimError

    with pytest.raises(PatchsimError, match="'matrix' must be finite with shape"):
        PrinterModel.load(p)


def test_short_motion_blur_kernel_equals_the_translated_copies():
    """The per-image kernel used for short streaks gives the mean of the bilinear translations (the
    long-streak path), and gradients reach the image and the streak (float64 gradcheck)."""
    from kornia.geometry.transform import translate

    from patchsim.render import camera

    g = torch.Generator().manual_seed(5)
    img = torch.rand(4, 3, 12, 14, generator=g, dtype=torch.float64)
    shift = torch.randn(4, 2, generator=g, dtype=torch.float64) * 2.0
    assert float(shift.abs().max()) / 2 <= camera.MOTION_CONV_MAX_PX
    ref = sum(translate(img, shift * t, padding_mode="border", align_corners=True)
              for t in torch.linspace(-0.5, 0.5, camera.MOTION_TAPS).tolist()) / camera.MOTION_TAPS
    assert torch.allclose(camera.motion_blur(img, shift), ref, atol=1e-6)
    x = img[:1, :1, :6, :6].clone().requires_grad_()
    s = shift[:1].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: camera._motion_blur_conv(a, b, 5), (x, s))


def test_fast_jpeg_is_kornias_codec():
    """The codec with its chroma subsampling by shifts equals kornia's jpeg_codec_differentiable (float64,
    to rounding), gradients included."""
    from kornia.enhance import jpeg_codec_differentiable

    from patchsim.render.jpeg_fast import jpeg_codec

    g = torch.Generator().manual_seed(3)
    x = torch.rand(3, 3, 32, 48, generator=g, dtype=torch.float64, requires_grad=True)
    q = torch.tensor([40.0, 75.0, 95.0], dtype=torch.float64)
    a, b = jpeg_codec_differentiable(x, q), jpeg_codec(x, q)
    assert torch.allclose(a, b, atol=1e-12)
    ga, = torch.autograd.grad(a.square().sum(), x)
    gb, = torch.autograd.grad(b.square().sum(), x)
    assert torch.allclose(ga, gb, atol=1e-10)
