"""patchsim's EOT sticker optimiser against the Adversarial Robustness Toolbox's AdversarialPatchPyTorch,
in one run, on the same model, target, patch area and CPU.

Both optimise a square patch at the same place on the sign face, the default drive-by scene's sticker
square (14.5% of the face), against the shipped gtsrb-cnn, target speed_limit_80. ART trains in
image space on clean rendered crops (its own random rotation / scale / placement inside the sign);
patchsim trains through its physical renderer. Both patches are then scored the same way: printed onto
the sign face and rendered under 512 held-out conditions (a seed neither optimiser saw). Printed:
optimiser steps/s and wall time to 90% held-out success, with their ratio.

ART needs torchvision: in a separate venv, `pip install torch==2.14.1 torchvision==0.29.1
adversarial-robustness-toolbox` then `pip install -e . --no-deps` and the other requirements.
Run: python bench/vs_art.py [--budget-s 300]"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from patchsim.attack import AttackConfig, EOTAttack
from patchsim.models import freeze, load
from patchsim.render import Renderer, sample_eot
from patchsim.scene import load_scene

HELD_OUT_SEED = 424242


def square_scene():
    """The drive-by scene and its one square sticker region: (scene, side, (x0, y0)) with the side and
    top-left corner as fractions of the face's bounding square."""
    scene = load_scene("stop_driveby")
    side_mm = scene.sign.size_m * 1000
    if len(scene.sticker.regions) != 1:
        raise SystemExit("vs_art compares one square patch: the drive-by scene must have one sticker region")
    pts = np.array(scene.sticker.regions[0].points) / side_mm
    w, h = pts.max(0) - pts.min(0)
    if len(pts) != 4 or abs(w - h) > 1e-6:
        raise SystemExit("vs_art compares one square patch: the drive-by scene's sticker must be a square")
    return scene, float(w), tuple(pts.min(0).tolist())


@torch.no_grad()
def held_out_success(renderer, model, cond, sticker, target) -> float:
    pred = torch.cat([model(renderer.render_crops(cond[i:i + 128], sticker).images).argmax(1) for i in range(0, len(cond), 128)])
    return float((pred == target).float().mean())


