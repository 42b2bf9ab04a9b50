"""Accuracy of the shipped models on real and rendered data, for the README's model table and cards.

- GTSRB official test split (../shared/data/gtsrb/test.npz), top-1.
- RP2's 40 real victims_256 stop-sign photos, area-resized to 32x32: fraction classified stop.
- Clean rendered stop signs: 512 EOT conditions of scenes/stop_driveby.yaml and scenes/stop_lab.yaml,
  the drive-by sequence and the lab grid: fraction classified stop, with the failures binned by
  distance, yaw and ambient light.
- The same clean renders with the face replaced by a real photographed stop sign
  (rp2/photos/uw17_stop_2484.jpg, rectified): separates renderer artwork errors from model errors.

Run: python bench/model_report.py [--models gtsrb-cnn gtsrb-resnet lisa-cnn]"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from patchsim.io.images import read_image, to_tensor
from patchsim.models import load
from patchsim.models.train import evaluate, load_gtsrb
from patchsim.render import Renderer, sample_driveby, sample_eot, sample_grid
from patchsim.scene import load_scene
from patchsim.signs import face_from_photo

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def model_for(name: str):
    if name == "lisa-cnn":
        return load(name, weights=SHARED / "rp2" / "lisa_cnn.npz")
    return load(name)


@torch.no_grad()
def predict(model, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([model(x[i:i + 512]).argmax(1) for i in range(0, len(x), 512)])


def gtsrb_test(model) -> float | None:
    if len(model.classes) != 43:
        return None
    test = load_gtsrb(SHARED / "gtsrb", "test")
    return evaluate(model, test["x"], test["y"].astype(np.int64))


def victims(model) -> float:
    files = sorted((SHARED / "rp2" / "victims_256").glob("*.png"))
    x = torch.stack([to_tensor(cv2.resize(read_image(f), (32, 32), interpolation=cv2.INTER_AREA)) for f in files])
    return float((predict(model, x) == model.classes.index("stop")).float().mean())


def photo_face() -> torch.Tensor:
    n = 2484 - 1  # the photo is a tight square crop of the face's bounding square
    return face_from_photo(SHARED / "rp2" / "photos" / "uw17_stop_2484.jpg", [[0, 0], [n, 0], [n, n], [0, n]], "stop")


def rendered(model, scene_name: str, how: str, n: int = 512, seed: int = 2024, face: torch.Tensor | None = None):
    scene = load_scene(scene_name)
    r = Renderer.from_scene(scene)
    if face is not None:
        r.face.copy_(face[None])
    g = torch.Generator().manual_seed(seed)
    cond = {"eot": lambda: sample_eot(scene, n, g), "driveby": lambda: sample_driveby(scene, g),
            "grid": lambda: sample_grid(scene, g)}[how]()
    with torch.no_grad():
        crops = torch.cat([r.render_crops(cond[i:i + 128]).images for i in range(0, len(cond), 128)])
    ok = predict(model, crops) == model.classes.index("stop")
    return float(ok.float().mean()), cond, ok


def bins(cond, ok, field: str, edges: list[float]) -> str:
    v = getattr(cond, field)
    parts = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (v >= lo) & (v < hi)
        if sel.any():
            parts.append(f"{lo:g}-{hi:g}: {100 * float(ok[sel].float().mean()):.0f}% ({int(sel.sum())})")
    return f"  {field}: " + ", ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["gtsrb-cnn", "gtsrb-resnet", "lisa-cnn"])
    args = ap.parse_args()
    for name in args.models:
        model = model_for(name)
        test = gtsrb_test(model)
        print(f"== {name}: GTSRB test {'n/a' if test is None else f'{100 * test:.2f}%'}, "
              f"RP2 victims_256 classified stop {100 * victims(model):.1f}%")
        for scene, how in [("stop_driveby", "eot"), ("stop_driveby", "driveby"), ("stop_lab", "eot"), ("stop_lab", "grid")]:
            rate, cond, ok = rendered(model, scene, how)
            print(f" clean rendered {scene} {how} ({len(cond)}): stop {100 * rate:.1f}%")
            if rate < 1.0:
                print(bins(cond, ok, "distance_m", [0, 5, 10, 20, 30, 41]))
                print(bins(cond, ok, "yaw_deg", [-31, -15, -5, 5, 15, 31]))
                print(bins(cond, ok, "ambient", [0, 0.6, 0.8, 1.0, 1.2]))
            rate, cond, _ = rendered(model, scene, how, face=photo_face())
            print(f"   same conditions, real photographed face: stop {100 * rate:.1f}%")


if __name__ == "__main__":
    main()
