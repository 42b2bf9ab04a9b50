"""Sign faces from real images: an RGBA image of the face's bounding square, or a photo plus the 4
corner points of the face's bounding square (top-left, top-right, bottom-right, bottom-left, pixels,
pixel centres at integer coordinates)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch

from patchsim.errors import PatchsimError
from patchsim.io.images import check_square, read_image, resize, to_tensor
from patchsim.signs.catalogue import draw_face_array


def face_from_rgba(path: str | Path, sign: str, resolution: int = 256) -> torch.Tensor:
    """Face from an image of the bounding square: float32 RGBA ``(4, N, N)``. An image without an
    alpha channel (all opaque) takes the catalogue sign's silhouette as alpha."""
    img = read_image(path, alpha=True)
    check_square(img, path, "a face image")
    img = resize(img, resolution, resolution)
    if img[:, :, 3].min() == 255:
        img[:, :, 3] = draw_face_array(sign, resolution)[:, :, 3]
    return to_tensor(img)


def face_from_photo(photo: str | Path | np.ndarray, corners: Sequence[Sequence[float]], sign: str,
                    resolution: int = 256) -> torch.Tensor:
    """Rectify the face's bounding square out of a photo: float32 RGBA ``(4, N, N)``; alpha is the
    catalogue sign's silhouette.

    Args:
        photo: image path or uint8 RGB array ``(H, W, 3)``.
        corners: 4 points (x, y) in photo pixels: top-left, top-right, bottom-right, bottom-left of the
            face's bounding square.
        sign: catalogue name whose silhouette becomes alpha.
    """
    img = read_image(photo) if not isinstance(photo, np.ndarray) else photo
    src = np.asarray(corners, np.float64)
    if src.shape != (4, 2) or not np.isfinite(src).all():
        raise PatchsimError(f"corners must be 4 finite (x, y) points, got shape {src.shape}")
    n = resolution
    # pixel centres: the square's outer edges lie at -0.5 and n - 0.5
    dst = np.array([[-0.5, -0.5], [n - 0.5, -0.5], [n - 0.5, n - 0.5], [-0.5, n - 0.5]])
    # first shrink the photo so that the face is about 2n px across, then warp bilinearly
    side = max(np.linalg.norm(src[1] - src[0]), np.linalg.norm(src[2] - src[1]))
    scale = min(1.0, 2.0 * n / max(side, 1.0))
    if scale < 1.0:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        src = (src + 0.5) * scale - 0.5
    h = cv2.getPerspectiveTransform(src.astype(np.float32), dst.astype(np.float32))
    rgb = cv2.warpPerspective(img, h, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if scale < 1.0 or side > n:
        rgb = cv2.GaussianBlur(rgb, (0, 0), 0.5)
    alpha = draw_face_array(sign, n)[:, :, 3:]
    return to_tensor(np.concatenate([rgb, alpha], axis=2))
