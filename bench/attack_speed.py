"""The main job's speed and memory: wall time, optimiser steps/s, when validation got within a point of
its final value, why it stopped, peak memory, and the fixed overhead of a 1-step attack; each beside
the figure before this work and the target. Every run is a fresh ``patchsim attack`` process
(``/usr/bin/time -v`` when present for the peak memory). Run: python bench/attack_speed.py [--device cpu]"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BEFORE = {"main job wall (s)": 105.0, "peak memory (GB)": 6.1, "1-step attack (s)": 63.0}
TARGET = {"main job wall (s)": 15.0, "peak memory (GB)": 1.5, "1-step attack (s)": 5.0}


def run(args: list[str], out: Path) -> tuple[float, float | None]:
    """(wall seconds, peak GB or None) of ``patchsim attack ... --out out``."""
    cmd = [sys.executable, "-m", "patchsim.cli", "attack", *args, "--out", str(out), "--force"]
    timer = ["/usr/bin/time", "-v"] if shutil.which("/usr/bin/time") else []
    t = time.perf_counter()
    p = subprocess.run(timer + cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(p.stderr[-2000:])
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    return wall, int(m.group(1)) / 1024**2 if m else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    wall, peak = run(["scenes/stop_driveby.yaml", "--device", a.device], tmp / "main")
    rec = json.loads((tmp / "main" / "attack.json").read_text())
    curve = rec["validation_curve"]
    final = curve[-1]["success"]
    near = next(h for h in curve if h["success"] >= final - 0.01)
    one, _ = run(["scenes/stop_driveby.yaml", "--steps", "1", "--device", a.device], tmp / "one")
    one_bare, _ = run(["scenes/stop_driveby.yaml", "--steps", "1", "--no-sim-to-real", "--device", a.device],
                      tmp / "bare")
    t = rec.get("sim_to_real") or {}
    print(f"device {a.device}; main job: {rec['steps_run']} steps, stopped by {rec['stop_reason']}, "
          f"{rec['steps_run'] / rec['wall_s_optimise']:.1f} steps/s, validation within 1 point of its final "
          f"{100 * final:.1f}% at step {near['step']} ({near['wall_s']:.1f} s into the loop); held-out "
          f"{100 * t.get('held_out_renders', float('nan')):.1f}%")
    rows = {"main job wall (s)": wall, "peak memory (GB)": peak, "1-step attack (s)": one}
    for k, v in rows.items():
        shown = "n/a" if v is None else f"{v:.2f}"
        print(f"  {k:20s} {shown:>8s}   before {BEFORE[k]:>6.1f}   target <= {TARGET[k]:.1f}")
    print(f"  1-step attack without the sim-to-real table: {one_bare:.2f} s")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
