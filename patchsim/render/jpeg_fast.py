"""kornia's differentiable JPEG with its chroma subsampling done by shifts instead of convolutions.

``kornia.enhance.jpeg_codec_differentiable`` subsamples Cb and Cr with ``rescale(..., antialias=True)``:
a 3 x 3 Gaussian (sigma 0.5, reflected borders) by ``conv2d`` then a bilinear halving. On a batch of
small classifier crops the backward pass of those single-channel convolutions is a third of the whole
codec. :func:`jpeg_codec` computes the same function (the same kernel weights, the same DCT,
quantization, rounding and clipping, through kornia's own helpers) with the blur as three shifted adds
per axis and the halving as a 2 x 2 mean: equal to kornia's to float rounding, 2-3x faster forward and
backward. When kornia's private helpers are not there (another kornia version) it is kornia's function.

Tensors: images ``(B, 3, H, W)`` float in [0, 1], H and W multiples of 16; ``quality`` ``(B,)`` in [1, 100]."""

from __future__ import annotations

import torch

try:
    from kornia.color import rgb_to_ycbcr
    from kornia.enhance.jpeg import (_dct_8x8, _default_quantization_tables, _differentiable_clipping, _jpeg_decode,
                                     _patchify_8x8, _quantize)
    from kornia.filters.kernels import get_gaussian_kernel1d

    _HELPERS = True
except ImportError:  # pragma: no cover - other kornia versions
    _HELPERS = False


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
    """kornia's antialiased halving of a chroma plane ``(B, H, W)`` (even H, W): the 3-tap Gaussian of
    sigma 0.5 along each axis, reflected borders, then the mean of each 2 x 2 block (a bilinear
    halving). ``(B, H / 2, W / 2)``."""
    w = get_gaussian_kernel1d(3, 0.5, device=c.device, dtype=c.dtype)[0]
    b, h, wd = c.shape
    x = _blur3(_blur3(c, w, -2), w, -1)
    return x.reshape(b, h // 2, 2, wd // 2, 2).mean((2, 4))


def jpeg_codec(img: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """kornia's ``jpeg_codec_differentiable(img, quality)`` (default quantization tables), faster; see
    the module doc."""
    if not _HELPERS:
        from kornia.enhance import jpeg_codec_differentiable

        return jpeg_codec_differentiable(img, quality)
    h, w = img.shape[-2:]
    qy, qc = _default_quantization_tables(img.device, img.dtype)
    qy, qc = qy[None], qc[None]
    q = quality.to(img)
    ycc = 255.0 * rgb_to_ycbcr(img)
    y, cb, cr = ycc[:, 0], chroma_half(ycc[:, 1]), chroma_half(ycc[:, 2])
    y, cb, cr = _patchify_8x8(y), _patchify_8x8(cb), _patchify_8x8(cr)
    y_enc = _quantize(_dct_8x8(y), q, qy)
    cb_enc, cr_enc = _quantize(_dct_8x8(torch.cat((cb, cr), dim=1)), q, qc).chunk(2, dim=1)
    out = _jpeg_decode(input_y=y_enc, input_cb=cb_enc, input_cr=cr_enc, jpeg_quality=q, H=h, W=w,
                       quantization_table_c=qc, quantization_table_y=qy)
    return _differentiable_clipping(input=out, min_val=0.0, max_val=255.0)

