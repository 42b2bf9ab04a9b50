"""Camera effects on linear radiance: defocus and motion blur, exposure, sensor noise, tone curve
(sRGB encoding and extra gamma), clipping and differentiable JPEG.

Images are ``(B, 3, H, W)`` float32; blur and noise act on linear radiance, JPEG on the sRGB result.
Identity settings (sigma 0, no motion, 0 EV, no noise, gamma 1, JPEG quality 100) leave an image
unchanged apart from clipping to [0, 1]."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import math

import torch
import torch.nn.functional as F
from kornia.color import linear_rgb_to_rgb
from kornia.filters import gaussian_blur2d
from kornia.geometry.transform import translate

from patchsim.checks import check_shape
from patchsim.render.jpeg_fast import jpeg_codec

JPEG_LOSSLESS = 99.5  # quality at or above this skips JPEG
MOTION_TAPS = 7


def _col(x: torch.Tensor) -> torch.Tensor:
    return x.view(-1, 1, 1, 1)


def defocus_blur(img: torch.Tensor, sigma_px: torch.Tensor) -> torch.Tensor:
    """Gaussian blur with a per-image sigma ``(B,)`` in pixels (0 = no blur)."""
    check_shape(img, ["B", "C", "H", "W"], "image")
    check_shape(sigma_px, [img.shape[0]], "sigma_px")
    smax = float(sigma_px.max())
    if smax < 1e-3:
        return img
    k = min(2 * math.ceil(3 * smax) + 1, 2 * (min(img.shape[-2:]) // 2) - 1)
    sigma = sigma_px.clamp(min=1e-3).to(img)[:, None].expand(-1, 2)
    return gaussian_blur2d(img, (k, k), sigma, border_type="replicate")


def motion_blur(img: torch.Tensor, shift_px: torch.Tensor, taps: int = MOTION_TAPS) -> torch.Tensor:
    """Box motion blur: the mean of ``taps`` copies translated evenly along ``shift_px`` ``(B, 2)`` pixels
    (centred on the original position)."""
    check_shape(img, ["B", "C", "H", "W"], "image")
    check_shape(shift_px, [img.shape[0], 2], "shift_px")
    longest = float(shift_px.detach().abs().max())
    if longest < 1e-3:
        return img
    if longest / 2 <= MOTION_CONV_MAX_PX:  # short streaks (classifier crops): one small kernel per image
        return _motion_blur_conv(img, shift_px, taps)
    out = torch.zeros_like(img)
    for t in torch.linspace(-0.5, 0.5, taps).tolist():
        out = out + translate(img, (shift_px * t).to(img), padding_mode="border", align_corners=True)
    return out / taps


MOTION_CONV_MAX_PX = 3.0  # streak half-lengths up to this are blurred by a per-image kernel (at most 9 x 9)


def _motion_blur_conv(img: torch.Tensor, shift_px: torch.Tensor, taps: int) -> torch.Tensor:
    """:func:`motion_blur` as one grouped convolution: each translated copy ``out(x) = in(x - d)`` is a
    2 x 2 bilinear stencil at offset ``-d``; their mean is one ``(2r + 1)^2`` kernel per image, applied to
    the border-replicated image (the same values as the translations, to float rounding; 8x faster
    forward and backward on 32 px crops)."""
    b, c, h, w = img.shape
    t = torch.linspace(-0.5, 0.5, taps, dtype=img.dtype, device=img.device)
    src = -(shift_px.to(img)[:, None, :] * t[None, :, None])  # (B, taps, 2) stencil offsets (x, y)
    r = int(math.ceil(float(src.detach().abs().max()))) + 1
    k = 2 * r + 1
    whole = torch.floor(src)
    frac = src - whole
    kernel = img.new_zeros(b, k, k)
    rows = torch.arange(b, device=img.device)[:, None].expand(b, taps)
    for oy in (0, 1):
        for ox in (0, 1):
            weight = (frac[..., 0] if ox else 1 - frac[..., 0]) * (frac[..., 1] if oy else 1 - frac[..., 1])
            kernel = kernel.index_put((rows, whole[..., 1].long() + oy + r, whole[..., 0].long() + ox + r),
                                      weight / taps, accumulate=True)
    padded = F.pad(img.reshape(1, b * c, h, w), (r, r, r, r), mode="replicate")
    weights = kernel[:, None].expand(b, c, k, k).reshape(b * c, 1, k, k)
    return F.conv2d(padded, weights, groups=b * c).reshape(b, c, h, w)


def sensor_noise(img: torch.Tensor, noise_std: torch.Tensor, seeds: torch.Tensor) -> torch.Tensor:
    """Add signal-dependent sensor noise to linear ``img``: std ``noise_std * sqrt(0.3 + 0.7 x)``.
    Each image's noise field comes from its own int64 seed, so it replays exactly."""
    check_shape(img, ["B", "C", "H", "W"], "image")
    if float(noise_std.max()) <= 0:
        return img
    fields = []
    for s in seeds.tolist():
        g = torch.Generator().manual_seed(int(s))
        fields.append(torch.randn(img.shape[1:], generator=g))
    n = torch.stack(fields).to(img)
    return img + _col(noise_std.to(img)) * torch.sqrt(0.3 + 0.7 * img.clamp(min=0)) * n


def tone(img: torch.Tensor, exposure_ev: torch.Tensor, gamma: torch.Tensor,
         linear_effects: Sequence[Callable[[torch.Tensor], torch.Tensor]] = (),
         srgb_effects: Sequence[Callable[[torch.Tensor], torch.Tensor]] = ()) -> torch.Tensor:
    """Linear ``(B, 3, H, W)`` -> sRGB: exposure (x 2^EV, ``(B,)``), the ``linear_effects`` in order (each
    linear RGB -> linear RGB, e.g. white balance, :mod:`patchsim.effects`), clip to [0, 1], sRGB encoding,
    ``** gamma``, then the ``srgb_effects`` in order (each sRGB -> sRGB in [0, 1], e.g. the black level)."""
    x = img * _col(torch.exp2(exposure_ev).to(img))
    for effect in linear_effects:
        x = effect(x)
    y = linear_rgb_to_rgb(x.clamp(0.0, 1.0))
    if not bool((gamma == 1).all()):
        y = y.clamp(min=1e-6) ** _col(gamma.to(img))
    for effect in srgb_effects:
        y = effect(y)
    return y


def jpeg(img: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """Differentiable JPEG (kornia) at per-image ``quality`` ``(B,)`` in [1, 100]; quality >= 99.5 is
    passed through unchanged. Images whose sides are not multiples of 16 are edge-padded for coding."""
    check_shape(img, ["B", 3, "H", "W"], "image")
    if bool((quality >= JPEG_LOSSLESS).all()):
        return img
    h, w = img.shape[-2:]
    ph, pw = (-h) % 16, (-w) % 16
    x = torch.nn.functional.pad(img, (0, pw, 0, ph), mode="replicate") if ph or pw else img
    y = jpeg_codec(x, quality.to(img).clamp(1, 100))[..., :h, :w]  # kornia's codec, its subsampling by shifts
    keep = _col((quality >= JPEG_LOSSLESS).to(img))
    return (keep * img + (1 - keep) * y).clamp(0, 1)
