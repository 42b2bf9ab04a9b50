"""Solid-colour vinyl stickers: the palette of real vinyl colours, the sticker styles that use it, the
relaxed colour assignment the optimiser differentiates, and the per-colour cut files (SVG at true size
in millimetres) a plotter cuts.

A vinyl sticker is made of flat colours: each sticker pixel is exactly one palette colour, no mixing and
no dithering, so its "printer" is the identity on the palette's colours (they are the material's own,
measured or specified). The optimiser keeps every colour's logit per pixel; the sticker it renders is
the hard choice among the ``k`` colours most used so far, with the softmax's gradient passed straight
through (Bengio et al. 2013's straight-through estimator), so what is optimised is what is cut."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from patchsim.errors import PatchsimError
from patchsim.io.images import atomic_write_bytes

VINYL_FILE = Path(__file__).resolve().parents[1] / "data" / "vinyl_palette.json"
STYLES = ("inkjet", "vinyl", "vinyl:K", "graffiti")  # as the command line names them
DEFAULT_K = 4  # colours of a plain --style vinyl
GRAFFITI = ("black", "white")  # RP2's black-and-white stickers
REGISTRATION_MM = 10.0  # registration marks sit this far outside the face's bounding square


@dataclass(frozen=True)
class VinylPalette:
    """Vinyl colours: ``names`` and ``srgb`` (each (r, g, b) in [0, 1]), and where they come from."""

    names: tuple[str, ...]
    srgb: tuple[tuple[float, float, float], ...]
    source: str

    def tensor(self) -> torch.Tensor:
        """The colours ``(P, 3)`` float32 sRGB in [0, 1]."""
        return torch.tensor(self.srgb, dtype=torch.float32)

    def select(self, names: tuple[str, ...]) -> "VinylPalette":
        """The palette with only ``names`` (in that order)."""
        missing = [n for n in names if n not in self.names]
        if missing:
            raise PatchsimError(f"vinyl palette has no {', '.join(missing)}; it has {', '.join(self.names)}")
        return VinylPalette(names, tuple(self.srgb[self.names.index(n)] for n in names), self.source)


def load_vinyl_palette(path: str | Path | None = None) -> VinylPalette:
    """A vinyl palette from JSON (default: the shipped one): ``{"about": ..., "colours": [{"name": ...,
    "srgb": [r, g, b]}, ...]}`` (sRGB in [0, 1]; the shipped colours are FHWA boxes' nominal colours, see
    its ``about``)."""
    p = Path(path) if path else VINYL_FILE
    try:
        doc = json.loads(p.read_text())
        rows = doc["colours"]
        names = tuple(str(r["name"]) for r in rows)
        srgb = tuple(tuple(float(v) for v in r["srgb"]) for r in rows)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise PatchsimError(f"cannot read vinyl palette {p}: {e}") from None
    if len(names) < 2 or len(set(names)) != len(names) or any(len(c) != 3 for c in srgb):
        raise PatchsimError(f"vinyl palette {p}: needs at least 2 colours with distinct names and [r, g, b] values")
    if not all(0.0 <= v <= 1.0 for c in srgb for v in c):
        raise PatchsimError(f"vinyl palette {p}: colour values must be in [0, 1]")
    return VinylPalette(names, srgb, str(doc.get("about", p.name)))


def parse_style(style: str) -> tuple[str, int | None]:
    """``(kind, k)`` of a sticker style: "inkjet" -> ("inkjet", None); "vinyl" -> ("vinyl", 4); "vinyl:K"
    -> ("vinyl", K) for K >= 2; "graffiti" -> ("graffiti", 2). Raises on anything else."""
    m = re.fullmatch(r"(inkjet|graffiti|vinyl)(?::(\d+))?", style or "")
    if not m or (m.group(2) is not None and m.group(1) != "vinyl"):
        raise PatchsimError(f"style {style!r} is invalid: must be one of {', '.join(STYLES)}")
    kind = m.group(1)
    if kind == "inkjet":
        return kind, None
    if kind == "graffiti":
        return kind, len(GRAFFITI)
    k = int(m.group(2)) if m.group(2) else DEFAULT_K
    if k < 2:
        raise PatchsimError(f"style {style!r} is invalid: a vinyl sticker needs at least 2 colours")
    return kind, k


def style_palette(style: str, path: str | Path | None = None) -> VinylPalette | None:
    """The colours a style may use (None for inkjet): graffiti black and white, vinyl the whole palette
    (the optimiser keeps the ``k`` it uses most); refused when the palette has fewer than ``k``."""
    kind, k = parse_style(style)
    if kind == "inkjet":
        return None
    palette = load_vinyl_palette(path)
    if kind == "graffiti":
        return palette.select(GRAFFITI)
    if k > len(palette.names):
        raise PatchsimError(f"style {style!r} is invalid: the vinyl palette has {len(palette.names)} colours")
    return palette


def vinyl_colours(logits: torch.Tensor, palette: torch.Tensor, k: int, mask: torch.Tensor,
                  temperature: float = 1.0) -> torch.Tensor:
    """Sticker colours ``(1, 3, N, N)`` from per-pixel colour ``logits`` ``(1, P, N, N)`` over ``palette``
    ``(P, 3)``: each pixel exactly one of the ``k`` colours most chosen inside ``mask`` ``(1, 1, N, N)``
    (ties to the lower index), its best among them; the gradient is the softmax's over those ``k``
    (straight-through). Deterministic in ``logits``."""
    if logits.ndim != 4 or logits.shape[1] != palette.shape[0]:
        raise PatchsimError(f"vinyl logits {tuple(logits.shape)} do not match a palette of {palette.shape[0]} colours")
    p = palette.shape[0]
    with torch.no_grad():
        choice = logits.argmax(1)  # (1, N, N)
        inside = mask[:, 0] > 0
        counts = torch.bincount(choice[inside], minlength=p).float() - torch.arange(p, device=logits.device) * 1e-3
        keep = torch.zeros(p, dtype=torch.bool, device=logits.device)
        keep[counts.topk(min(k, p)).indices] = True
    masked = logits.masked_fill(~keep[None, :, None, None], float("-inf"))
    soft = torch.softmax(masked / temperature, 1)
    hard = torch.nn.functional.one_hot(masked.argmax(1), p).permute(0, 3, 1, 2).to(soft)
    weights = hard + soft - soft.detach()
    return torch.einsum("bpij,pc->bcij", weights, palette.to(logits))


def colour_indices(rgb: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Index ``(H, W)`` int64 of the nearest ``palette`` ``(P, 3)`` colour (same scale as ``rgb``) to each
    pixel of ``rgb`` ``(H, W, 3)``."""
    d = ((rgb[..., None, :].astype(np.float64) - palette[None, None].astype(np.float64)) ** 2).sum(-1)
    return d.argmin(-1)


