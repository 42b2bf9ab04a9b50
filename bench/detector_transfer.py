"""Each detector family's sticker scored on every family: the independent drive-by (frames 40-5 m with
the stop sign not detected, and whether a car at the scene's speed runs the sign) and the scoring street
photos relit (REAP's ASR over the signs each detector finds clean; the band over the validated
relighting models, worst first). The sticker is printed by the inkjet model in both.

Run: python bench/detector_transfer.py --sticker sign-det=runs/det26/sticker.png [--sticker sign-yolo=DIR/sticker.png]
        [--models sign-det sign-yolo]
Writes docs/results/detector_transfer.md (+ .json) with commit, machine and date."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import write_result  # noqa: E402

from patchsim.evaluate.sim_to_real import SCORING_SETS, photo_success  # noqa: E402
from patchsim.io.stickers import load_sticker_rgba, printed_rgba  # noqa: E402
from patchsim.jobs.evaluate import EvaluateRequest, run_evaluate  # noqa: E402
from patchsim.models.detectors import load_detector  # noqa: E402
from patchsim.objectives.goals import DetectionGoal  # noqa: E402
from patchsim.printing.printer import printer_from_spec  # noqa: E402
from patchsim.scene import load_scene  # noqa: E402


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sticker", action="append", required=True, help="FAMILY=sticker.png (the family it was made on)")
    ap.add_argument("--models", nargs="+", default=["sign-det", "sign-yolo"])
    ap.add_argument("--scene", default="stop_driveby")
    a = ap.parse_args()
    stickers = dict(s.split("=", 1) for s in a.sticker)
    scene = load_scene(a.scene)
    printer = printer_from_spec(None)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for made_on, png in stickers.items():
            rgba = load_sticker_rgba(png)
            printed = printed_rgba(rgba, printer)
            for model in a.models:
                rec = run_evaluate(EvaluateRequest(scene, png, model, mode="driveby", seed=0, video=False,
                                                   goal="disappear"), Path(tmp) / f"{made_on}-{model}", progress=False)
                det = load_detector(model)
                goal = DetectionGoal("disappear", det.classes.index("stop"), None, det.score_threshold)
                row = {"sticker_from": made_on, "scored_on": model, "transfer": made_on != model,
                       "driveby_hidden": 1 - rec.detection_rate["attacked"], "driveby_reap_asr": rec.disappearance_rate,
                       "driveby_clean_missed": 1 - rec.detection_rate["clean"],
                       "car_runs_the_sign": not rec.runs["attacked"].braking.stops_before_line,
                       "car_runs_the_sign_clean": not rec.runs["clean"].braking.stops_before_line}
                for src in SCORING_SETS:
                    if not src.startswith("street:"):
                        continue
                    s = photo_success(src, rgba, printed, det, goal, "stop", scene.crop.margin)
                    row[src] = {"missing": s.missing} if s.missing else {
                        "signs": s.signs, "clean_detected": s.clean_correct, "relit_asr": s.relit_asr,
                        "relit": s.relit, "relit_worst": s.relit_worst, "relit_best": s.relit_best}
                rows.append(row)
                print(row, flush=True)
    streets = [s for s in SCORING_SETS if s.startswith("street:")]
    head = ("| sticker made on | scored on | drive-by frames hidden (clean missed) | car runs the sign | "
            + " | ".join(f"{s} relit ASR, worst / default / best" for s in streets) + " |")
    table = [head, "|" + " --- |" * (4 + len(streets))]
    for r in rows:
        cells = []
        for s in streets:
            v = r[s]
            cells.append(v["missing"] if "missing" in v else
                         f"**{_pct(v['relit_worst'])}** / {_pct(v['relit'])} / {_pct(v['relit_best'])} "
                         f"({v['clean_detected']} of {v['signs']} found clean; ASR {_pct(v['relit_asr'])})")
        table.append(f"| {r['sticker_from']} | {r['scored_on']}{' (transfer)' if r['transfer'] else ''} | "
                     f"{_pct(r['driveby_hidden'])} ({_pct(r['driveby_clean_missed'])}) | "
                     f"{'yes' if r['car_runs_the_sign'] else 'no'} | " + " | ".join(cells) + " |")
    md = ("# Detector stickers across detector families\n\n"
          f"Each sticker on `{a.scene}`'s independent drive-by (40-5 m, seed 0, the scene's speed) and on the "
          "scoring street photos, printed by the inkjet model and relit; on its own family and on the other "
          "(transfer). Street columns: success over the signs scored (worst / validated default / best relighting "
          "model) and REAP's ASR (over the signs the detector finds clean).\n\n" + "\n".join(table) +
          "\n\nReproduce: `python bench/detector_transfer.py " + " ".join(f"--sticker {k}={v}" for k, v in stickers.items())
          + "`\n")
    print(md)
    write_result("detector_transfer", md, {"rows": rows})


if __name__ == "__main__":
    main()
