"""Reading sticker images into tensors."""

from __future__ import annotations

import torch

from patchsim.imageio import check_square, read_image, resize, to_tensor


def load_sticker(path: str, resolution: int) -> torch.Tensor:
    """A sticker PNG (RGB or RGBA covering the face's bounding square, as ``patchsim attack`` writes) as
    float32 RGB ``(3, resolution, resolution)`` in [0, 1]. Only its colour is used; where it applies
    is the scene's sticker mask."""
    img = read_image(path)
    check_square(img, path, "a sticker image")
    return to_tensor(resize(img, resolution, resolution))
