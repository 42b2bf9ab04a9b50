"""Sticker styles a person can make, side by side: the same attack (a model, a target, the scene's
conditions) made as a free-colour inkjet square, solid vinyl colours, black-and-white graffiti, an RP2 mask
found by the L1 search, and a poster that keeps the legend; each scored the same way: held-out renders,
the independent drive-by, and the scoring photo sets printed and relit (the band over the validated
relighting models, worst first: the headline).

Run: python bench/sticker_styles.py [--model gtsrb-cnn] [--target speed_limit_80] [--styles inkjet,vinyl,...]
        [--steps N] [--reuse STYLE=ATTACK_DIR ...]
(--reuse: an attack folder made with that style and the same model, target and scene, scored instead of
re-run.) Writes docs/results/sticker_styles.md (+ .json, + sticker_styles.png: each style on the sign)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import RESULTS, write_result  # noqa: E402

from patchsim.cli import main as patchsim  # noqa: E402

STYLES = {  # name: the attack's options (the scene's own 14.5% layout unless the style sets its mask)
    "inkjet": [],
    "vinyl": ["--style", "vinyl"],
    "vinyl8": ["--style", "vinyl:8"],
    "graffiti": ["--style", "graffiti"],
    "mask-auto": ["--mask", "auto:0.145"],
    "poster-keep-legend": ["--mode", "poster", "--keep-legend"],
}
SETS = ("rp2", "street:asadi", "street:praveen")


def run_style(name: str, folder: Path, model: str, target: str, steps: int | None) -> Path:
    argv = ["attack", "stop_driveby", "--model", model, "--target", target, *STYLES[name], "--out", str(folder)]
    if patchsim(argv + (["--steps", str(steps)] if steps else [])) != 0:
        raise SystemExit(f"attack failed: {' '.join(argv)}")
    return folder


def row(name: str, folder: Path) -> dict:
    rec = json.loads((folder / "attack.json").read_text())
    s = rec["sim_to_real"] or {}
    photos = s.get("photos") or {}
    return {"style": name, "folder": str(folder), "area": rec["export"]["sticker_area_fraction"],
            "validation": rec["final_success"], "steps": rec["steps_run"], "held_out": s.get("held_out_renders"),
            "driveby": s.get("independent_simulator"),
            "photos": {k: [photos[k].get("relit_worst"), photos[k].get("relit"), photos[k].get("relit_best")]
                       for k in SETS if k in photos and photos[k].get("missing") is None}}


def picture(rows: list[dict], path: Path) -> None:
    tiles = []
    for r in rows:
        sign = cv2.imread(str(Path(r["folder"]) / "sign.png"), cv2.IMREAD_UNCHANGED)
        rgb = sign[..., :3].astype(np.float32)
        a = sign[..., 3:4].astype(np.float32) / 255
        img = cv2.resize((rgb * a + 255 * (1 - a)).astype(np.uint8), (256, 256), interpolation=cv2.INTER_AREA)
        bar = np.full((28, 256, 3), 255, np.uint8)
        cv2.putText(bar, r["style"], (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(np.concatenate([img, bar], 0))
    cv2.imwrite(str(path), np.concatenate(tiles, 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="gtsrb-cnn")
    ap.add_argument("--target", default="speed_limit_80")
    ap.add_argument("--styles", default=",".join(STYLES), help=f"comma-separated, of {', '.join(STYLES)}")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--reuse", action="append", default=[], help="STYLE=ATTACK_DIR")
    a = ap.parse_args()
    names = a.styles.split(",")
    unknown = [n for n in names if n not in STYLES]
    reuse = dict(r.split("=", 1) for r in a.reuse)
    if unknown or any(k not in STYLES for k in reuse):
        raise SystemExit(f"unknown style {unknown or list(reuse)}: allowed {', '.join(STYLES)}")
    with tempfile.TemporaryDirectory() as tmp:
        rows = [row(n, Path(reuse[n]) if n in reuse else run_style(n, Path(tmp) / n, a.model, a.target, a.steps))
                for n in names]
        picture(rows, RESULTS / "sticker_styles.png")

    def pct(v):
        return "-" if v is None else f"{100 * v:.1f}%"

    table = ["| style | area of the face | validation | held-out renders | drive-by | " +
             " | ".join(f"{k} relit worst / default / best" for k in SETS) + " |",
             "| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in SETS) + " |"]
    for r in rows:
        cells = [" / ".join([f"**{pct(v[0])}**", pct(v[1]), pct(v[2])]) if (v := r["photos"].get(k)) else "-" for k in SETS]
        table.append(f"| {r['style']} | {pct(r['area'])} | {pct(r['validation'])} ({r['steps']} steps) | {pct(r['held_out'])} | "
                     f"{pct(r['driveby'])} | " + " | ".join(cells) + " |")
    md = (f"# Sticker styles\n\n`{a.model}`, targeted `{a.target}`, `scenes/stop_driveby.yaml`; every style through the "
          "same evaluator. Relit photos: success over the scoring sets' signs, printed (inkjet, or flat vinyl colours "
          "for vinyl styles) and relit with each sign's light; worst / default / best over the validated relighting "
          "models, the worst in bold (the headline).\n\n" + "\n".join(table) +
          "\n\n![each style on the sign](sticker_styles.png)\n\n"
          f"Reproduce: `python bench/sticker_styles.py {' '.join(sys.argv[1:])}`\n")
    print(md)
    write_result("sticker_styles", md, {"rows": rows})


if __name__ == "__main__":
    main()
