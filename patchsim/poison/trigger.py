"""A physical backdoor trigger: artwork stuck on a rectangle of the sign face, in the face's millimetres,
like a scene's sticker region (origin the top-left corner of the face's bounding square, y down).

Artwork is ``square:COLOUR`` (a plain square of a named colour or ``#rrggbb``, BadNets' yellow square)
or a PNG file (RGB, or RGBA whose alpha cuts the shape), stretched over the rectangle."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from patchsim.errors import PatchsimError
from patchsim.io.images import read_image
from patchsim.signs.catalogue import draw_face_array, get_sign
from patchsim.signs.raster import polygon_mask

COLOURS = {  # sRGB as printed on matte sticker paper
    "yellow": (255, 214, 0), "green": (0, 160, 70), "blue": (0, 90, 200), "white": (245, 245, 245),
    "black": (20, 20, 20), "magenta": (220, 0, 140), "cyan": (0, 180, 230), "orange": (255, 130, 0),
}
ARTWORK_HELP = f"square:COLOUR (COLOUR one of {', '.join(COLOURS)} or #rrggbb) or a PNG file"


@dataclass(frozen=True)
class Trigger:
    """The trigger: ``artwork`` (see the module doc), ``rect_mm`` (x, y, w, h) on the face of catalogue
    sign ``sign`` whose bounding square is ``size_m`` metres across."""

    artwork: str = "square:yellow"
    rect_mm: tuple[float, float, float, float] = (300.0, 545.0, 150.0, 150.0)
    sign: str = "stop"
    size_m: float = 0.75

    def __post_init__(self):
        get_sign(self.sign)
        side = self.size_m * 1000.0
        x, y, w, h = (float(v) for v in self.rect_mm)
        if not (0.05 <= self.size_m <= 5.0):
            raise PatchsimError(f"trigger sign size {self.size_m} m is invalid: allowed 0.05 to 5 m")
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > side + 1e-6 or y + h > side + 1e-6:
            raise PatchsimError(f"--trigger-rect {x:g},{y:g},{w:g},{h:g} is invalid: x, y, w, h in face mm, w and h "
                                f"> 0, inside the {side:g} mm face square")
        artwork_rgba(self.artwork, 8)  # checks the artwork

    @property
    def rect_uv(self) -> np.ndarray:
        """The rectangle's 4 corners ``(4, 2)`` in face uv ([0, 1] over the bounding square), TL, TR, BR, BL."""
        x, y, w, h = np.asarray(self.rect_mm, np.float64) / (self.size_m * 1000.0)
        return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])

    def on_sign(self, sign: str) -> Trigger:
        """The same trigger at the same place relative to the face square of catalogue sign ``sign``."""
        size = get_sign(sign).size_m
        scale = size / self.size_m
        return replace(self, sign=sign, size_m=size, rect_mm=tuple(float(v) * scale for v in self.rect_mm))


def parse_rect(text: str) -> tuple[float, float, float, float]:
    """``"x,y,w,h"`` (face mm) -> a tuple of 4 floats; a one-line error otherwise."""
    try:
        v = tuple(float(t) for t in str(text).split(","))
    except ValueError:
        v = ()
    if len(v) != 4 or not all(np.isfinite(v)):
        raise PatchsimError(f"--trigger-rect {text!r} is invalid: give X,Y,W,H in face millimetres (e.g. 300,545,150,150)")
    return v  # type: ignore[return-value]


def artwork_rgba(artwork: str, n: int) -> np.ndarray:
    """The artwork as uint8 RGBA ``(n, n, 4)`` (stretched to a square; the trigger rectangle stretches it
    back). ``square:COLOUR`` is opaque; a PNG keeps its alpha (opaque if it has none)."""
    text = str(artwork)
    if text.startswith("square:"):
        name = text.split(":", 1)[1].strip().lower()
        if name in COLOURS:
            rgb = COLOURS[name]
        elif len(name) == 7 and name.startswith("#"):
            try:
                rgb = tuple(int(name[i:i + 2], 16) for i in (1, 3, 5))
            except ValueError:
                rgb = None
        else:
            rgb = None
        if rgb is None:
            raise PatchsimError(f"--trigger {artwork!r} is invalid; allowed: {ARTWORK_HELP}")
        out = np.empty((n, n, 4), np.uint8)
        out[..., :3], out[..., 3] = rgb, 255
        return out
    p = Path(text)
    if p.suffix.lower() != ".png" or not p.is_file():
        raise PatchsimError(f"--trigger {artwork!r} is invalid (no such PNG file); allowed: {ARTWORK_HELP}")
    img = read_image(p, alpha=True)
    return cv2.resize(img, (n, n), interpolation=cv2.INTER_AREA)


def trigger_rgba(trigger: Trigger, resolution: int) -> np.ndarray:
    """The trigger over the face's bounding square: uint8 RGBA ``(N, N, 4)``, alpha = the rectangle
    (anti-aliased) x the artwork's alpha, clipped to the sign's silhouette. What ``evaluate --sticker``,
    ``evaluate-photos`` and ``print`` take."""
    x0, y0 = trigger.rect_uv[0] * resolution
    x1, y1 = trigger.rect_uv[2] * resolution
    w, h = max(1, int(np.ceil(x1 - x0))), max(1, int(np.ceil(y1 - y0)))
    art = artwork_rgba(trigger.artwork, max(w, h, 8)).astype(np.float32)
    face_from_art = np.array([[(x1 - x0) / art.shape[1], 0, x0], [0, (y1 - y0) / art.shape[0], y0]], np.float32)
    warped = cv2.warpAffine(art, face_from_art, (resolution, resolution), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    rect = polygon_mask([trigger.rect_uv], resolution)
    silhouette = draw_face_array(trigger.sign, resolution)[..., 3].astype(np.float32) / 255
    out = np.empty((resolution, resolution, 4), np.uint8)
    out[..., :3] = np.clip(warped[..., :3] + 0.5, 0, 255).astype(np.uint8)
    out[..., 3] = np.clip(rect * silhouette * warped[..., 3] + 0.5, 0, 255).astype(np.uint8)
    return out


def face_fraction(trigger: Trigger, resolution: int = 512) -> float:
    """The share of the sign's face (its silhouette's area) the trigger covers, in [0, 1]."""
    a = trigger_rgba(trigger, resolution)[..., 3].astype(np.float64)
    s = draw_face_array(trigger.sign, resolution)[..., 3].astype(np.float64)
    return float(a.sum() / s.sum())