def pixel_loops(region: np.ndarray) -> list[list[tuple[int, int]]]:
    """The outline of boolean ``region`` ``(H, W)`` along pixel edges: closed loops of (x, y) grid corners
    (pixel (r, c) spans x in [c, c + 1], y in [r, r + 1]), straight runs merged. Filled with the even-odd
    rule the loops cover exactly the region's pixels (holes included)."""
    r = np.pad(region.astype(bool), 1)
    nxt: dict[tuple[int, int], list[tuple[int, int]]] = {}

    def edge(a, b):
        nxt.setdefault(a, []).append(b)

    ys, xs = np.nonzero(r[1:-1, 1:-1])
    for y, x in zip(ys.tolist(), xs.tolist()):
        if not r[y, x + 1]:
            edge((x, y), (x + 1, y))  # top, going right
        if not r[y + 1, x + 2]:
            edge((x + 1, y), (x + 1, y + 1))  # right, going down
        if not r[y + 2, x + 1]:
            edge((x + 1, y + 1), (x, y + 1))  # bottom, going left
        if not r[y + 1, x]:
            edge((x, y + 1), (x, y))  # left, going up
    loops = []
    while nxt:
        start = next(iter(nxt))
        loop, at = [start], start
        while True:
            outs = nxt[at]
            b = outs.pop()
            if not outs:
                del nxt[at]
            if b == start:
                break
            loop.append(b)
            at = b
        loops.append(_merge_straight(loop))
    return loops


