"""Sign fragments: for every output pixel, where on the sign face it looks (uv) and how much of it the
sign covers. The hand-off from geometry to shading.

``uv`` is ``(B, H, W, 2)`` face coordinates (see :mod:`patchsim.render.geometry`); ``in_front`` is
``(B, 1, H, W)`` 1 where the viewing ray meets the sign plane in front of the camera."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from patchsim.checks import check_shape

try:  # kornia >= 0.8.3
    from kornia.geometry import create_meshgrid
except ImportError:  # pragma: no cover - older kornia
    from kornia.utils import create_meshgrid


def pixel_grid(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """Pixel-centre coordinates ``(1, height, width, 2)`` as (x, y), integers, dtype/device of ``like``."""
    return create_meshgrid(height, width, normalized_coordinates=False, device=like.device, dtype=like.dtype)


@dataclass(frozen=True)
class SignFragments:
    """uv ``(B, H, W, 2)`` face coords; in_front ``(B, 1, H, W)`` float 0/1; grid_from_face ``(B, 3, 3)``."""

    uv: torch.Tensor
    in_front: torch.Tensor
    grid_from_face: torch.Tensor


def rasterize_sign(grid_from_face: torch.Tensor, height: int, width: int) -> SignFragments:
    """Map every pixel of an ``height`` x ``width`` output grid to face coordinates.

    Args:
        grid_from_face: ``(B, 3, 3)`` homography from face (u, v) to output-grid pixel coordinates
            (pixel centres at integers), unscaled: its third output row must be the camera depth (m)
            of the face point, as built by :func:`patchsim.render.geometry.img_from_face`.
    """
    check_shape(grid_from_face, ["B", 3, 3], "grid_from_face")
    b = grid_from_face.shape[0]
    face_from_grid = torch.linalg.inv(grid_from_face)
    pix = pixel_grid(height, width, grid_from_face)
    ones = torch.ones_like(pix[..., :1])
    hom = torch.cat([pix, ones], -1).reshape(1, -1, 3).expand(b, -1, -1)
    q = hom @ face_from_grid.transpose(1, 2)  # (B, HW, 3)
    w = q[..., 2:]
    # grid_from_face's third row gives the camera depth z of a face point, so w = 1 / z: the ray meets
    # the sign plane in front of the camera exactly where w > 0
    front = w[..., 0] > 0
    safe_w = torch.where(w.abs() < 1e-12, torch.full_like(w, 1e-12), w)
    uv = (q[..., :2] / safe_w).reshape(b, height, width, 2)
    uv = torch.where(front.reshape(b, height, width, 1), uv, torch.full_like(uv, -10.0))
    return SignFragments(uv=uv, in_front=front.reshape(b, 1, height, width).to(uv.dtype), grid_from_face=grid_from_face)


def sample_face(face: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinearly sample a face texture at face coordinates.

    Args:
        face: ``(B or 1, C, N, N)`` texture covering the face's bounding square (uv in [0, 1] spans its
            outer pixel edges).
        uv: ``(B, H, W, 2)``.
    Returns:
        ``(B, C, H, W)``; zero outside the square.
    """
    check_shape(uv, ["B", "H", "W", 2], "uv")
    check_shape(face, ["Bf", "C", "N", "M"], "face")
    b = uv.shape[0]
    if face.shape[0] not in (1, b):
        check_shape(face, [b, "C", "N", "M"], "face")
    grid = uv * 2 - 1
    if face.shape[0] == 1 and b > 1:
        # one texture for all: sample it once with the B grids stacked, so the backward pass accumulates
        # into a (1, C, N, N) gradient instead of B expanded copies
        h, w = uv.shape[1:3]
        out = F.grid_sample(face, grid.reshape(1, b * h, w, 2), mode="bilinear", padding_mode="zeros",
                            align_corners=False)
        return out.reshape(face.shape[1], b, h, w).transpose(0, 1)
    return F.grid_sample(face, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def mip_size(footprint_px: float, n: int) -> int:
    """Side of the mip level for a face of ``n`` texels covering about ``footprint_px`` output pixels
    across: the smallest power of two >= the footprint (at least 16), never above ``n``."""
    target = 16
    while target < footprint_px and target < n:
        target *= 2
    return min(target, n)


def face_level(face: torch.Tensor, footprint_px: float) -> torch.Tensor:
    """Pre-filter (mip level) for a face that covers about ``footprint_px`` output pixels across: area-
    downsample ``(B, C, N, N)`` to :func:`mip_size` (never up), so that bilinear sampling does not alias.
    Differentiable."""
    n = face.shape[-1]
    target = mip_size(footprint_px, n)
    if target >= n:
        return face
    return F.interpolate(face, size=(target, target), mode="area")


def sample_face_mip(face: torch.Tensor, uv: torch.Tensor, footprint_px: torch.Tensor) -> torch.Tensor:
    """Sample each image's face at its own mip level: ``face`` ``(1 or B, C, N, N)``, ``uv``
    ``(B, H, W, 2)``, ``footprint_px`` ``(B,)`` output pixels across the face. Returns ``(B, C, H, W)``;
    an image's result does not depend on the other images in the batch."""
    check_shape(footprint_px, [uv.shape[0]], "footprint_px")
    n = face.shape[-1]
    sizes = [mip_size(f, n) for f in footprint_px.tolist()]
    if len(set(sizes)) == 1:
        return sample_face(face_level(face, float(footprint_px[0])), uv)
    parts, order = [], []
    for size in sorted(set(sizes)):
        idx = [i for i, v in enumerate(sizes) if v == size]
        f = face if face.shape[0] == 1 else face[idx]
        parts.append(sample_face(face_level(f, float(size)), uv[idx]))
        order += idx
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[torch.tensor(order)] = torch.arange(len(order))
    return torch.cat(parts)[inverse.to(uv.device)]
