"""Where on the sign should a sticker of a given area go? Runs a short attack for each candidate layout
and scores it on a selection set of EOT conditions (seed 777) that is neither the optimiser's validation
set nor the held-out set (seed 424242) that bench/attack_report.py reports, and on the attacker photos
(street:praveen-train, printed sticker stuck on and relit), never on a scoring set, so choosing a layout
here does not leak into the reported figures.

Run: python bench/layout_search.py [--scene stop_driveby] [--model gtsrb-cnn] [--target speed_limit_80]
                                    [--steps 200] [--only NAME ...]
Prints one line per layout: sticker area, validation, selection-set and attacker-photo success, wall time."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import yaml

import attack_report
from patchsim.jobs.attack import AttackRequest, run_attack
from patchsim.realphoto.batches import composite_real, prepare_real_photos
from patchsim.printing.printer import inkjet_printer
from patchsim.scene import load_scene
from patchsim.signs import sticker_mask
from patchsim.io.stickers import load_sticker

ATTACKER_PHOTOS = "street:praveen-train"

SELECTION_SEED = 777
# face millimetres, origin top-left of the 750 mm bounding square; each about 14.5% of the face
LAYOUTS = {
    "centre": [[245, 245, 260, 260]],
    "up": [[245, 200, 260, 260]],
    "up2": [[245, 160, 260, 260]],
    "down": [[245, 290, 260, 260]],
    "down2": [[245, 330, 260, 260]],
    "down3": [[245, 370, 260, 260]],
    "down2_left": [[190, 330, 260, 260]],
    "down2_right": [[300, 330, 260, 260]],
    "left": [[190, 245, 260, 260]],
    "right": [[300, 245, 260, 260]],
    "up_left": [[190, 200, 260, 260]],
    "down_left": [[190, 290, 260, 260]],
    "wide": [[125, 307, 500, 135]],
    "tall": [[290, 180, 170, 390]],
    "landscape": [[225, 263, 300, 225]],
    "portrait": [[263, 225, 225, 300]],
    "two_squares": [[110, 280, 185, 185], [455, 280, 185, 185]],
    "bars_across": [[145, 240, 460, 75], [145, 435, 460, 75]],
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scene", default="stop_driveby")
    ap.add_argument("--model", default="gtsrb-cnn")
    ap.add_argument("--target", default="speed_limit_80")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--only", nargs="*")
    a = ap.parse_args()
    scene_file = load_scene(a.scene).path
    base = yaml.safe_load(Path(scene_file).read_text())
    net = attack_report.model(a.model)
    photos = prepare_real_photos(ATTACKER_PHOTOS, net.input_size[0], load_scene(a.scene).crop.margin)
    with tempfile.TemporaryDirectory() as tmp:
        for name, rects in LAYOUTS.items():
            if a.only and name not in a.only:
                continue
            doc = {**base, "name": f"{base['name']}_{name}", "sticker": {"regions": [{"rect": r} for r in rects]}}
            path = Path(tmp) / f"{name}.yaml"
            path.write_text(yaml.safe_dump(doc))
            t = time.time()
            req = AttackRequest(str(path), model=a.model, target=a.target, settings={"steps": a.steps},
                                weights=attack_report.LISA if a.model == "lisa-cnn" else None, sim_to_real=False, dpi=60.0)
            rec = run_attack(req, Path(tmp) / name, progress=False)
            png = Path(tmp) / name / "sticker.png"
            sel = attack_report.held_out(str(path), png, a.model, a.target, seed=SELECTION_SEED)
            with torch.no_grad():
                printed = inkjet_printer()(load_sticker(str(png), 128)[None])
                mask = sticker_mask(load_scene(str(path)), 128)[None]
                crops = composite_real(photos, torch.arange(len(photos)), printed, mask)
                real = float((net(crops).argmax(1) == net.classes.index(a.target)).float().mean())
            print(f"{name:12s} rects {rects}  area {100 * rec.export.sticker_area_fraction:.1f}%  "
                  f"validation {100 * rec.final_success:.1f}%  selection {100 * sel:.1f}%  "
                  f"attacker photos {100 * real:.1f}%  {time.time() - t:.0f} s", flush=True)


if __name__ == "__main__":
    main()
