"""Colour science for calibration and relighting, through colour-science (``colour``): sRGB <-> CIELAB
(D65, 2-degree observer), CIE xyY -> sRGB, and the CIEDE2000 colour difference.

Arrays are ``(..., 3)`` float64; sRGB in [0, 1] (display-encoded), Lab with L in [0, 100], xyY with Y
in [0, 1]. colour-science is imported on first use (it takes over a second to import)."""

from __future__ import annotations

import functools
import warnings

import numpy as np


@functools.lru_cache(maxsize=1)
def _colour():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import colour

    return colour


def _d65() -> np.ndarray:
    return _colour().RGB_COLOURSPACES["sRGB"].whitepoint


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] (clipped) -> CIELAB under D65 (L in [0, 100])."""
    c = _colour()
    rgb = np.clip(np.asarray(rgb, np.float64), 0, 1)
    return c.XYZ_to_Lab(c.sRGB_to_XYZ(rgb), _d65())


def lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB under D65 -> sRGB, clipped to [0, 1] (out-of-gamut colours are clipped per channel in
    linear light, as a camera's pipeline does)."""
    c = _colour()
    xyz = c.Lab_to_XYZ(np.asarray(lab, np.float64), _d65())
    return xyz_to_srgb(xyz)


def xyz_to_srgb(xyz: np.ndarray) -> np.ndarray:
    """CIE XYZ (Y = 1 for the white of display white) -> sRGB in [0, 1], clipped in linear light."""
    c = _colour()
    cs = c.RGB_COLOURSPACES["sRGB"]
    lin = c.XYZ_to_RGB(np.asarray(xyz, np.float64), cs, apply_cctf_encoding=False)
    return np.clip(cs.cctf_encoding(np.clip(lin, 0, 1)), 0, 1)


def xyy_to_srgb(xyy: np.ndarray) -> np.ndarray:
    """CIE xyY (Y in [0, 1]) -> sRGB in [0, 1], clipped in linear light."""
    return xyz_to_srgb(_colour().xyY_to_XYZ(np.asarray(xyy, np.float64)))


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] -> linear light (the sRGB EOTF), any shape."""
    return _colour().models.eotf_sRGB(np.clip(np.asarray(rgb, np.float64), 0, 1))


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 difference (Sharma, Wu, Dalal 2005) between Lab arrays ``(..., 3)``; kL = kC = kH = 1."""
    return np.asarray(_colour().delta_E(np.asarray(lab1, np.float64), np.asarray(lab2, np.float64),
                                        method="CIE 2000"), np.float64)
