"""``patchsim evaluate``: score a sticker on a scene's drive-by or grid with the independent simulator."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from patchsim.jobs.attack_record import target_of_sticker
from patchsim.device import resolve_device
from patchsim.errors import PatchsimError
from patchsim.evaluate import report
from patchsim.evaluate.records import EvaluationHeader, EvaluationRecord, FrameRecord, SequenceResult, write_metrics
from patchsim.evaluate.runner import EvalSettings, MetricsSink, bin_edges, drain, evaluate_frames
from patchsim.defences import load_defended, refuse_for_detector
from patchsim.models import freeze
from patchsim.io.outputs import writes_folder
from patchsim.objectives.goals import Goal
from patchsim.render import sample_driveby, sample_grid
from patchsim.scene import Scene
from patchsim.io.stickers import load_sticker_rgba, printed_rgba

log = logging.getLogger(__name__)

MODES = ("driveby", "grid")


@dataclass(frozen=True)
class EvaluateRequest:
    """What to evaluate: ``scene``; ``sticker`` (sticker.png, the colours sent to the printer; None:
    clean only); ``model`` name with optional ``weights`` and ``labels`` files; ``target`` class name
    (None: untargeted); ``mode`` driveby | grid; ``seed`` of the sampled conditions; ``printer`` spec
    (see :func:`patchsim.printing.printer.printer_from_spec`); ``video``: write driveby.webm (drive-by only);
    ``target_from_sticker``: with no ``target``, score against the target of the attack that made the
    sticker (the attack.json beside it), when the model has that class. ``detector``: the model file is a
    detector (shipped detectors are known by name); ``goal`` for detectors (see
    :class:`patchsim.objectives.goals.DetectionGoal`; auto: the sticker's attack's goal, else disappear)."""

    scene: Scene
    sticker: str | None
    model: str = "gtsrb-cnn"
    weights: str | None = None
    labels: str | None = None
    target: str | None = None
    mode: str = "driveby"
    seed: int = 0
    printer: str = "inkjet"
    video: bool = True
    settings: EvalSettings = field(default_factory=EvalSettings)
    device: str = "auto"
    target_from_sticker: bool = False
    detector: bool = False
    goal: str = "auto"
    defence: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise PatchsimError(f"--mode {self.mode!r} is invalid: must be one of {', '.join(MODES)}")


@writes_folder("evaluate", ("metrics.json", "frames.csv", "success_vs_distance.png", "heatmap.png", "filters.png",
                            "timeline.png", "driveby.webm", "driveby.mp4", "report.html", "detection_vs_distance.png",
                            "detections.png"), inputs=lambda a: [a["req"].sticker])
def run_evaluate(req: EvaluateRequest, out: str | Path, progress: bool = True, force: bool = False):
    """Evaluate and write metrics.json (:class:`EvaluationRecord`), frames.csv (one
    :class:`FrameRecord` per row), plots, the drive-by video and report.html into ``out``. With a
    detector: :func:`patchsim.jobs.evaluate_detector.run_detection_evaluation` (a ``DetectionEvaluation``)."""
    from patchsim.models import is_detector
    from patchsim.printing.printer import printer_from_spec

    if is_detector(req.model, req.detector):
        refuse_for_detector(req.defence, req.model)
        from patchsim.jobs.evaluate_detector import run_detection_evaluation

        return run_detection_evaluation(req, Path(out), progress)
    if req.goal != "auto":
        raise PatchsimError(f"--goal {req.goal} applies to detectors; {req.model} is a classifier")
    t0 = time.time()
    scene = req.scene
    pm = printer_from_spec(req.printer)
    edges = bin_edges(scene, req.mode)  # also: the scene has the mode's section
    model = freeze(load_defended(req.model, weights=req.weights, labels=req.labels, defence=req.defence)).to(
        resolve_device(req.device))
    target = req.target
    if target is None and req.target_from_sticker and req.sticker:
        target = target_of_sticker(req.sticker, model.classes)
    goal = Goal.for_scene(scene, model.classes, target)
    sticker_rgba = printed_rgba(load_sticker_rgba(req.sticker), pm) if req.sticker else None
    g = torch.Generator().manual_seed(req.seed)
    if req.mode == "driveby":
        cond, fps, speed = sample_driveby(scene, g), scene.driveby.fps, scene.driveby.speed_mps
    else:
        cond, fps, speed = sample_grid(scene, g), None, None
    out = Path(out)  # created and locked by @writes_folder
    video = "driveby.webm" if req.video and req.mode == "driveby" else None
    sinks = [MetricsSink(goal, req.settings, edges, fps, speed), report.FramesCsvSink(out / "frames.csv"),
             report.StripSink(out / "timeline.png", len(cond), model.input_size[0])]
    if video:
        sinks.append(report.VideoSink(out / video, fps, scene.camera.width))
    result, records, *_ = drain(evaluate_frames(scene, model, goal, cond, sticker_rgba, req.settings, progress), sinks)
    images = write_plots(out, records, result, req.mode)
    header = EvaluationHeader(
        kind="classifier", scene=str(scene.path), mode=req.mode, model=req.model, sticker=req.sticker, seed=req.seed,
        target=model.classes[goal.target] if goal.target is not None else None, printer=pm.name, frames=len(records),
        fps=fps, wall_s=round(time.time() - t0, 2),
        simulator="patchsim.simulator.camera_sim (OpenCV, independent of the optimiser's renderer)")
    rec = EvaluationRecord(header, true_class=model.classes[goal.true_class], speed_mps=speed,
                           settings=req.settings.__dict__, metrics=result.metrics, consistency=result.consistency,
                           defence=req.defence)
    write_metrics(out / "metrics.json", rec)
    report.write_html(out / "report.html", f"patchsim evaluate: {scene.name}, {model.name}, {req.mode}", images,
                      video, metrics=result.metrics, consistency=result.consistency)
    log.info("attacked: %.1f%% fooled frames (clean %.1f%%) over %d frames; outputs in %s",
             100 * result.metrics["attacked"].success, 100 * result.metrics["clean"].success, len(records), out)
    return rec


def write_plots(out: Path, records: list[FrameRecord], result: SequenceResult, mode: str) -> list[str]:
    """The report's plots (success vs distance, grid heatmap, filters) beside the timeline strip; returns
    the image file names in the report's order."""
    report.plot_success_vs_distance(out / "success_vs_distance.png", records)
    report.plot_filters(out / "filters.png", result.metrics)
    images = ["success_vs_distance.png", "filters.png", "timeline.png"]
    if mode == "grid":
        report.plot_heatmap(out / "heatmap.png", records)
        images.insert(1, "heatmap.png")
    return images
