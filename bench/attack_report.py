"""Attack results for the README: each attack's sim-to-real table (held-out renders, independent
drive-by, real photos raw and relit; see patchsim/evaluate/sim_to_real.py) and transfer between models.

Run: python bench/attack_report.py [--steps N] [--out runs/report] [--only KEY ...]"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from patchsim.jobs.attack import AttackRequest, run_attack
from patchsim.jobs.attack_record import AttackRecord, read_attack_record
from patchsim.attack.eot import HELD_OUT_SEED
from patchsim.models import freeze, load
from patchsim.render import Renderer, sample_eot
from patchsim.printing.printer import inkjet_printer
from patchsim.scene import load_scene
from patchsim.io.stickers import load_sticker

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
LISA = str(SHARED / "rp2" / "lisa_cnn.npz")
RUNS = {
    "cnn_target80": dict(scene="stop_driveby", model="gtsrb-cnn", target="speed_limit_80", mode="sticker"),
    "cnn_target80_real": dict(scene="stop_driveby", model="gtsrb-cnn", target="speed_limit_80", mode="sticker",
                              real_photos="street:praveen-train", real_fraction=0.25),
    "cnn_untargeted": dict(scene="stop_driveby", model="gtsrb-cnn", target=None, mode="sticker"),
    "resnet_target80": dict(scene="stop_driveby", model="gtsrb-resnet", target="speed_limit_80", mode="sticker"),
    "lisa_target45": dict(scene="stop_lab", model="lisa-cnn", target="speedLimit45", mode="sticker"),
    "lisa_target45_rp2area": dict(scene="stop_lab_rp2", model="lisa-cnn", target="speedLimit45", mode="sticker"),
}


def model(name):
    return freeze(load(name, weights=LISA if name == "lisa-cnn" else None))


@torch.no_grad()
def held_out(scene_name: str, sticker_png: Path, model_name: str, target: str, n: int = 512,
             seed: int = HELD_OUT_SEED) -> float:
    """Targeted success of a sticker on ``n`` EOT renders of ``seed`` (default: the held-out seed no
    optimiser uses), the inkjet printer applied."""
    scene = load_scene(scene_name)
    m = model(model_name)
    r = Renderer.from_scene(scene, face_resolution=256, printer=inkjet_printer())
    sticker = load_sticker(str(sticker_png), 256)
    cond = sample_eot(scene, n, torch.Generator().manual_seed(seed))
    pred = torch.cat([m(r.render_crops(cond[i:i + 128], sticker, size=m.input_size[0]).images).argmax(1)
                      for i in range(0, n, 128)])
    return float((pred == m.classes.index(target)).float().mean())


def row(rec: AttackRecord) -> dict:
    t = rec.sim_to_real
    out = {"steps": rec.steps_run, "wall_s": rec.wall_s_total, "area": rec.export.sticker_area_fraction,
           "in_gamut": rec.export.sticker_in_gamut, "validation": rec.final_success,
           "held_out": t.held_out_renders if t else None, "independent": t.independent_simulator if t else None,
           "protocol": t.independent_protocol if t else None}
    for src, r in (t.photos.items() if t else ()):
        if r.missing is None:
            out[src] = {"signs": r.signs, "raw": r.raw, "relit": r.relit, "relit_fooled": r.relit_fooled}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, help="optimiser steps (default: AttackConfig's)")
    ap.add_argument("--out", default="runs/report")
    ap.add_argument("--only", nargs="*")
    a = ap.parse_args()
    out = Path(a.out)
    results = {}
    for key, r in RUNS.items():
        if a.only and key not in a.only:
            continue
        done = out / key / "attack.json"
        t = time.time()
        if done.is_file():  # reuse a finished run (e.g. the README's main job copied here)
            rec = read_attack_record(done)
        else:
            extra = {k: r[k] for k in ("real_photos", "real_fraction") if k in r}
            req = AttackRequest(r["scene"], model=r["model"], weights=LISA if r["model"] == "lisa-cnn" else None,
                                target=r["target"], settings={"steps": a.steps, "mode": r["mode"], **extra})
            rec = run_attack(req, out / key, progress=False)
        results[key] = row(rec)
        print(key, json.dumps(results[key]), f"({time.time() - t:.0f} s)", flush=True)
    for src, dst in (("cnn_target80", "gtsrb-resnet"), ("resnet_target80", "gtsrb-cnn")):
        png = out / src / "sticker.png"
        if png.exists():
            results[f"transfer_{src}_to_{dst}"] = held_out("stop_driveby", png, dst, "speed_limit_80")
            print(f"transfer {src} -> {dst}: {results[f'transfer_{src}_to_{dst}']:.3f}", flush=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
