"""Evaluator throughput and memory: a 1280x720 drive-by of N frames evaluated end to end (independent
simulator, clean and attacked, model, flow and spatial checks, metrics, plots, video), in a fresh
process each so peak memory is its own. Target: <= 3 s for 300 frames on 2 cores; memory the same at
300 and 3000 frames. Run: python bench/eval_bench.py [--model gtsrb-cnn]"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import write_result  # noqa: E402


def child(frames: int, model: str, weights: str | None, video: bool) -> None:
    from patchsim.jobs.evaluate import EvaluateRequest, run_evaluate
    from patchsim.io.images import write_png
    from patchsim.scene import load_scene

    scene = load_scene("stop_driveby")
    d = scene.driveby
    speed = (d.start_m - d.end_m) * d.fps / (frames - 1)
    variant = dataclasses.replace(scene, driveby=dataclasses.replace(d, speed_mps=speed))  # exactly N frames
    tmp = Path(tempfile.mkdtemp())
    st = np.zeros((600, 600, 4), np.uint8)
    st[120:150, 132:468] = (30, 160, 220, 255)
    st[420:450, 132:468] = (30, 160, 220, 255)
    write_png(tmp / "sticker.png", st)
    t = time.perf_counter()
    s = run_evaluate(EvaluateRequest(variant, str(tmp / "sticker.png"), model, weights, video=video), tmp / "out",
                     progress=False)
    wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"frames": s.header.frames, "seconds": wall, "peak_mb": peak}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="gtsrb-cnn")
    ap.add_argument("--weights")
    ap.add_argument("--frames", nargs="+", type=int, default=[300, 3000])
    ap.add_argument("--child", type=int)
    ap.add_argument("--no-video", action="store_true")
    a = ap.parse_args()
    if a.child:
        child(a.child, a.model, a.weights, not a.no_video)
        return
    lines, rows = ["1280x720 drive-by, clean + attacked, flow + 3 spatial sub-crops per frame, plots" +
                   ("" if a.no_video else ", WebM (VP9) video")], []
    print(lines[0])
    for n in a.frames:
        cmd = [sys.executable, __file__, "--child", str(n), "--model", a.model] + (["--weights", a.weights] if a.weights else []) \
            + (["--no-video"] if a.no_video else [])
        r = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
        lines.append(f"{r['frames']:5d} frames: {r['seconds']:6.2f} s ({1000 * r['seconds'] / r['frames']:.1f} ms/frame; "
                     f"target for 300 frames <= 3 s) | peak memory {r['peak_mb']:.0f} MB")
        print(lines[-1])
        rows.append(r)
    write_result("eval_bench", "# Independent evaluator speed (`python bench/eval_bench.py`)\n\n```\n" + "\n".join(lines)
                 + "\n```\n", {"rows": rows, "video": not a.no_video})


if __name__ == "__main__":
    main()