def patch_to_sticker(patch: np.ndarray, frac: float, corner: tuple[float, float], n: int) -> torch.Tensor:
    """ART's square patch (3, P, P) placed as the scene's square sticker in an (1, 3, n, n) texture."""
    tex = torch.full((1, 3, n, n), 0.5)
    side = int(round(frac * n))
    x0, y0 = (int(round(c * n)) for c in corner)
    p = torch.nn.functional.interpolate(torch.from_numpy(patch)[None].float(), size=(side, side), mode="bilinear",
                                        align_corners=False)
    tex[:, :, y0:y0 + side, x0:x0 + side] = p
    return tex


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget-s", type=float, default=240.0, help="optimisation seconds for each method")
    ap.add_argument("--chunk", type=int, default=25, help="steps between held-out evaluations")
    ap.add_argument("--held-out", type=int, default=512)
    a = ap.parse_args()
    torch.manual_seed(0)
    model = freeze(load("gtsrb-cnn"))
    target = model.classes.index("speed_limit_80")
    scene, frac, corner = square_scene()
    area = frac**2 / (2 * (math.sqrt(2) - 1))  # of the octagon
    renderer = Renderer.from_scene(scene, face_resolution=128)
    cond = sample_eot(scene, a.held_out, torch.Generator().manual_seed(HELD_OUT_SEED))
    print(f"model gtsrb-cnn, target speed_limit_80, square sticker {100 * area:.1f}% of the face at {corner[0]:.2f}, {corner[1]:.2f}, "
          f"{a.held_out} held-out conditions, torch {torch.__version__}, {torch.get_num_threads()} threads")
    results = {}

    # ---- patchsim: EOT through the renderer, evaluated every chunk steps ----
    cfg = AttackConfig(target=target, true_class=14, steps=10**6, batch=32, val_size=16, val_every=10**9,
                       checkpoint_every=10**9, loss="margin", tv_weight=0.02, lr=0.2, lr_floor=1.0,
                       face_resolution=128, seed=0)
    attack = EOTAttack(scene, model, cfg)
    g = torch.Generator().manual_seed(0)
    w = attack.init_params(g)
    opt = torch.optim.Adam([w], lr=cfg.lr)
    curve, steps, opt_s = [], 0, 0.0
    from patchsim.render import draw_visible

    while opt_s < a.budget_s:
        t = time.perf_counter()
        for _ in range(a.chunk):
            c = draw_visible(scene, attack.renderer, cfg.batch, g)
            loss, _ = attack.loss(w, c)
            opt.zero_grad()
            loss.backward()
            opt.step()
        opt_s += time.perf_counter() - t
        steps += a.chunk
        s = held_out_success(renderer, model, cond, attack.sticker_from_params(w.detach()), target)
        curve.append((steps, opt_s, s))
        if s >= 0.9:
            break
    results["patchsim"] = curve

    # ---- ART: AdversarialPatchPyTorch on clean rendered crops ----
    try:
        from art.attacks.evasion import AdversarialPatchPyTorch
        from art.estimators.classification import PyTorchClassifier
    except ImportError:
        print("ART is not installed: see this file's docstring; patchsim alone:")
        ART = None
    else:
        ART = True
    if ART:
        train = sample_eot(scene, 256, torch.Generator().manual_seed(7))
        with torch.no_grad():
            x = renderer.render_crops(train).images.numpy()
        y = np.zeros((len(x), 43), np.float32)
        y[:, target] = 1
        clf = PyTorchClassifier(model=model, loss=torch.nn.CrossEntropyLoss(), input_shape=(3, 32, 32), nb_classes=43,
                                clip_values=(0.0, 1.0), channels_first=True)
        sign_px = 32 / 1.2  # the sign spans the crop less its 10% margins
        scale = frac * sign_px / 32
        mask = np.zeros((1, 32, 32), bool)
        cx, cy = (16 - sign_px / 2 + (c + frac / 2) * sign_px for c in corner)
        r = 0.2 * sign_px
        mask[:, int(cy - r):int(cy + r), int(cx - r):int(cx + r)] = True  # patch centres near the sticker square
        art = AdversarialPatchPyTorch(clf, rotation_max=10.0, scale_min=scale * 0.9, scale_max=scale * 1.1,
                                      learning_rate=0.05, max_iter=1, batch_size=32, patch_shape=(3, 32, 32),
                                      patch_type="square", targeted=True, verbose=False)
        curve, steps, opt_s = [], 0, 0.0
        per_iter = math.ceil(len(x) / 32)
        while opt_s < a.budget_s:
            t = time.perf_counter()
            for _ in range(max(1, a.chunk // per_iter)):
                patch, _ = art.generate(x=x, y=y, mask=mask)
            opt_s += time.perf_counter() - t
            steps += max(1, a.chunk // per_iter) * per_iter
            s = held_out_success(renderer, model, cond, patch_to_sticker(patch, frac, corner, 128), target)
            curve.append((steps, opt_s, s))
            if s >= 0.9:
                break
        results["ART AdversarialPatchPyTorch"] = curve

    for name, curve in results.items():
        steps, secs, s = curve[-1]
        hit = next((c for c in curve if c[2] >= 0.9), None)
        to90 = f"{hit[1]:.1f} s ({hit[0]} steps)" if hit else f"not reached in {secs:.0f} s (best {100 * max(c[2] for c in curve):.1f}%)"
        print(f"{name:28s} {steps / secs:6.1f} steps/s | held-out success {100 * s:5.1f}% after {steps} steps | "
              f"time to 90%: {to90}")
    if len(results) == 2:
        (ps, pt, _), (as_, at, _) = results["patchsim"][-1], results["ART AdversarialPatchPyTorch"][-1]
        print(f"steps/s ratio patchsim / ART = {(ps / pt) / (as_ / at):.2f}")


if __name__ == "__main__":
    main()
