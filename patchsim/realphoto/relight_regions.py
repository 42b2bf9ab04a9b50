"""Surfaces of standard sheeting colour in a photo, for checking a relighting model on colours the stop
sign does not have: each colour family's detection range (HSV) and its nominal colour as a design
colour, from the FHWA daytime colour boxes in ``patchsim/data/sheeting_colours.json``.

Design colours are on the catalogue face's scale: the nominal XYZ is scaled so that nominal white
sheeting lands on the catalogue's white (:data:`patchsim.signs.catalogue.WHITE`), then encoded as sRGB
(clipped in linear light: sheeting green lies outside the sRGB gamut, as it does for a camera)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import cv2
import numpy as np

from patchsim.errors import PatchsimError
from patchsim.realphoto.colour import srgb_to_linear, xyy_to_srgb
from patchsim.signs.catalogue import WHITE

SHEETING_FILE = Path(__file__).resolve().parents[1] / "data" / "sheeting_colours.json"
# OpenCV HSV (H in [0, 180), S and V in [0, 255]): (hue range, minimum saturation, value range)
FAMILY_HSV = {
    "orange": ((6, 16), 120, (100, 255)),
    "yellow": ((17, 30), 90, (90, 255)),
    "fluorescent_yellow_green": ((31, 44), 110, (110, 255)),
    "green": ((45, 95), 70, (35, 255)),
    "blue": ((96, 130), 90, (35, 255)),
    "black": ((0, 180), 0, (0, 75)),
}


@functools.lru_cache(maxsize=1)
def sheeting_colours() -> dict:
    """{family: {"xy": corners [[x, y], ...], "Y": [min, max] percent}} from the packaged table."""
    try:
        return json.loads(SHEETING_FILE.read_text())["colours"]
    except (OSError, KeyError, ValueError) as e:
        raise PatchsimError(f"cannot read the sheeting colour table {SHEETING_FILE}: {e}") from e


def nominal_xyy(family: str) -> np.ndarray:
    """The nominal colour ``(3,)`` xyY (Y in [0, 1]) of a family: the centroid of its chromaticity box
    at the middle of its luminance-factor range."""
    table = sheeting_colours()
    if family not in table:
        raise PatchsimError(f"colour family {family!r} is unknown; allowed: {', '.join(table)}")
    c = table[family]
    x, y = np.asarray(c["xy"], np.float64).mean(0)
    return np.array([x, y, float(np.mean(c["Y"])) / 100])


def design_srgb(family: str) -> np.ndarray:
    """The family's nominal colour as a design colour ``(3,)`` sRGB in [0, 1], on the catalogue face's
    scale (nominal white sheeting -> the catalogue white)."""
    white_y = float(srgb_to_linear(np.asarray(WHITE, np.float64) / 255) @ [0.2126, 0.7152, 0.0722])
    xyy = nominal_xyy(family)
    xyy[2] *= white_y / nominal_xyy("white")[2]
    return xyy_to_srgb(xyy)


def family_mask(photo: np.ndarray, family: str) -> np.ndarray:
    """Bool ``(H, W)``: pixels of uint8 RGB ``photo`` ``(H, W, 3)`` inside the family's HSV range."""
    if family not in FAMILY_HSV:
        raise PatchsimError(f"colour family {family!r} has no detection range; allowed: {', '.join(FAMILY_HSV)}")
    (h0, h1), s_min, (v0, v1) = FAMILY_HSV[family]
    hsv = cv2.cvtColor(photo, cv2.COLOR_RGB2HSV)
    return (hsv[..., 0] >= h0) & (hsv[..., 0] <= h1) & (hsv[..., 1] >= s_min) & (hsv[..., 2] >= v0) & (hsv[..., 2] <= v1)


def region_colour(photo: np.ndarray, polygon: np.ndarray, family: str, erode_px: int = 2) -> np.ndarray | None:
    """The observed colour ``(3,)`` sRGB in [0, 1] of a marked region: the per-channel median of the
    pixels inside ``polygon`` ``(K, 2)`` (image pixels), ``erode_px`` in from its edge, that fall in the
    family's colour range (lettering and edges left out); None when fewer than 20 such pixels."""
    m = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillPoly(m, [np.round(np.asarray(polygon)).astype(np.int32)], 1)
    if erode_px:
        m = cv2.erode(m, np.ones((2 * erode_px + 1,) * 2, np.uint8))
    sel = (m > 0) & family_mask(photo, family) if family in FAMILY_HSV else m > 0
    if sel.sum() < 20:
        return None
    return np.median(photo[sel].astype(np.float64) / 255, 0)
