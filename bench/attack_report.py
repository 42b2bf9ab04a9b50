"""Attack results for the README: success of optimised stickers on held-out conditions (a seed the
optimiser never used), on RP2's real victim photos, and transfer between models.

Run: python bench/attack_report.py [--steps 400] [--out runs/report]"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from patchsim.attack.job import run_attack
from patchsim.imageio import read_image
from patchsim.models import freeze, load
from patchsim.photo.detect import find_stop_sign
from patchsim.render import Renderer, sample_eot
from patchsim.scene import load_scene
from patchsim.sticker_io import load_sticker, load_sticker_rgba

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
LISA = str(SHARED / "rp2" / "lisa_cnn.npz")
HELD_OUT_SEED = 424242


def model(name):
    return freeze(load(name, weights=LISA if name == "lisa-cnn" else None))


@torch.no_grad()
def held_out(scene_name: str, sticker_png: Path | None, mode: str, model_name: str, target: str | None, n: int = 512,
             seed: int = HELD_OUT_SEED) -> float:
    """Success on ``n`` EOT conditions drawn with ``seed`` (default: the held-out seed the optimiser never uses)."""
    scene = load_scene(scene_name)
    m = model(model_name)
    r = Renderer.from_scene(scene, face_resolution=256)
    if mode == "poster":
        r.sticker_mask = (r.face[:, 3:] > 0).float()
    sticker = load_sticker(str(sticker_png), 256) if sticker_png else None
    cond = sample_eot(scene, n, torch.Generator().manual_seed(seed))
    pred = torch.cat([m(r.render_crops(cond[i:i + 128], sticker, size=m.input_size[0]).images).argmax(1)
                      for i in range(0, n, 128)])
    if target is not None:
        return float((pred == m.classes.index(target)).float().mean())
    return float((pred != m.classes.index("stop")).float().mean())


@torch.no_grad()
def victims(sticker_png: Path | None, model_name: str, target: str | None) -> tuple[int, int]:
    """(fooled, total) over RP2's 40 real victims_256 photos with the sticker composited onto the sign
    (face square from the red-octagon detector), area-resized to the model input."""
    m = model(model_name)
    st = load_sticker_rgba(sticker_png) if sticker_png else None
    fooled = total = 0
    for f in sorted((SHARED / "rp2" / "victims_256").glob("*.png")):
        img = read_image(f)
        c = find_stop_sign(img)
        if c is None:
            continue
        total += 1
        if st is not None:
            src = np.array([[-0.5, -0.5], [st.shape[1] - 0.5, -0.5], [st.shape[1] - 0.5, st.shape[0] - 0.5],
                            [-0.5, st.shape[0] - 0.5]], np.float32)
            h = cv2.getPerspectiveTransform(src, c.astype(np.float32))
            small = cv2.resize(st, (512, 512), interpolation=cv2.INTER_AREA)
            h = h @ np.diag([st.shape[1] / 512, st.shape[0] / 512, 1.0])
            w = cv2.warpPerspective(small.astype(np.float32) / 255, h, (img.shape[1], img.shape[0]), flags=cv2.INTER_LINEAR)
            a = w[..., 3:]
            img = ((img.astype(np.float32) / 255 * (1 - a) + w[..., :3] * a) * 255 + 0.5).astype(np.uint8)
        x = torch.from_numpy(cv2.resize(img, m.input_size[::-1], interpolation=cv2.INTER_AREA)).permute(2, 0, 1)[None].float() / 255
        p = int(m(x).argmax())
        fooled += (p == m.classes.index(target)) if target else (p != m.classes.index("stop"))
    return fooled, total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--out", default="runs/report")
    ap.add_argument("--only", nargs="*")
    a = ap.parse_args()
    out = Path(a.out)
    runs = {
        "cnn_target80": dict(scene="stop_driveby", model="gtsrb-cnn", target="speed_limit_80", mode="sticker"),
        "cnn_untargeted": dict(scene="stop_driveby", model="gtsrb-cnn", target=None, mode="sticker"),
        "cnn_poster": dict(scene="stop_driveby", model="gtsrb-cnn", target="speed_limit_80", mode="poster"),
        "resnet_target80": dict(scene="stop_driveby", model="gtsrb-resnet", target="speed_limit_80", mode="sticker"),
        "lisa_target45": dict(scene="stop_lab", model="lisa-cnn", target="speedLimit45", mode="sticker"),
    }
    results = {}
    for key, r in runs.items():
        if a.only and key not in a.only:
            continue
        t = time.time()
        done = out / key / "attack.json"
        if done.is_file():  # reuse a finished run (e.g. the README's main job copied here)
            rec = json.loads(done.read_text())
        else:
            rec = run_attack(r["scene"], out / key, model=r["model"], weights=LISA if r["model"] == "lisa-cnn" else None,
                             target=r["target"], steps=a.steps, mode=r["mode"], progress=False)
        png = out / key / "sticker.png"
        res = {"steps": rec["steps_run"], "wall_s": rec.get("wall_s_total", round(time.time() - t, 1)), "area": rec["sticker_area_fraction"],
               "val_success": rec["final_success"],
               "held_out_512": held_out(r["scene"], png, r["mode"], r["model"], r["target"])}
        if r["model"] == "lisa-cnn" or r["model"] == "gtsrb-cnn":
            res["rp2_victims"] = victims(png, r["model"], r["target"])
            res["rp2_victims_clean"] = victims(None, r["model"], r["target"])
        results[key] = res
        print(key, json.dumps(res), flush=True)
    for src, dst in (("cnn_target80", "gtsrb-resnet"), ("resnet_target80", "gtsrb-cnn")):
        png = out / src / "sticker.png"
        if png.exists():
            results[f"transfer_{src}_to_{dst}"] = held_out("stop_driveby", png, "sticker", dst, "speed_limit_80")
            print(f"transfer {src} -> {dst}: {results[f'transfer_{src}_to_{dst}']:.3f}", flush=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
