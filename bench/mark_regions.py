"""Marking relighting-validation regions on street photos: surfaces of standard sheeting colour (green
street-name signs, yellow warning signs, blue signs, ...) near a photographed stop sign, under its light.

Two steps, the second by a person:

    python bench/mark_regions.py propose street:praveen-train --out /tmp/cand.json --sheet /tmp/sheet.png
    # look at the sheet; list the candidates that are really a sign surface of that colour
    python bench/mark_regions.py accept /tmp/cand.json --keep 0,3,5-9 --into bench/data/relight_regions.json

``propose`` finds compact, convex, saturated components of each colour family within a few sign sizes
of each annotated stop sign and draws them numbered on a contact sheet; ``accept`` appends the kept
ones (polygon in image pixels, colour family, set, file, the stop box they are near) to the regions
file, replacing earlier entries of the same set and file. The regions file is what
``bench/relight_validation.py`` reads."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from patchsim.io.images import read_image, write_png
from patchsim.realphoto.relight_regions import FAMILY_HSV, family_mask
from patchsim.realphoto.sources import photo_source

MIN_AREA_PX = 40
MIN_SOLIDITY = 0.8
MIN_RECT_FILL = 0.6
MAX_TEXTURE = 0.2  # std of brightness over mean inside the component: sheeting is flat, foliage is not


def _candidates(photo: np.ndarray, box: tuple) -> list[tuple[str, np.ndarray]]:
    """(family, polygon (K, 2) px) of every compact saturated component near the stop ``box``."""
    h, w = photo.shape[:2]
    x1, y1, x2, y2 = box
    bw, bh = x2 - x1, y2 - y1
    nx0, nx1 = int(max(0, x1 - 4 * bw)), int(min(w, x2 + 4 * bw))
    ny0, ny1 = int(max(0, y1 - 6 * bh)), int(min(h, y2 + 3 * bh))
    out = []
    stop = np.zeros((h, w), bool)
    stop[int(y1):int(y2) + 1, int(x1):int(x2) + 1] = True
    for fam in FAMILY_HSV:
        m = family_mask(photo, fam) & ~stop
        keep = np.zeros_like(m)
        keep[ny0:ny1, nx0:nx1] = m[ny0:ny1, nx0:nx1]
        keep = cv2.morphologyEx(keep.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        keep = cv2.morphologyEx(keep, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
        contours, _ = cv2.findContours(keep, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for c in contours:
            area = cv2.contourArea(c)
            bx, by, bw_, bh_ = cv2.boundingRect(c)
            if area < MIN_AREA_PX or area > 0.2 * h * w or bx <= 0 or by <= 0 or bx + bw_ >= w or by + bh_ >= h:
                continue
            hull = cv2.convexHull(c)
            rect = cv2.minAreaRect(c)
            if area / max(cv2.contourArea(hull), 1) < MIN_SOLIDITY or area / max(rect[1][0] * rect[1][1], 1) < MIN_RECT_FILL:
                continue
            cm = np.zeros((h, w), np.uint8)
            cv2.drawContours(cm, [c], -1, 1, -1)
            cm = (cv2.erode(cm, np.ones((3, 3), np.uint8)) > 0) & (keep > 0)  # the colour's own pixels, holes open
            v = photo[cm].astype(np.float64).mean(1)
            if len(v) < 50 or v.std() / max(v.mean(), 1) > MAX_TEXTURE:
                continue
            poly = cv2.approxPolyDP(hull, 0.01 * cv2.arcLength(hull, True), True).reshape(-1, 2)
            if len(poly) >= 3:
                out.append((fam, poly.astype(float)))
    return out


def _tile(photo: np.ndarray, poly: np.ndarray, label: str) -> np.ndarray:
    """A 140 x 160 tile: the photo around ``poly`` with its outline drawn, and ``label`` above."""
    x0, y0 = np.maximum(poly.min(0) - 25, 0).astype(int)
    x1, y1 = np.minimum(poly.max(0) + 25, photo.shape[1::-1]).astype(int)
    crop = photo[y0:y1, x0:x1].copy()
    s = 140 / max(crop.shape[:2])
    crop = cv2.resize(crop, (max(1, int(crop.shape[1] * s)), max(1, int(crop.shape[0] * s))))
    cv2.polylines(crop, [((poly - [x0, y0]) * s).astype(np.int32)], True, (255, 0, 255), 1)
    tile = np.full((160, 140, 3), 255, np.uint8)
    tile[20:20 + crop.shape[0], :crop.shape[1]] = crop
    cv2.putText(tile, label, (2, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return tile


def _write_pages(tiles: list[np.ndarray], sheet: Path, cols: int = 10, rows_per_page: int = 6) -> None:
    """Tiles in pages SHEET_0.png, SHEET_1.png, ... of ``rows_per_page`` x ``cols``, readable at a glance."""
    if not tiles:
        return
    while len(tiles) % cols:
        tiles.append(np.full_like(tiles[0], 255))
    rows = [np.concatenate(tiles[i:i + cols], 1) for i in range(0, len(tiles), cols)]
    for page, k in enumerate(range(0, len(rows), rows_per_page)):
        write_png(sheet.with_name(f"{sheet.stem}_{page}{sheet.suffix}"), np.concatenate(rows[k:k + rows_per_page], 0))


def propose(source: str, out: Path, sheet: Path, files: str = "") -> None:
    cands, tiles = [], []
    only = set(filter(None, files.split(",")))
    for sp in photo_source(source):
        if only and Path(sp.path).name not in only:
            continue
        photo = read_image(sp.path)
        for fam, poly in _candidates(photo, sp.box):
            k = len(cands)
            cands.append({"set": source, "file": Path(sp.path).name, "sign": sp.name, "stop_box": list(sp.box),
                          "family": fam, "polygon": poly.round(1).tolist()})
            tiles.append(_tile(photo, poly, f"{k} {fam}"))
    out.write_text(json.dumps(cands, indent=1))
    _write_pages(tiles, sheet)
    print(f"{len(cands)} candidates -> {out}, sheet {sheet}")


def context(source: str, sheet: Path, cols: int = 8, tile: int = 170) -> None:
    """Pages of the surroundings of each stop sign (numbered by photo), to see which photos show other
    sign colours at all before proposing regions in them."""
    tiles, seen = [], set()
    for sp in photo_source(source):
        f = Path(sp.path).name
        if f in seen:
            continue
        seen.add(f)
        photo = read_image(sp.path)
        x1, y1, x2, y2 = sp.box
        w, h = x2 - x1, y2 - y1
        c = photo[int(max(0, y1 - 5 * h)):int(y2 + 2 * h), int(max(0, x1 - 3 * w)):int(x2 + 3 * w)]
        s = tile / max(c.shape[:2])
        c = cv2.resize(c, (max(1, int(c.shape[1] * s)), max(1, int(c.shape[0] * s))), interpolation=cv2.INTER_AREA)
        t = np.full((tile + 16, tile, 3), 255, np.uint8)
        t[16:16 + c.shape[0], :c.shape[1]] = c
        cv2.putText(t, f, (2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(t)
    _write_pages(tiles, sheet, cols, 5)


def from_hints(source: str, hints_file: Path, out: Path, sheet: Path) -> None:
    """Candidates from a person's hints: [{file, family, rect: [u0, v0, u1, v1]}], the rect in units of the
    stop box (u = (x - x1) / width, v = (y - y1) / height, as the context pages' grid shows). In each rect
    the largest component of the family's colour (yellow hints also try fluorescent yellow-green) becomes
    the region, its minimum-area rectangle the polygon."""
    hints = json.loads(hints_file.read_text())
    signs = {}
    for sp in photo_source(source):
        signs.setdefault(Path(sp.path).name, sp)
    cands, tiles = [], []
    for hnt in hints:
        sp = signs.get(hnt["file"])
        if sp is None:
            print(f"no photo {hnt['file']} in {source}")
            continue
        photo = read_image(sp.path)
        x1, y1, x2, y2 = sp.box
        u0, v0, u1, v1 = hnt["rect"]
        rx0, rx1 = int(max(0, x1 + u0 * (x2 - x1))), int(min(photo.shape[1], x1 + u1 * (x2 - x1)))
        ry0, ry1 = int(max(0, y1 + v0 * (y2 - y1))), int(min(photo.shape[0], y1 + v1 * (y2 - y1)))
        best = None
        fams = [hnt["family"]] + (["fluorescent_yellow_green"] if hnt["family"] == "yellow" else [])
        for fam in fams:
            m = np.zeros(photo.shape[:2], np.uint8)
            m[ry0:ry1, rx0:rx1] = family_mask(photo[ry0:ry1, rx0:rx1], fam)
            m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
            n, lab, stats, _ = cv2.connectedComponentsWithStats(m)
            if n > 1:
                k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
                if best is None or stats[k, cv2.CC_STAT_AREA] > best[0]:
                    pts = np.argwhere(lab == k)[:, ::-1].astype(np.float32)
                    best = (stats[k, cv2.CC_STAT_AREA], fam, cv2.boxPoints(cv2.minAreaRect(pts)))
        if best is None or best[0] < 12:
            print(f"{hnt['file']}: no {hnt['family']} pixels in the rect")
            continue
        _, fam, poly = best
        k = len(cands)
        cands.append({"set": source, "file": hnt["file"], "sign": sp.name, "stop_box": list(sp.box), "family": fam,
                      "polygon": np.asarray(poly, float).round(1).tolist()})
        tiles.append(_tile(photo, poly, f"{k} {fam[:12]}"))
    out.write_text(json.dumps(cands, indent=1))
    _write_pages(tiles, sheet)
    print(f"{len(cands)} regions from {len(hints)} hints -> {out}, sheet {sheet}")


def _indices(spec: str) -> list[int]:
    out = []
    for part in filter(None, spec.split(",")):
        a, _, b = part.partition("-")
        out.extend(range(int(a), int(b or a) + 1))
    return out


def accept(cand_file: Path, keep: str, into: Path, relabel: str) -> None:
    cands = json.loads(cand_file.read_text())
    fam_of = dict(kv.split("=") for kv in filter(None, relabel.split(",")))
    kept = []
    for i in _indices(keep):
        c = dict(cands[i])
        c["family"] = fam_of.get(str(i), c["family"])
        kept.append(c)
    old = json.loads(into.read_text())["regions"] if into.exists() else []
    done = {(c["set"], c["file"]) for c in cands}
    regions = [r for r in old if (r["set"], r["file"]) not in done] + kept
    doc = {"about": "Regions of standard sheeting colour near photographed stop signs (bench/mark_regions.py): "
                    "proposed by colour, kept by a person who looked at each one. Polygons in image pixels.",
           "regions": regions}
    into.parent.mkdir(parents=True, exist_ok=True)
    into.write_text(json.dumps(doc, indent=1))
    print(f"kept {len(kept)} of {len(cands)}; {len(regions)} regions in {into}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("propose")
    p.add_argument("source")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--sheet", type=Path, required=True)
    p.add_argument("--files", default="", help="only these photos (comma-separated file names)")
    h = sub.add_parser("hints")
    h.add_argument("source")
    h.add_argument("hints", type=Path)
    h.add_argument("--out", type=Path, required=True)
    h.add_argument("--sheet", type=Path, required=True)
    c = sub.add_parser("context")
    c.add_argument("source")
    c.add_argument("--sheet", type=Path, required=True)
    a = sub.add_parser("accept")
    a.add_argument("candidates", type=Path)
    a.add_argument("--keep", required=True, help="indices: 0,3,5-9")
    a.add_argument("--relabel", default="", help="index=family,...")
    a.add_argument("--into", type=Path, default=Path(__file__).parent / "data" / "relight_regions.json")
    args = ap.parse_args(argv)
    if args.cmd == "propose":
        propose(args.source, args.out, args.sheet, args.files)
    elif args.cmd == "hints":
        from_hints(args.source, args.hints, args.out, args.sheet)
    elif args.cmd == "context":
        context(args.source, args.sheet)
    else:
        accept(args.candidates, args.keep, args.into, args.relabel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
