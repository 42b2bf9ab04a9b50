"""Does a sticker made against several models transfer to one it never saw better than a sticker made
against one model? The same attack (scene, target, area, seed) against a single model and against an
ensemble, both scored on a left-out model: the independent drive-by and the scoring photo sets printed and
relit (worst / default / best over the validated relighting models).

Run: python bench/ensemble_transfer.py [--single gtsrb-cnn] [--ensemble gtsrb-cnn,gtsrb-cnn-hardened ...]
        [--left-out gtsrb-resnet] [--target speed_limit_80] [--reuse single=DIR] [--reuse ENSEMBLE=DIR]
(--ensemble may be given several times: each ensemble a row; --reuse MODELS=DIR scores an attack folder made
against those models instead of re-running it.)
Writes docs/results/ensemble_transfer.md (+ .json)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import write_result  # noqa: E402

from patchsim.cli import main as patchsim  # noqa: E402

SETS = ("rp2", "street:asadi", "street:praveen")


def run(*argv: str) -> None:
    if patchsim(list(argv)) != 0:
        raise SystemExit(f"failed: patchsim {' '.join(argv)}")


def score(sticker: Path, model: str, target: str, tmp: Path) -> dict:
    ev = tmp / "driveby"
    run("evaluate", "stop_driveby", "--sticker", str(sticker), "--model", model, "--target", target, "--no-video",
        "--out", str(ev), "--force")
    out = {"driveby": json.loads((ev / "metrics.json").read_text())["metrics"]["attacked"]["success"]}
    for s in SETS:
        d = tmp / s.replace(":", "_")
        run("evaluate-photos", s, "--sticker", str(sticker), "--model", model, "--target", target, "--out", str(d), "--force")
        m = json.loads((d / "metrics.json").read_text())["metrics"]
        out[s] = [m["relit_worst_success"], m["relit_default_success"], m["relit_best_success"]]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--single", default="gtsrb-cnn")
    ap.add_argument("--ensemble", action="append", default=None, help="a,b,...: an ensemble (repeatable)")
    ap.add_argument("--left-out", default="gtsrb-resnet")
    ap.add_argument("--target", default="speed_limit_80")
    ap.add_argument("--reuse", action="append", default=[], help="single=DIR or a,b,...=DIR: an attack folder to score")
    a = ap.parse_args()
    ensembles = a.ensemble or ["gtsrb-cnn,gtsrb-cnn-hardened"]
    reuse = {(a.single if k == "single" else k): v for k, v in (r.split("=", 1) for r in a.reuse)}
    if any(a.left_out in e.split(",") for e in ensembles) or a.left_out == a.single:
        raise SystemExit(f"--left-out {a.left_out} must be a model no sticker was made against")
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for i, model in enumerate([a.single, *ensembles]):
            kind = "single" if i == 0 else "ensemble"
            folder = Path(reuse[model]) if model in reuse else tmp / f"attack{i}"
            if model not in reuse:
                run("attack", "stop_driveby", "--model", model, "--target", a.target, "--no-sim-to-real", "--out", str(folder))
            rec = json.loads((folder / "attack.json").read_text())
            if rec["model"] != model or rec["target_name"] != a.target:
                raise SystemExit(f"{folder}: made against {rec['model']} -> {rec['target_name']}, not {model} -> {a.target}")
            rows[model] = {"model": model, "kind": kind, "folder": str(folder), "area": rec["export"]["sticker_area_fraction"],
                           "validation": rec["final_success"], **score(folder / "sticker.png", a.left_out, a.target, tmp / f"s{i}")}

    def pct(v):
        return f"{100 * v:.1f}%"

    table = ["| sticker made against | area | its own validation | drive-by on " + a.left_out + " | " +
             " | ".join(f"{s} relit worst / default / best" for s in SETS) + " |", "| --- | --- | --- | --- | " +
             " | ".join("---" for _ in SETS) + " |"]
    for r in rows.values():
        table.append(f"| {r['model']} ({r['kind']}) | {pct(r['area'])} | {pct(r['validation'])} | {pct(r['driveby'])} | " +
                     " | ".join(f"**{pct(r[s][0])}** / {pct(r[s][1])} / {pct(r[s][2])}" for s in SETS) + " |")
    md = (f"# Ensemble transfer\n\nTargeted `{a.target}`, `scenes/stop_driveby.yaml`'s 14.5% square, the same seed; each "
          f"sticker scored on `{a.left_out}`, a model none was made against (the independent drive-by, and the scoring "
          "photo sets printed by the inkjet model and relit; worst / default / best over the validated relighting "
          "models).\n\n" + "\n".join(table) + f"\n\nReproduce: `python bench/ensemble_transfer.py {' '.join(sys.argv[1:])}`\n")
    print(md)
    write_result("ensemble_transfer", md, {"left_out": a.left_out, "target": a.target, "rows": rows})


if __name__ == "__main__":
    main()
