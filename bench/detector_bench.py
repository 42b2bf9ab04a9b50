"""sign-det and detector attacks: detection frames/s at 640 x 360, and the disappearance attack on the
drive-by scene (the scene's sticker square, 14.5% of the face): optimiser steps/s and wall time until
validation disappearance first reaches 90%, each beside the issue's comparison figure.

ART's AdversarialPatchPyTorch / RobustDPatch need torchvision, whose wheels do not match the CPU torch
this project installs; run bench/vs_art.py's recipe in a separate venv for that comparison.
Run: python bench/detector_bench.py [--steps 300] [--device cpu]"""

from __future__ import annotations

import argparse
import time

import torch

from patchsim.attack import AttackConfig, EOTAttack
from patchsim.models import freeze
from patchsim.models.detectors import load_detector
from patchsim.objectives.goals import Goal
from patchsim.scene import load_scene

TARGET_FPS = 10.0  # the issue: >= 10 frames/s at 640 x 360 on 2 cores


def detection_fps(det, n: int = 30) -> float:
    x = torch.rand(1, 3, 360, 640)
    from patchsim.models.detectors.core import pad_to_multiple

    x = pad_to_multiple(x, 32)
    with torch.no_grad():
        for _ in range(3):
            det.detect(x)
        t = time.perf_counter()
        for _ in range(n):
            det.detect(x)
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    det = freeze(load_detector("sign-det"))
    fps = detection_fps(det)
    print(f"sign-det: {fps:.1f} frames/s at 640 x 360 (torch threads {torch.get_num_threads()}); target >= {TARGET_FPS:.0f}")
    scene = load_scene("stop_driveby")
    goal = Goal.for_scene(scene, det.classes)
    cfg = AttackConfig(goal="disappear", true_class=goal.true_class, steps=a.steps, val_every=10, val_size=128,
                       early_stop=1.0, plateau_patience=0)
    attack = EOTAttack(scene, det, cfg, device=a.device)
    clean, _ = attack.score(None, attack.val_cond)
    t = time.perf_counter()
    res = attack.run(progress=False)
    wall = time.perf_counter() - t
    first = next((h for h in res.history if h.success >= 0.9), None)
    print(f"disappearance attack, batch {cfg.batch}, window {attack.window_hw[0]} px: {res.steps / res.wall_s:.2f} steps/s; "
          f"validation disappearance clean {100 * clean:.1f}% -> {100 * res.final_success:.1f}% after {res.steps} steps "
          f"({wall:.0f} s)")
    print("  time to 90% validation disappearance: "
          + (f"{first['wall_s']:.0f} s (step {first['step']})" if first else "not reached"))


if __name__ == "__main__":
    main()
