"""Anti-aliased rasterisation of sign-face shapes and text (numpy/OpenCV; run once, at the edge).

Coordinates are normalised face coordinates: (0, 0) is the top-left corner of the face's bounding
square and (1, 1) its bottom-right corner."""

from __future__ import annotations

import cv2
import numpy as np

SS = 4  # supersampling factor for anti-aliasing


def supersampling_for(n: int) -> int:
    """Anti-aliasing factor for an ``n``-pixel canvas: 4x up to 2048 px, less above (print resolutions)."""
    return max(1, min(SS, 8192 // max(n, 1)))


RESOLVE_ROWS = 128  # output rows resolved at a time (bounded memory for print-size faces)


class Canvas:
    """An RGBA drawing surface of ``n`` x ``n`` output pixels, drawn supersampled and area-downsampled."""

    def __init__(self, n: int):
        self.n = n
        self.big = n * supersampling_for(n)
        self.rgb = np.zeros((self.big, self.big, 3), np.uint8)
        self.alpha = np.zeros((self.big, self.big), np.uint8)

    def _pts(self, pts) -> np.ndarray:
        a = np.asarray(pts, np.float64) * self.big
        return np.round(a * 16).astype(np.int32)  # 4 fractional bits

    def polygon(self, pts, color, alpha: bool = False) -> None:
        """Fill a polygon given in normalised face coordinates with an sRGB uint8 ``color``."""
        p = self._pts(pts)[None]
        cv2.fillPoly(self.rgb, p, tuple(int(c) for c in color), cv2.LINE_8, shift=4)
        if alpha:
            cv2.fillPoly(self.alpha, p, 255, cv2.LINE_8, shift=4)

    def circle(self, centre, radius: float, color, alpha: bool = False) -> None:
        """Fill a disc (normalised centre and radius)."""
        c = tuple(int(v) for v in self._pts(centre))
        r = int(round(radius * self.big * 16))
        cv2.circle(self.rgb, c, r, tuple(int(v) for v in color), -1, cv2.LINE_8, shift=4)
        if alpha:
            cv2.circle(self.alpha, c, r, 255, -1, cv2.LINE_8, shift=4)

    def stroke(self, pts, width: float, color) -> None:
        """Draw an open polyline through ``pts`` ``(K, 2)`` (normalised) ``width`` wide (normalised),
        with round joins and ends, in sRGB uint8 ``color``."""
        thick = max(1, int(round(width * self.big)))
        cv2.polylines(self.rgb, self._pts(pts)[None], False, tuple(int(c) for c in color), thick, cv2.LINE_8,
                      shift=4)

    def text(self, s: str, centre, height: float, color, max_width: float, weight: float = 0.16) -> None:
        """Draw ``s`` centred at ``centre`` with cap height ``height`` (normalised), at most ``max_width``
        wide; ``weight`` is the stroke width as a fraction of the height."""
        font = cv2.FONT_HERSHEY_SIMPLEX
        (w, h), _ = cv2.getTextSize(s, font, 1.0, 1)
        scale = height * self.big / h
        thick = max(1, int(round(weight * height * self.big)))
        (w, h), _ = cv2.getTextSize(s, font, scale, thick)
        if w > max_width * self.big:
            scale *= max_width * self.big / w
            thick = max(1, int(round(thick * max_width * self.big / w)))
            (w, h), _ = cv2.getTextSize(s, font, scale, thick)
        x = int(round(centre[0] * self.big - w / 2))
        y = int(round(centre[1] * self.big + h / 2))
        cv2.putText(self.rgb, s, (x, y), font, scale, tuple(int(c) for c in color), thick, cv2.LINE_AA)

    def result(self) -> np.ndarray:
        """The anti-aliased RGBA uint8 image ``(n, n, 4)``; colour is premultiplied then un-premultiplied
        so that edges do not bleed the black canvas."""
        if self.big == self.n:  # print resolutions: no supersampling, nothing to resolve
            return np.concatenate([self.rgb, self.alpha[..., None]], axis=2)
        out = np.empty((self.n, self.n, 4), np.uint8)
        ss = self.big // self.n
        for r0 in range(0, self.n, RESOLVE_ROWS):  # in bands: an integer-factor area resize is a block mean
            r1 = min(self.n, r0 + RESOLVE_ROWS)
            a = self.alpha[r0 * ss:r1 * ss].astype(np.float32) / 255.0
            rgb = self.rgb[r0 * ss:r1 * ss].astype(np.float32) * a[..., None]
            size = (self.n, r1 - r0)
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            a = cv2.resize(a, size, interpolation=cv2.INTER_AREA)
            rgb = np.where(a[..., None] > 1e-6, rgb / np.maximum(a[..., None], 1e-6), 0)
            band = np.concatenate([rgb, a[..., None] * 255.0], axis=2)
            out[r0:r1] = np.clip(np.round(band), 0, 255).astype(np.uint8)
        return out


def polygon_mask(polys: list, n: int) -> np.ndarray:
    """Anti-aliased coverage ``(n, n)`` float32 in [0, 1] of the union of polygons (normalised coords)."""
    c = Canvas(n)
    for p in polys:
        c.polygon(p, (255, 255, 255), alpha=True)
    a = c.alpha.astype(np.float32) / 255.0
    return cv2.resize(a, (n, n), interpolation=cv2.INTER_AREA) if c.big != n else a


def regular_polygon(k: int, rotation_deg: float, radius: float = 0.5, centre=(0.5, 0.5)) -> np.ndarray:
    """Vertices ``(k, 2)`` of a regular ``k``-gon with circumradius ``radius`` (normalised)."""
    t = np.deg2rad(rotation_deg + 360.0 * np.arange(k) / k)
    return np.stack([centre[0] + radius * np.cos(t), centre[1] + radius * np.sin(t)], axis=1)


def octagon(inset: float = 0.0) -> np.ndarray:
    """Octagon whose flats touch the bounding square, shrunk by ``inset`` (normalised) on each flat."""
    r_flat = 0.5 - inset
    return regular_polygon(8, 22.5, r_flat / np.cos(np.pi / 8))
