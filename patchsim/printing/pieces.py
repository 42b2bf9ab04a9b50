"""Sticker pieces: the connected parts of a sticker mask, in sign-face millimetres."""

from __future__ import annotations

import string
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Piece:
    """One sticker piece: ``label`` (A, B, ...), bounding box ``x_mm, y_mm, w_mm, h_mm`` in the face's
    bounding square (origin top-left) and ``contour_mm`` ``(K, 2)`` outline for the cut line."""

    label: str
    x_mm: float
    y_mm: float
    w_mm: float
    h_mm: float
    contour_mm: np.ndarray


def find_pieces(mask: np.ndarray, side_mm: float, min_area_mm2: float = 25.0) -> list[Piece]:
    """Pieces of a coverage mask ``(P, P)`` (values in [0, 1]) covering a ``side_mm`` square, labelled
    top-to-bottom then left-to-right. Specks under ``min_area_mm2`` are dropped."""
    p = mask.shape[0]
    mm_per_px = side_mm / p
    binary = (mask >= 0.5).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    found = []
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if area * mm_per_px**2 < min_area_mm2:
            continue
        comp = (lab[y:y + h, x:x + w] == i).astype(np.uint8)
        contours, _ = cv2.findContours(comp, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        c = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.float64)
        # pixel-edge outline in mm (contour points are pixel centres; grow by half a pixel outwards)
        centre = c.mean(0)
        c = c + 0.5 * np.sign(c - centre)
        contour = (c + [x, y] + 0.5) * mm_per_px
        found.append((y, x, x * mm_per_px, y * mm_per_px, w * mm_per_px, h * mm_per_px, contour))
    found.sort(key=lambda t: (round(t[0] * mm_per_px / 20), t[1]))
    labels = list(string.ascii_uppercase) + [a + b for a in string.ascii_uppercase for b in string.ascii_uppercase]
    return [Piece(labels[k], f[2], f[3], f[4], f[5], f[6]) for k, f in enumerate(found)]
