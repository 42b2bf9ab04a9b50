"""Vinyl palette, sticker styles, the straight-through colour assignment and the SVG cut files."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch

from patchsim.errors import PatchsimError
from patchsim.printing import vinyl
from patchsim.realphoto.relight_regions import design_srgb


def even_odd_inside(points: np.ndarray, loops: list[np.ndarray]) -> np.ndarray:
    """Bool ``(M,)``: points ``(M, 2)`` inside ``loops`` (each ``(K, 2)`` closed) by the even-odd rule."""
    inside = np.zeros(len(points), bool)
    px, py = points[:, 0:1], points[:, 1:2]
    for loop in loops:
        a, b = loop, np.roll(loop, -1, 0)
        crosses = (a[None, :, 1] > py) != (b[None, :, 1] > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = a[None, :, 0] + (py - a[None, :, 1]) * (b[None, :, 0] - a[None, :, 0]) / (b[None, :, 1] - a[None, :, 1])
        inside ^= (crosses & (px < x_at)).sum(1) % 2 == 1
    return inside


def centres(n: int) -> np.ndarray:
    ys, xs = np.mgrid[0:n, 0:n]
    return np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], 1)


def test_shipped_palette_is_the_fhwa_families_nominal_colours():
    p = vinyl.load_vinyl_palette()
    assert p.names[:2] == ("black", "white") and len(p.names) == 9 and "FHWA" in p.source
    import json

    rows = json.loads(vinyl.VINYL_FILE.read_text())["colours"]
    for r in rows:  # each shipped colour is its FHWA family's nominal colour (rounded to 4 decimals)
        assert np.allclose(p.srgb[p.names.index(r["name"])], design_srgb(r["fhwa_family"]), atol=6e-5)
    assert vinyl.style_palette("graffiti").names == ("black", "white")
    assert vinyl.style_palette("inkjet") is None and vinyl.style_palette("vinyl:3").names == p.names


@pytest.mark.parametrize("style, parsed", [("inkjet", ("inkjet", None)), ("vinyl", ("vinyl", 4)),
                                           ("vinyl:6", ("vinyl", 6)), ("graffiti", ("graffiti", 2))])
def test_styles_parse(style, parsed):
    assert vinyl.parse_style(style) == parsed


@pytest.mark.parametrize("style", ["vinyl:1", "vinyl:x", "graffiti:3", "paint", "", "vinyl:", "inkjet:2"])
def test_bad_styles_are_refused(style):
    with pytest.raises(PatchsimError, match="invalid"):
        vinyl.parse_style(style)
    with pytest.raises(PatchsimError, match="invalid"):
        vinyl.style_palette("vinyl:12")  # more colours than the palette has


def test_bad_palette_files_are_refused(tmp_path):
    for text in ("{", '{"colours": [{"name": "a", "srgb": [0, 0, 0]}]}',
                 '{"colours": [{"name": "a", "srgb": [0, 0, 2]}, {"name": "b", "srgb": [1, 1, 1]}]}',
                 '{"colours": [{"name": "a", "fhwa_family": "red"}, {"name": "b", "srgb": [1, 1, 1]}]}'):
        f = tmp_path / "p.json"
        f.write_text(text)
        with pytest.raises(PatchsimError):
            vinyl.load_vinyl_palette(f)


def test_vinyl_colours_are_k_palette_colours_with_a_gradient():
    g = torch.Generator().manual_seed(0)
    palette = vinyl.load_vinyl_palette().tensor()
    logits = torch.randn(1, len(palette), 16, 16, generator=g, requires_grad=True)
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:12, 4:12] = 1
    out = vinyl.vinyl_colours(logits, palette, 3, mask)
    px = out.detach()[0].permute(1, 2, 0).reshape(-1, 3)
    d = (px[:, None] - palette[None]).abs().amax(-1).min(1).values
    assert float(d.max()) < 1e-6  # every pixel exactly a palette colour
    used = {tuple(v) for v in px.numpy().round(5).tolist()}
    assert len(used) == 3  # the 3 most used colours, everywhere
    counts = torch.bincount(logits.argmax(1)[mask[:, 0] > 0], minlength=len(palette)).float()
    counts -= torch.arange(len(palette)) * 1e-3  # ties go to the lower index
    kept = {tuple(palette[i].numpy().round(5).tolist()) for i in counts.topk(3).indices.tolist()}
    assert used == kept
    (out * torch.linspace(0, 1, 3)[None, :, None, None]).sum().backward()
    assert logits.grad.abs().sum() > 0 and torch.isfinite(logits.grad).all()
    assert torch.equal(out, vinyl.vinyl_colours(logits, palette, 3, mask))  # deterministic


def test_pixel_loops_cover_exactly_the_region_holes_and_touching_corners_included():
    rng = np.random.default_rng(0)
    region = rng.random((24, 24)) < 0.45
    region[5:15, 5:15] = True
    region[8:11, 8:11] = False  # a hole
    region[0, 0] = region[1, 1] = True  # touching at a corner only
    region[0, 1] = region[1, 0] = False
    loops = [np.asarray(lp, float) for lp in vinyl.pixel_loops(region)]
    assert np.array_equal(even_odd_inside(centres(24), loops).reshape(24, 24), region)
    square = vinyl.pixel_loops(np.pad(np.ones((3, 5), bool), 2))
    assert len(square) == 1 and sorted(square[0]) == [(2, 2), (2, 5), (7, 2), (7, 5)]  # corners only


def test_cut_files_are_true_size_and_each_colour_covers_its_pixels(tmp_path):
    palette = vinyl.style_palette("vinyl")
    rgb = np.round(np.asarray(palette.srgb) * 255).astype(np.uint8)
    rng = np.random.default_rng(1)
    n, side = 32, 750.0
    idx = rng.integers(0, 3, (n, n))
    sticker = rgb[idx]
    alpha = np.zeros((n, n), np.uint8)
    alpha[8:24, 6:26] = 255
    files = vinyl.write_cut_files(tmp_path, sticker, alpha, palette, side)
    assert sorted(f.name for f in files) == sorted(f"cut_{palette.names[i]}.svg" for i in range(3))
    for f in files:
        root = ET.parse(f).getroot()
        size = side + 2 * vinyl.REGISTRATION_MM
        assert root.get("width") == f"{size:.3f}mm" and root.get("height") == f"{size:.3f}mm"
        assert [float(v) for v in root.get("viewBox").split()] == [0, 0, size, size]  # user units are mm
        ns = {"s": "http://www.w3.org/2000/svg"}
        assert len(root.findall("s:g[@id='registration']/s:circle", ns)) == 4
        name = f.stem[len("cut_"):]
        path = root.find(f"s:path[@id='cut-{name}']", ns)
        assert path.get("fill-rule") == "evenodd"
        loops = [np.array([[float(v) for v in p.split()] for p in re.split(r" L ", s.strip()[2:])])
                 for s in path.get("d").split(" Z") if s.strip()]
        mm = side / n
        pts = vinyl.REGISTRATION_MM + centres(n) * mm
        covered = even_odd_inside(pts, loops).reshape(n, n)
        want = (alpha > 0) & (idx == palette.names.index(name))
        assert np.array_equal(covered, want)
