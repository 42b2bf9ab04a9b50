"""``patchsim evaluate``: score a sticker on a scene's drive-by or grid with the independent simulator."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch

from patchsim.attack.record import target_of_sticker
from patchsim.errors import PatchsimError
from patchsim.evaluate import report
from patchsim.evaluate.runner import EvalSettings, evaluate_sequence
from patchsim.models import freeze, load
from patchsim.protocol import Goal, detector_crop
from patchsim.render import sample_driveby, sample_grid
from patchsim.scene import Scene, load_scene
from patchsim.sticker_io import load_sticker_rgba, printed_rgba

log = logging.getLogger(__name__)


def run_evaluate(scene_path: str | Scene, sticker: str | None, model_name: str, out: str | Path, mode: str = "driveby",
                 weights: str | None = None, labels: str | None = None, target: str | int | None = None,
                 seed: int = 0, video: bool = True, settings: EvalSettings = EvalSettings(), progress: bool = True,
                 printer: str | None = "inkjet") -> dict:
    """Evaluate and write metrics.json, frames.csv, plots, video (drive-by) and report.html into ``out``.
    ``scene_path``: a scene file or name, or a loaded :class:`Scene`.
    ``printer``: how ``sticker`` (the colours sent to the printer) prints (see
    :func:`patchsim.render.printer.printer_from_spec`)."""
    from patchsim.render.printer import printer_from_spec

    t0 = time.time()
    pm = printer_from_spec(printer)
    scene = scene_path if isinstance(scene_path, Scene) else load_scene(scene_path)
    model = freeze(load(model_name, weights=weights, labels=labels))
    if scene.sign.class_name not in model.classes:
        raise PatchsimError(f"the scene's sign class {scene.sign.class_name!r} is not among the model's classes")
    true_idx = model.classes.index(scene.sign.class_name)
    if target is None and sticker:
        target = target_of_sticker(sticker, model.classes)
    goal = Goal.from_classes(model.classes, true_idx, target)
    sticker_rgba = printed_rgba(load_sticker_rgba(sticker), pm) if sticker else None
    g = torch.Generator().manual_seed(seed)
    if mode == "driveby":
        cond = sample_driveby(scene, g)
        fps, speed = scene.driveby.fps, scene.driveby.speed_mps
    elif mode == "grid":
        cond = sample_grid(scene, g)
        fps, speed = None, None
    else:
        raise PatchsimError(f"mode must be driveby or grid, got {mode!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sink = report.VideoSink(out / "driveby.mp4", fps, model.classes, goal.fooled) if video and mode == "driveby" else None
    strip_at = set(np.linspace(0, len(cond) - 1, 8).round().astype(int).tolist())
    thumbs: dict[int, dict] = {}
    size = model.input_size[0]

    def on_frame(i, row, frames, probs_of):
        if sink is not None:
            if frames is not None:
                sink.add(i, frames, scene.camera.width, row["distance_m"])
            sink.drain(probs_of)
        if frames is not None and i in strip_at:
            thumbs[i] = {r: detector_crop(f.image, f.box, size) for r, f in frames.items()}

    result = evaluate_sequence(scene, model, goal, cond, sticker_rgba, settings, fps, speed, on_frame, progress)
    rows = result["frames"]
    images = ["success_vs_distance.png", "filters.png", "timeline.png"]
    report.plot_success_vs_distance(out / "success_vs_distance.png", rows)
    report.plot_filters(out / "filters.png", result["metrics"])
    report.write_strip(out / "timeline.png", [(rows[i], thumbs[i]) for i in sorted(thumbs)])
    if mode == "grid":
        report.plot_heatmap(out / "heatmap.png", rows)
        images.insert(1, "heatmap.png")
    if sink is not None:
        sink.close()
    summary = {
        "scene": str(scene.path), "mode": mode, "model": model_name, "sticker": sticker, "seed": seed,
        "true_class": model.classes[goal.true_class],
        "target": model.classes[goal.target] if goal.target is not None else None,
        "printer": pm.name, "frames": len(rows), "fps": fps, "speed_mps": speed, "settings": settings.__dict__,
        "metrics": result["metrics"], "consistency": result["consistency"], "wall_s": round(time.time() - t0, 2),
        "simulator": "patchsim.evaluate.camera_sim (OpenCV, independent of the optimiser's renderer)",
    }
    report.write_json(out / "metrics.json", summary)
    report.write_frames_csv(out / "frames.csv", rows)
    report.write_html(out / "report.html", f"patchsim evaluate: {scene.name}, {model_name}, {mode}", summary, images,
                      "driveby.mp4" if sink is not None else None)
    log.info("attacked: %.1f%% fooled frames (clean %.1f%%) over %d frames; outputs in %s",
             100 * summary["metrics"]["attacked"]["success"], 100 * summary["metrics"]["clean"]["success"], len(rows), out)
    return summary
