"""A differentiable JPEG codec: kornia's ``jpeg_codec_differentiable`` computed here in full, faster.

The function is the one kornia's codec computes (Reich et al., "Differentiable JPEG: the devil is in the
details", WACV 2024, as kornia implements it; Apache-2.0): RGB -> YCbCr in [0, 255], Cb and Cr halved
(a 3-tap Gaussian of sigma 0.5 with reflected borders along each axis, then a bilinear halving, which
at a factor of exactly 2 is the mean of each 2 x 2 block), 8 x 8 DCT, quantization by the default
tables scaled for the quality with kornia's polynomial floor and rounding, dequantization, inverse DCT,
bilinear chroma upsampling, back to RGB, a soft clip to [0, 255]. Two differences, both in speed: the
chroma blur is three shifted adds per axis instead of a ``conv2d`` (whose backward was a third of the
codec on batches of small crops) and everything runs on tensors built once per dtype and device.

It uses only kornia's public colour conversions: kornia's private helpers changed their signatures
between 0.9.0 and 0.9.2, and a renderer must not break on a patch release. ``tests/test_render_ops``
checks it equals kornia's public codec to float rounding, gradients included.

Tensors: images ``(B, 3, H, W)`` float in [0, 1], H and W multiples of 16; ``quality`` ``(B,)`` in [1, 100]."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from kornia.color import rgb_to_ycbcr, ycbcr_to_rgb

_QT_Y = ((16, 11, 10, 16, 24, 40, 51, 61), (12, 12, 14, 19, 26, 58, 60, 55),
         (14, 13, 16, 24, 40, 57, 69, 56), (14, 17, 22, 29, 51, 87, 80, 62),
         (18, 22, 37, 56, 68, 109, 103, 77), (24, 35, 55, 64, 81, 104, 113, 92),
         (49, 64, 78, 87, 103, 121, 120, 101), (72, 92, 95, 98, 112, 100, 103, 99))
_QT_C = ((17, 18, 24, 47, 99, 99, 99, 99), (18, 21, 26, 66, 99, 99, 99, 99),
         (24, 26, 56, 99, 99, 99, 99, 99), (47, 66, 99, 99, 99, 99, 99, 99)) + ((99,) * 8,) * 4
_CONSTANTS: dict[tuple[torch.dtype, torch.device], dict[str, torch.Tensor]] = {}


def _constants(dtype: torch.dtype, device: torch.device) -> dict[str, torch.Tensor]:
    """The quantization tables ``(8, 8)``, the 1-D DCT basis ``basis[x, u] = cos((2x + 1) u pi / 16)``,
    the DCT scale ``alpha_u alpha_v / 4`` and the chroma blur's 3 taps, for one dtype and device."""
    key = (dtype, device)
    if key not in _CONSTANTS:
        with torch.inference_mode(False), torch.no_grad():
            i = torch.arange(8, dtype=dtype, device=device)
            alpha = torch.ones(8, dtype=dtype, device=device)
            alpha[0] = 1.0 / math.sqrt(2.0)
            taps = torch.exp(-torch.tensor([-1.0, 0.0, 1.0], dtype=dtype, device=device).square() / (2 * 0.5 ** 2))
            _CONSTANTS[key] = {
                "qt_y": torch.tensor(_QT_Y, dtype=dtype, device=device),
                "qt_c": torch.tensor(_QT_C, dtype=dtype, device=device),
                "basis": torch.cos((2.0 * i + 1.0)[:, None] * i[None, :] * (math.pi / 16.0)),
                "scale": torch.outer(alpha, alpha) * 0.25,
                "taps": taps / taps.sum()}
    return _CONSTANTS[key]


def _soft_round(x: torch.Tensor) -> torch.Tensor:
    """kornia's differentiable rounding: ``round(x) + (x - round(x))^3``."""
    r = x.round()
    return r + (x - r) ** 3


def _soft_floor(x: torch.Tensor) -> torch.Tensor:
    """kornia's differentiable floor: ``floor(x) + (x - 0.5 - floor(x))^3``."""
    f = x.floor()
    return f + (x - 0.5 - f) ** 3


def _soft_clip(x: torch.Tensor, lo: float, hi: float, scale: float = 0.02) -> torch.Tensor:
    """kornia's differentiable clipping: exponential tails of height ``scale`` beyond ``[lo, hi]``."""
    over = x - hi
    x = torch.where(over > 0, -scale * (torch.exp(-over.clamp(min=0)) - 1.0) + hi, x)
    under = x - lo
    return torch.where(under < 0, scale * (torch.exp(under.clamp(max=0)) - 1.0) + lo, x)


