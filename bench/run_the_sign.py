"""Would the car run the sign? Drive-bys at speeds spread over 10-15 m/s (one per seed), each scored by
the independent simulator through a detector, clean and with a sticker: the tracker's confirmation
distance against the distance a car braking on confirmation needs (`patchsim.evaluate.braking`: reaction
1.5 s, 6 m/s^2, stop line 3 m before the sign). Each drive-by starts at the scene's start or 10 m
beyond the distance needed, whichever is farther, so that a clean sign can be stopped for at every speed.

Run: python bench/run_the_sign.py --sticker ATTACK_DIR/sticker.png [--model sign-det] [--seeds 10]
Writes docs/results/run_the_sign.md (+ .json) with commit, machine and date."""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import write_result  # noqa: E402

from patchsim.evaluate.braking import BrakingModel  # noqa: E402
from patchsim.jobs.evaluate import EvaluateRequest, run_evaluate  # noqa: E402
from patchsim.scene import load_scene  # noqa: E402


def drives(scene, n: int, lo: float, hi: float) -> list:
    """``n`` drive-by scenes at speeds evenly spread over [lo, hi] m/s, each starting far enough to stop."""
    out = []
    for i in range(n):
        v = lo + (hi - lo) * i / max(n - 1, 1)
        start = max(scene.driveby.start_m, math.ceil(BrakingModel(v).needed_m()) + 10.0)
        out.append(dataclasses.replace(scene, driveby=dataclasses.replace(scene.driveby, speed_mps=v, start_m=start)))
    return out


def _m(metres: float | None) -> str:
    return "never" if metres is None else f"{metres:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sticker", required=True, help="sticker.png of a detector attack")
    ap.add_argument("--scene", default="stop_driveby")
    ap.add_argument("--model", default="sign-det")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--speeds", default="10,15", help="LO,HI in m/s")
    a = ap.parse_args()
    lo, hi = (float(x) for x in a.speeds.split(","))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed, sc in enumerate(drives(load_scene(a.scene), a.seeds, lo, hi)):
            rec = run_evaluate(EvaluateRequest(sc, a.sticker, a.model, mode="driveby", seed=seed, video=False,
                                               goal="disappear"), Path(tmp) / f"run{seed}", progress=False)
            row = {"seed": seed, "speed_mps": round(sc.driveby.speed_mps, 2), "start_m": sc.driveby.start_m,
                   "frames": rec.header.frames, "needed_m": rec.runs["clean"].braking.needed_m}
            for run in ("clean", "attacked"):
                b = rec.runs[run].braking
                row[f"{run}_confirmed_at_m"] = b.confirmed_at_m
                row[f"{run}_stops"] = b.stops_before_line
                row[f"{run}_detected"] = round(rec.runs[run].detection_rate, 3)
            rows.append(row)
            print(row, flush=True)
    runs = {r: sum(not row[f"{r}_stops"] for row in rows) for r in ("clean", "attacked")}
    table = ["| seed | speed (m/s) | start (m) | needed (m) | clean: confirmed at (m) | clean stops | "
             "sticker: confirmed at (m) | sticker stops | frames detected clean / sticker |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        table.append(f"| {r['seed']} | {r['speed_mps']:.2f} | {r['start_m']:.0f} | {r['needed_m']:.1f} | "
                     f"{_m(r['clean_confirmed_at_m'])} | "
                     f"{'yes' if r['clean_stops'] else 'no'} | "
                     f"{_m(r['attacked_confirmed_at_m'])} | "
                     f"{'yes' if r['attacked_stops'] else 'no'} | {100 * r['clean_detected']:.0f}% / "
                     f"{100 * r['attacked_detected']:.0f}% |")
    md = (f"# Would the car run the sign?\n\n{a.model} on `{a.scene}` drive-bys at {lo:g}-{hi:g} m/s "
          f"({a.seeds} seeds), sticker `{a.sticker}`, independent simulator. The car brakes when the tracker "
          f"(3 of 5 frames) confirms the stop sign: reaction 1.5 s, 6 m/s^2, stop line 3 m before the sign.\n\n"
          f"**The car runs the sign in {runs['attacked']} of {len(rows)} drive-bys with the sticker "
          f"({runs['clean']} of {len(rows)} clean)** (the issue asks >= 50% with the sticker).\n\n"
          + "\n".join(table) + "\n\nReproduce: `python bench/run_the_sign.py --sticker " + a.sticker + "`\n")
    print(md)
    write_result("run_the_sign", md, {"rows": rows, "runs_the_sign": runs, "model": a.model, "scene": a.scene,
                                      "sticker": a.sticker})


if __name__ == "__main__":
    main()
