"""Fit the EOT realism ranges (black level, white-balance error) to real photographed stop signs.

Each attacker photo's sign gets the `tone` relighting fit (obs = black + gain_c * design^g, see
patchsim/realphoto/relight.py); so do clean renders of the scene's own EOT distribution (realism fields at
their identity). The ranges printed are the 10th-90th percentiles of what the real photos show beyond
what the renderer already produces:
- black_level: real black level minus the renders' median;
- wb_red / wb_blue: (gain_r / gain_g) and (gain_b / gain_g) of the real signs over the renders' median,
  raised to 2.2 (the fit is in sRGB, the renderer's white balance is a linear gain).
Only attacker photos are used (street:praveen-train), never the scoring sets.

Run: python bench/fit_realism.py [--scene stop_driveby] [--renders 256]"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from patchsim.io.images import read_image, to_uint8
from patchsim.realphoto.views import face_side_px, locate_sign, sign_light
from patchsim.realphoto.octagon import homography_from_corners
from patchsim.realphoto.placement import FacePyramid
from patchsim.realphoto.sources import photo_source
from patchsim.render import Renderer, sample_eot
from patchsim.scene import load_scene
from patchsim.signs import draw_face_array

RENDER_SEED = 99991  # renders for the comparison: a stream neither the optimiser nor any report uses


def tone_params(light) -> np.ndarray:
    return np.asarray(light.relight.params, np.float64)  # black, gain_r, gain_g, gain_b, exponent


def real_params(source: str, face: FacePyramid) -> np.ndarray:
    out = []
    for sp in photo_source(source):
        photo = read_image(sp.path)
        h, how = locate_sign(photo, sp)
        if h is None or how == "box" or face_side_px(h) < 24:
            continue
        light = sign_light(photo, h, face, "stop", "tone")
        if light.relight.rmse <= 0.15:
            out.append(tone_params(light))
    return np.array(out)


@torch.no_grad()
def render_params(scene_name: str, n: int, face: FacePyramid, size: int = 96) -> np.ndarray:
    import dataclasses

    from patchsim.scene import RealismConfig

    scene = load_scene(scene_name)
    plain = dataclasses.replace(scene.effects, black_level=(0.0, 0.0), wb_red=(1.0, 1.0), wb_blue=(1.0, 1.0))
    scene = dataclasses.replace(scene, effects=plain, realism=RealismConfig())  # the renderer alone
    r = Renderer.from_scene(scene, face_resolution=256)
    cond = sample_eot(scene, n, torch.Generator().manual_seed(RENDER_SEED))
    out = []
    for i in range(0, n, 64):
        o = r.render_crops(cond[i:i + 64], None, size=size)
        for img, corners, box in zip(o.images, o.corners, o.boxes):
            x, y, s = float(box[0]), float(box[1]), float(box[2])
            c = (corners.numpy() - [x, y]) * size / s - 0.5
            light = sign_light(to_uint8(img), homography_from_corners(c), face, "stop", "tone")
            out.append(tone_params(light))
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scene", default="stop_driveby")
    ap.add_argument("--renders", type=int, default=256)
    ap.add_argument("--source", default="street:praveen-train")
    a = ap.parse_args()
    face = FacePyramid(draw_face_array("stop", 1024))
    real = real_params(a.source, face)
    ren = render_params(a.scene, a.renders, face)
    names = ["black", "gain_r", "gain_g", "gain_b", "exponent"]
    for label, p in (("real", real), ("renders", ren)):
        q = np.percentile(p, [10, 50, 90], 0)
        print(f"{label} ({len(p)} signs): " + ", ".join(f"{k} {q[0, i]:.3f}/{q[1, i]:.3f}/{q[2, i]:.3f}"
                                                        for i, k in enumerate(names)))
    med = np.median(ren, 0)
    black = np.clip(np.percentile(real[:, 0] - med[0], [10, 90]), 0, None)
    wb_r = np.percentile((real[:, 1] / real[:, 2] / (med[1] / med[2])) ** 2.2, [10, 90])
    wb_b = np.percentile((real[:, 3] / real[:, 2] / (med[3] / med[2])) ** 2.2, [10, 90])
    fit = {"black_level": [round(float(v), 3) for v in black], "wb_red": [round(float(v), 3) for v in wb_r],
           "wb_blue": [round(float(v), 3) for v in wb_b], "attacker_signs": len(real), "renders": len(ren),
           "source": a.source, "scene": a.scene}
    print(json.dumps(fit))
    table = {"description": "tone maps (black, gain_r, gain_g, gain_b, exponent) from the designed stop face to "
                            f"photographed signs of {a.source} (attacker photos only), and the median over "
                            f"{len(ren)} clean renders of {a.scene} (bench/fit_realism.py)",
             "renderer": [round(float(v), 4) for v in med],
             "photos": [[round(float(v), 4) for v in r] for r in real]}
    out = Path(__file__).resolve().parents[1] / "patchsim" / "data" / "photo_responses.json"
    out.write_text(json.dumps(table, indent=0))
    print(f"wrote {out} ({len(real)} photo responses)")


if __name__ == "__main__":
    main()