def quantization_steps(table: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """The quantization step of each DCT coefficient at each quality, as libjpeg scales its tables
    (scale ``5000 / q`` below 50, ``200 - 2 q`` from 50; step ``floor((table * scale + 50) / 100)`` in
    [1, 255]), with kornia's soft floor and clip so it is differentiable in ``quality``.

    ``table`` ``(8, 8)``, ``quality`` ``(B,)`` -> ``(B, 1, 8, 8)``."""
    q = torch.where(quality == 0.0, torch.ones_like(quality), quality)
    scale = _soft_floor(torch.where(q < 50, 5000.0 / q, 200.0 - 2.0 * q))
    scaled = table[None, None] * scale[:, None, None, None]
    return _soft_floor(_soft_clip((scaled + 50.0) / 100.0, 1, 255))


def _blur3(x: torch.Tensor, w: torch.Tensor, dim: int) -> torch.Tensor:
    """3-tap filter ``w`` along ``dim`` (-1 or -2) of ``(B, H, W)`` with reflected borders."""
    n = x.shape[dim]
    if n < 2:
        return x
    left = x.narrow(dim, 1, 1)  # reflect: index -1 -> 1, n -> n - 2
    right = x.narrow(dim, n - 2, 1)
    p = torch.cat([left, x, right], dim)
    return w[0] * p.narrow(dim, 0, n) + w[1] * p.narrow(dim, 1, n) + w[2] * p.narrow(dim, 2, n)


def chroma_half(c: torch.Tensor) -> torch.Tensor:
    """The antialiased halving of a chroma plane ``(B, H, W)`` (even H, W): the 3-tap Gaussian of sigma
    0.5 along each axis, reflected borders, then the mean of each 2 x 2 block. ``(B, H / 2, W / 2)``."""
    w = _constants(c.dtype, c.device)["taps"]
    b, h, wd = c.shape
    x = _blur3(_blur3(c, w, -2), w, -1)
    return x.reshape(b, h // 2, 2, wd // 2, 2).mean((2, 4))


def _blocks(x: torch.Tensor) -> torch.Tensor:
    """``(B, H, W)`` -> the 8 x 8 blocks ``(B, H / 8 * W / 8, 8, 8)`` in raster order."""
    b, h, w = x.shape
    return x.reshape(b, h // 8, 8, w // 8, 8).permute(0, 1, 3, 2, 4).reshape(b, -1, 8, 8)


def _unblocks(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """The inverse of :func:`_blocks`: ``(B, N, 8, 8)`` -> ``(B, h, w)``."""
    return x.reshape(x.shape[0], h // 8, w // 8, 8, 8).permute(0, 1, 3, 2, 4).reshape(x.shape[0], h, w)


def _code_plane(plane: torch.Tensor, steps: torch.Tensor, k: dict[str, torch.Tensor]) -> torch.Tensor:
    """DCT, quantize, dequantize and inverse-DCT one plane ``(B, H, W)`` in [0, 255] with steps
    ``(B, 1, 8, 8)``; the decoded plane ``(B, H, W)``."""
    h, w = plane.shape[-2:]
    basis, scale = k["basis"], k["scale"]
    coeff = scale * (basis.T @ (_blocks(plane) - 128.0) @ basis)
    coeff = _soft_round(coeff / steps) * steps
    return _unblocks(basis @ (coeff * scale) @ basis.T + 128.0, h, w)


def jpeg_codec(img: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """Encode and decode ``img`` ``(B, 3, H, W)`` in [0, 1] (H, W multiples of 16) as a 4:2:0 JPEG of
    per-image ``quality`` ``(B,)`` in [1, 100], differentiably in both. Returns ``(B, 3, H, W)``
    softly clipped to [0, 1]. Equal to ``kornia.enhance.jpeg_codec_differentiable(img, quality)``."""
    k = _constants(img.dtype, img.device)
    h, w = img.shape[-2:]
    q = quality.to(img)
    ycc = 255.0 * rgb_to_ycbcr(img)
    y = _code_plane(ycc[:, 0], quantization_steps(k["qt_y"], q), k)
    steps_c = quantization_steps(k["qt_c"], q)
    cbcr = torch.stack([chroma_half(ycc[:, 1]), chroma_half(ycc[:, 2])], 1)  # (B, 2, H/2, W/2)
    cbcr = _code_plane(cbcr.flatten(0, 1), steps_c.repeat_interleave(2, 0), k).unflatten(0, (-1, 2))
    cbcr = F.interpolate(cbcr, scale_factor=2.0, mode="bilinear", align_corners=False)
    out = 255.0 * ycbcr_to_rgb(torch.cat([y[:, None], cbcr], 1) / 255.0)
    return _soft_clip(out, 0.0, 255.0) / 255.0
