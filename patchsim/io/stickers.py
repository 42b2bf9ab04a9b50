"""Reading sticker images into tensors."""

from __future__ import annotations

import torch

import numpy as np

from patchsim.errors import PatchsimError
from patchsim.io.images import check_square, read_image, resize, to_tensor


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


def printed_rgba(sticker_rgba: np.ndarray, printer) -> np.ndarray:
    """The sticker as it comes out of ``printer`` (a :class:`patchsim.printing.printer.PrinterModel`):
    uint8 ``(P, P, 4)`` in, uint8 ``(P, P, 4)`` out, alpha unchanged. Only the bounding box of the
    pixels with alpha > 0 is printed (nothing else is stuck on the sign; those pixels keep their
    colour), in row chunks, so a 300-DPI sticker never needs a full float copy."""
    if printer.is_identity:
        return sticker_rgba
    out = sticker_rgba.copy()
    rows = np.flatnonzero(sticker_rgba[..., 3].any(1))
    cols = np.flatnonzero(sticker_rgba[..., 3].any(0))
    if len(rows) == 0:
        return out
    x0, x1 = int(cols[0]), int(cols[-1]) + 1
    step = max(1, (1 << 22) // (x1 - x0))
    with torch.no_grad():
        for y in range(int(rows[0]), int(rows[-1]) + 1, step):
            y1 = min(y + step, int(rows[-1]) + 1)
            x = torch.from_numpy(sticker_rgba[y:y1, x0:x1, :3]).permute(2, 0, 1)[None].float() / 255
            out[y:y1, x0:x1, :3] = printer(x)[0].permute(1, 2, 0).mul(255).round().byte().numpy()
    return out
