"""Reading sticker images into tensors."""

from __future__ import annotations

import torch

import numpy as np

from patchsim.errors import PatchsimError
from patchsim.imageio import check_square, read_image, resize, to_tensor


def load_sticker(path: str, resolution: int) -> torch.Tensor:
    """A sticker PNG (RGB or RGBA covering the face's bounding square, as ``patchsim attack`` writes) as
    float32 RGB ``(3, resolution, resolution)`` in [0, 1]. Only its colour is used; where it applies
    is the scene's sticker mask."""
    img = read_image(path)
    check_square(img, path, "a sticker image")
    return to_tensor(resize(img, resolution, resolution))


def load_sticker_rgba(path) -> np.ndarray:
    """A sticker.png (RGBA over the face's bounding square, alpha = where it is stuck) as uint8
    ``(P, P, 4)``; a non-square image or an empty alpha channel is an error."""
    img = read_image(path, alpha=True)
    check_square(img, path, "a sticker image")
    if img[..., 3].max() == 0:
        raise PatchsimError(f"{path}: the sticker's alpha channel is empty (nothing is stuck on the sign)")
    return img