def _merge_straight(loop: list[tuple[int, int]]) -> list[tuple[int, int]]:
    n = len(loop)
    out = []
    for i, p in enumerate(loop):
        a, b = loop[i - 1], loop[(i + 1) % n]
        if (p[0] - a[0]) * (b[1] - p[1]) != (p[1] - a[1]) * (b[0] - p[0]):  # a corner, not a straight run
            out.append(p)
    return out or loop


def svg_path(loops: list[list[tuple[int, int]]], mm_per_px: float, offset_mm: float) -> str:
    """SVG path data (millimetres) of ``loops`` in pixel-corner units."""
    parts = []
    for loop in loops:
        pts = [f"{offset_mm + x * mm_per_px:.3f} {offset_mm + y * mm_per_px:.3f}" for x, y in loop]
        parts.append("M " + " L ".join(pts) + " Z")
    return " ".join(parts)


def _registration_marks(side_mm: float, offset_mm: float) -> str:
    """Crosses in circles just outside the face's bounding square's corners: the same in every colour's
    file, so the layers and the sign line up."""
    marks = []
    for cx in (offset_mm - REGISTRATION_MM / 2, offset_mm + side_mm + REGISTRATION_MM / 2):
        for cy in (offset_mm - REGISTRATION_MM / 2, offset_mm + side_mm + REGISTRATION_MM / 2):
            marks.append(f'<circle cx="{cx:.3f}" cy="{cy:.3f}" r="3"/><path d="M {cx - 4:.3f} {cy:.3f} H {cx + 4:.3f} '
                         f'M {cx:.3f} {cy - 4:.3f} V {cy + 4:.3f}"/>')
    return ('<g id="registration" fill="none" stroke="#000000" stroke-width="0.25">' + "".join(marks) + "</g>")


def write_cut_files(folder: str | Path, sticker_rgb: np.ndarray, alpha: np.ndarray, palette: VinylPalette,
                    side_mm: float) -> list[Path]:
    """One SVG cut file per vinyl colour the sticker uses, ``cut_<name>.svg`` in ``folder``: the colour's
    regions as even-odd filled outlines along the sticker's pixel edges, at true size (``width`` and
    ``height`` in mm; user units are millimetres, the face's bounding square ``side_mm`` across starting
    :data:`REGISTRATION_MM` in from the top-left), with registration marks at the square's corners.
    ``sticker_rgb`` ``(N, N, 3)`` uint8 (each pixel a palette colour) and ``alpha`` ``(N, N)`` (> 0: the
    sticker) cover the face's bounding square. Returns the files written."""
    n = sticker_rgb.shape[0]
    if sticker_rgb.shape[:2] != (n, n) or alpha.shape != (n, n):
        raise PatchsimError(f"cut files need a square sticker and its alpha, got {sticker_rgb.shape} and {alpha.shape}")
    colours = np.round(np.asarray(palette.srgb) * 255)
    idx = colour_indices(sticker_rgb, colours)
    inside = alpha > 0
    offset, size = REGISTRATION_MM, side_mm + 2 * REGISTRATION_MM
    written = []
    for i, name in enumerate(palette.names):
        region = inside & (idx == i)
        if not region.any():
            continue
        r, g, b = (int(v) for v in colours[i])
        d = svg_path(pixel_loops(region), side_mm / n, offset)
        doc = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{size:.3f}mm" height="{size:.3f}mm" '
               f'viewBox="0 0 {size:.3f} {size:.3f}">\n<title>patchsim cut file: {name} vinyl, sign face '
               f'{side_mm:.1f} mm across; user units are millimetres</title>\n{_registration_marks(side_mm, offset)}\n'
               f'<path id="cut-{name}" fill="rgb({r},{g},{b})" fill-rule="evenodd" stroke="#000000" '
               f'stroke-width="0.1" d="{d}"/>\n</svg>\n')
        path = Path(folder) / f"cut_{name}.svg"
        atomic_write_bytes(path, doc.encode())
        written.append(path)
    return written
