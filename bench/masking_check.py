"""Gradient-masking check for a hardened model (Athalye et al. 2018: a defence whose white-box attack
does worse than a gradient-free one is hiding its gradients). Scores gradient-free stickers in the
scene's sticker region on held-out EOT renders: random colour noise, solid colours, and the target
sign's own face pasted into the region (a semantic attack), against each model.

Also writes runs/no_entry_sticker.png: the no_entry fragment as a sticker.png (alpha = the scene's sticker
mask), for `patchsim evaluate --sticker` and `patchsim evaluate-photos --sticker`.

Run: python bench/masking_check.py [--models gtsrb-cnn gtsrb-cnn-hardened] [--n 128]"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from patchsim.render import draw_visible
from patchsim.io.images import write_png
from patchsim.models import freeze, load
from patchsim.render import Renderer
from patchsim.printing.printer import inkjet_printer
from patchsim.scene import load_scene
from patchsim.signs import draw_face, draw_face_array, sticker_alpha


def candidates(n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    out = {}
    for i in range(20):
        out[f"noise{i}"] = torch.rand(1, 3, n, n, generator=g)
    for i in range(12):
        out[f"solid{i}"] = torch.rand(1, 3, 1, 1, generator=g).expand(1, 3, n, n).clone()
    for name in ("speed_limit_80", "speed_limit_30", "yield", "no_entry", "priority_road"):
        out[f"face:{name}"] = draw_face(name, n)[None, :3]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["gtsrb-cnn", "gtsrb-cnn-hardened"])
    ap.add_argument("--n", type=int, default=128)
    args = ap.parse_args()
    scene = load_scene("stop_driveby")
    r = Renderer.from_scene(scene, face_resolution=128, printer=inkjet_printer())
    cond = draw_visible(scene, r, args.n, torch.Generator().manual_seed(424242))
    cands = candidates(128, torch.Generator().manual_seed(0))
    Path("runs").mkdir(exist_ok=True)  # the no_entry fragment as a sticker.png: RGB of the face, alpha = the scene's mask
    rgba = draw_face_array("no_entry", 1024)
    rgba[..., 3] = sticker_alpha(scene, 1024)
    write_png("runs/no_entry_sticker.png", rgba)
    print("wrote runs/no_entry_sticker.png: try `patchsim evaluate stop_driveby --sticker runs/no_entry_sticker.png "
          "--model gtsrb-cnn-hardened --out runs/no_entry_eval`")
    for name in args.models:
        m = freeze(load(name))
        stop, t80 = m.classes.index("stop"), m.classes.index("speed_limit_80")
        best_u, best_t = (0.0, ""), (0.0, "")
        with torch.no_grad():
            for key, st in cands.items():
                pred = m(r.render_crops(cond, st).images).argmax(1)
                u, t = float((pred != stop).float().mean()), float((pred == t80).float().mean())
                best_u, best_t = max(best_u, (u, key)), max(best_t, (t, key))
        print(f"{name}: best gradient-free sticker of {len(cands)}: untargeted {100 * best_u[0]:.1f}% ({best_u[1]}), "
              f"read as speed_limit_80 {100 * best_t[0]:.1f}% ({best_t[1]})", flush=True)


if __name__ == "__main__":
    main()
