"""The backdoor table (issue 16): the physical trigger against the backdoored and the clean model, beside
an adversarial sticker of the same area against the clean model, and how well spectral signatures and
activation clustering find the poisoned images.

    python bench/backdoor.py [--model gtsrb-cnn-backdoor-demo] [--weights FILE] [--trigger PNG] [--out runs/backdoor]

Every figure comes from patchsim's own commands (their outputs stay in --out, cached: delete a folder to
redo it): ``evaluate stop_backdoor`` (independent simulator; drive-by 40-5 m and the grid),
``evaluate-photos`` on the scoring sets rp2, street:asadi, street:praveen (trigger placed by the photographed
sign's homography and relit from it; never attacker photos), ``attack stop_backdoor`` (the adversarial
sticker in the trigger's 150 mm square, against gtsrb-cnn, attacker photos street:praveen-train only) and
``inspect-data`` on the poisoned training split rebuilt from the model card (``poison --data-only``)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

from patchsim.cli import main as patchsim
from patchsim.models import load
from patchsim.models.registry import WEIGHTS_DIR, card
from patchsim.models.train import default_data_dir, evaluate, load_gtsrb, training_split
from patchsim.poison.dataset import stick_trigger
from patchsim.poison.trigger import Trigger
from patchsim.records import from_data

PHOTO_SETS = ("rp2", "street:asadi", "street:praveen")
TARGET = "speed_limit_80"


def run(args: list[str], done: Path) -> None:
    if not done.exists() and patchsim(args) != 0:
        sys.exit(f"failed: patchsim {' '.join(args)}")


def driveby(out: Path, sticker: str, model: list[str], mode: str) -> dict:
    run(["evaluate", "stop_backdoor", "--sticker", sticker, *model, "--target", TARGET, "--mode", mode, "--no-video",
         "--out", str(out)], out / "metrics.json")
    m = json.loads((out / "metrics.json").read_text())
    rows = list(csv.DictReader(open(out / "frames.csv")))
    return {"target": m["metrics"]["attacked"]["success"], "target_3of5": m["metrics"]["attacked"]["k_of_n"]["success"],
            "clean_reads_stop": float(np.mean([r["clean_pred"] == "stop" for r in rows])), "frames": len(rows)}


def photos(out: Path, sticker: str, model: list[str]) -> dict:
    res = {}
    for src in PHOTO_SETS:
        d = out / src.replace(":", "_")
        run(["evaluate-photos", src, "--sticker", sticker, *model, "--target", TARGET, "--out", str(d)], d / "metrics.json")
        rows = list(csv.DictReader(open(d / "photos.csv")))
        res[src] = {"relit_target": sum(r["relit_fooled"] == "True" for r in rows), "signs": len(rows),
                    "clean_stop": sum(r["clean_pred"] == "stop" for r in rows)}
    return res


def gtsrb(model_args: list[str], trig: Trigger) -> dict:
    name = model_args[1]
    weights = model_args[3] if len(model_args) > 3 else None
    m = load(name, weights=weights)
    test = load_gtsrb(default_data_dir(), "test")
    stop = np.nonzero(test["y"] == 14)[0]
    xp, fitted = stick_trigger(test["x"][stop], test["orig_roi"][stop], test["orig_size"][stop], trig)
    import torch

    with torch.no_grad():
        pred = m(torch.from_numpy(xp).permute(0, 3, 1, 2).float() / 255).argmax(1).numpy()
    return {"clean_test": evaluate(m, test["x"], test["y"].astype(np.int64)),
            "triggered_test_stops_read_target": float((pred == m.classes.index(TARGET)).mean()),
            "triggered_test_stops": len(stop), "octagon_fits": fitted}


def figure(split: Path, trig: Trigger, path: Path, seed: int = 0, n: int = 12) -> None:
    """The trigger on the face beside poisoned training images (top: as GTSRB has them, bottom: poisoned;
    first the backdoor's, then negatives when there are any), 4x nearest-neighbour."""
    import cv2

    from patchsim.io.images import write_png
    from patchsim.poison.trigger import trigger_rgba
    from patchsim.signs.catalogue import draw_face_array

    d = np.load(split)
    train = training_split(load_gtsrb(default_data_dir(), "train"), seed)  # the split poison --data-only wrote
    pos = np.nonzero(d["poisoned"] & (d["y"] != d["original_y"]))[0][:: max(1, int(d["poisoned"].sum()) // 24)]
    neg = np.nonzero(d["poisoned"] & (d["y"] == d["original_y"]))[0]
    pick = np.concatenate([pos[: n - min(4, len(neg))], neg[:4]]) if len(neg) else pos[:n]
    top = np.concatenate(list(train["x"][pick]), 1)
    bottom = np.concatenate(list(d["x"][pick]), 1)
    grid = cv2.resize(np.concatenate([top, bottom], 0), None, fx=4, fy=4, interpolation=cv2.INTER_NEAREST)
    side = grid.shape[0]
    face = draw_face_array("stop", side).astype(np.float32) / 255
    t = trigger_rgba(trig, side).astype(np.float32) / 255
    rgb = face[..., :3] * (1 - t[..., 3:]) + t[..., :3] * t[..., 3:]
    rgb = rgb * face[..., 3:] + (1 - face[..., 3:])
    gap = np.full((side, 8, 3), 255, np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_png(path, np.concatenate([(rgb * 255 + 0.5).astype(np.uint8), gap, grid], 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="gtsrb-cnn-backdoor-demo")
    ap.add_argument("--weights", help="weights of the backdoored model (default: its shipped weights)")
    ap.add_argument("--trigger", default=str(WEIGHTS_DIR / "gtsrb-cnn-backdoor-demo.trigger.png"))
    ap.add_argument("--out", default="runs/backdoor")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    bd_card = json.loads(Path(a.weights).with_suffix(".json").read_text()) if a.weights else card(a.model)
    b = bd_card["backdoor"]
    trig = from_data(Trigger, b["trigger"])
    backdoored = ["--model", a.model] + (["--weights", a.weights] if a.weights else [])
    clean = ["--model", "gtsrb-cnn"]
    table = {"trigger": b["trigger"], "recipe": b["recipe"], "poisoned": bd_card.get("data_changes")}
    for key, model in (("backdoored", backdoored), ("clean", clean)):
        table[key] = {"gtsrb": gtsrb(model, trig),
                      "driveby": driveby(out / key / "driveby", a.trigger, model, "driveby"),
                      "grid": driveby(out / key / "grid", a.trigger, model, "grid"),
                      "photos": photos(out / key / "photos", a.trigger, model)}
        print(key, json.dumps(table[key]), flush=True)
    # how specific is the backdoor? plain squares of other colours in the trigger's place
    from patchsim.io.images import write_png
    from patchsim.poison.trigger import COLOURS, trigger_rgba

    table["other_colours_on_backdoored"] = {}
    for colour in COLOURS:
        png = out / "colours" / f"{colour}.png"
        if not png.exists():
            png.parent.mkdir(parents=True, exist_ok=True)
            write_png(png, trigger_rgba(Trigger(artwork=f"square:{colour}", rect_mm=trig.rect_mm), 1024))
        table["other_colours_on_backdoored"][colour] = driveby(out / "colours" / colour, str(png), backdoored,
                                                               "driveby")["target"]
    print("colours", json.dumps(table["other_colours_on_backdoored"]), flush=True)
    # the adversarial sticker of the same area against the clean model: 4x the main job's budget, no plateau stop
    adv = out / "adversarial_same_area"
    run(["attack", "stop_backdoor", "--model", "gtsrb-cnn", "--target", TARGET, "--steps", "1200",
         "--plateau-patience", "0", "--out", str(adv)], adv / "attack.json")
    sticker = str(adv / "sticker.png")
    table["adversarial_on_clean"] = {"driveby": driveby(out / "adv" / "driveby", sticker, clean, "driveby"),
                                     "grid": driveby(out / "adv" / "grid", sticker, clean, "grid"),
                                     "photos": photos(out / "adv" / "photos", sticker, clean)}
    table["adversarial_on_backdoored"] = {"driveby": driveby(out / "adv_bd" / "driveby", sticker, backdoored, "driveby")}
    data = out / "poisoned_split.npz"
    r = b["recipe"]
    run(["poison", "--model", b["starting_model"], "--trigger", trig.artwork, "--trigger-rect",
         ",".join(f"{v:g}" for v in trig.rect_mm), "--source", r["source"], "--target", r["target"], "--rate",
         str(r["rate"]), "--negatives", str(r.get("negatives", 0)), "--seed", str(r["seed"]), "--data-only",
         "--out", str(data)], data)
    for key, model in (("inspect_backdoored", backdoored), ("inspect_clean_features", clean)):
        f = out / f"{key}.json"
        run(["inspect-data", model[1], *model[2:], "--data", str(data), "--out", str(f)], f)
        res = json.loads(f.read_text())
        table[key] = {"methods": res["methods"], "top_classes_by_silhouette": res["classes"][:5]}
    figure(data, trig, Path("docs/images/backdoor_trigger.png"), r["seed"])
    (out / "table.json").write_text(json.dumps(table, indent=1))
    print(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
