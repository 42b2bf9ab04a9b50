"""Sign legends drawn as strokes with the proportions of the real sign, not a generic font.

The US stop sign (MUTCD R1-1, 30 in / 750 mm) carries "STOP" in FHWA Highway Gothic Series C letters
whose cap height is one third of the sign (10 in). Generic fonts are far wider and bolder than Series C;
drawn with one, the legend shrinks to fit the width and at 32 px blurs into a white bar that a GTSRB
classifier reads as ``no_entry``. The letter boxes and stroke width below are measured from a real
sign (``rp2/photos/uw17_stop_2484.jpg``, rectified to its bounding square): cap height 0.335, stroke
0.045, legend 0.84 wide, all in face units (fractions of the bounding square's side).

Each letter is a list of strokes in letter-box units (x in [0, 1] across the letter's width, y in
[0, 1] down its cap height); a stroke is a rectangle ``("rect", x0, y0, x1, y1)`` in stroke-inset
coordinates or a centre-line polyline ``("line", points)`` drawn with the stroke width."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from patchsim.signs.raster import Canvas

STOP_CAP_HEIGHT = 0.335
STOP_STROKE = 0.045
# letter boxes (x0, x1) in face units, measured on the rectified photograph and centred
STOP_LETTERS = (("S", 0.080, 0.255), ("T", 0.295, 0.455), ("O", 0.483, 0.672), ("P", 0.743, 0.920))


def _arc(cx: float, cy: float, rx: float, ry: float, t0: float, t1: float, n: int = 48) -> np.ndarray:
    """Points ``(n, 2)`` on an ellipse from angle ``t0`` to ``t1`` (degrees, y pointing down)."""
    t = np.deg2rad(np.linspace(t0, t1, n))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def letter_strokes(ch: str, w: float, h: float, sw: float) -> list[np.ndarray]:
    """Centre-line polylines (each ``(K, 2)``, face units relative to the letter box's top-left) of
    letter ``ch`` in a box ``w`` wide and ``h`` tall with stroke width ``sw``. Straight stems are
    polylines of two points; the caller draws every polyline ``sw`` wide."""
    s = sw / 2
    if ch == "T":
        return [np.array([[s, s], [w - s, s]]), np.array([[w / 2, s], [w / 2, h - s]])]
    if ch == "O":
        r = w / 2 - s
        top, bot = _arc(w / 2, s + r, r, r, 180, 360), _arc(w / 2, h - s - r, r, r, 0, 180)
        return [np.concatenate([top, bot, top[:1]])]
    if ch == "P":
        bowl = 0.57 * h  # bottom of the bowl, outer edge
        rb = (bowl - sw) / 2
        cx = w - s - rb
        arc = _arc(cx, s + rb, rb, rb, -90, 90)
        return [np.array([[s, s], [s, h - s]]), np.concatenate([[[s, s]], arc, [[s, bowl - s]]])]
    if ch == "S":
        mid = 0.48 * h  # centre line of the spine
        rx = w / 2 - s
        ru, rl = (mid - s) / 2, (h - s - mid) / 2
        upper = _arc(w / 2, s + ru, rx, ru, -28, -270)
        lower = _arc(w / 2, mid + rl, rx, rl, -90, 152)
        return [np.concatenate([upper, lower])]
    raise ValueError(f"no stroke drawing for letter {ch!r}")


def draw_legend(c: Canvas, letters: Sequence[tuple[str, float, float]], top: float, height: float,
                stroke: float, color) -> None:
    """Draw a legend of stroke letters on ``c``: each ``(letter, x0, x1)`` box spans ``[x0, x1]``
    across and ``[top, top + height]`` down (face units); strokes ``stroke`` wide in ``color`` (sRGB
    uint8)."""
    for ch, x0, x1 in letters:
        for line in letter_strokes(ch, x1 - x0, height, stroke):
            c.stroke(line + np.array([x0, top]), stroke, color)


def stop_legend(c: Canvas, color) -> None:
    """The MUTCD R1-1 "STOP" legend, centred on the face."""
    draw_legend(c, STOP_LETTERS, 0.5 - STOP_CAP_HEIGHT / 2, STOP_CAP_HEIGHT, STOP_STROKE, color)
