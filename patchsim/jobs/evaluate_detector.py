"""``patchsim evaluate`` with a detector: the drive-by or grid in the independent simulator, full frames
through the detector, clean and attacked; metrics.json (:class:`DetectionEvaluation`), frames.csv,
detection_vs_distance.png, detections.png (annotated frames along the approach) and report.html."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from patchsim.evaluate.braking import BrakingModel, BrakingOutcome
from patchsim.evaluate.detection import (DET_RUNS, DetectionFrame, DetectionSequence, disappearance_rate,
                                         evaluate_detection_frames, summarise_detection)
from patchsim.evaluate.records import EvaluationHeader, write_metrics
from patchsim.device import resolve_device
from patchsim.io.images import write_png
from patchsim.io.stickers import load_sticker_rgba, printed_rgba

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectionEvaluation:
    """metrics.json of ``patchsim evaluate`` with a detector: what was evaluated (``sign_class``: the class
    watched at the sign, the target for ``create``) and, per run,
    ``detection_rate`` and the :class:`DetectionSequence`; ``disappearance_rate`` (REAP's ASR; None when
    the clean sign is never detected)."""

    header: EvaluationHeader
    sign_class: str
    goal: str
    score_threshold: float
    detection_rate: dict[str, float]
    disappearance_rate: float | None
    runs: dict[str, DetectionSequence]


def sticker_goal(sticker: str | None) -> tuple[str | None, str | None]:
    """(goal, target name) of the attack that made ``sticker`` (its attack.json), or (None, None)."""
    from patchsim.jobs.attack_record import record_beside

    rec = record_beside(sticker)
    if rec is None:
        return None, None
    goal = rec.config.goal
    return (goal if goal != "auto" else None), rec.target_name


def run_detection_evaluation(req, out: Path, progress: bool = True) -> DetectionEvaluation:
    """The detector branch of :func:`patchsim.jobs.evaluate.run_evaluate` (``out`` already claimed)."""
    from patchsim.evaluate import report
    from patchsim.evaluate.runner import bin_edges
    from patchsim.models import freeze
    from patchsim.models.detectors import load_detector
    from patchsim.objectives.goals import DetectionGoal, Goal
    from patchsim.render import sample_driveby, sample_grid
    from patchsim.printing.printer import printer_from_spec

    t0 = time.time()
    scene = req.scene.for_detector()  # a detector's sticker layout (a sticker PNG without alpha takes it)
    pm = printer_from_spec(req.printer)
    edges = bin_edges(scene, req.mode)
    det = freeze(load_detector(req.model, req.weights, req.labels)).to(resolve_device(req.device))
    goal_kind, target = req.goal, req.target
    if goal_kind == "auto":
        from_sticker, sticker_target = sticker_goal(req.sticker)
        goal_kind = from_sticker or ("misclassify" if target else "disappear")
        if from_sticker and from_sticker != "disappear" and target is None:
            target = sticker_target
    if goal_kind == "create":
        from patchsim.objectives.goals import creation_classes

        goal = DetectionGoal(goal_kind, *creation_classes(det.classes, target), det.score_threshold)
    else:
        cls = Goal.for_scene(scene, det.classes, target if goal_kind != "disappear" else None)
        goal = DetectionGoal(goal_kind, cls.true_class, cls.target, det.score_threshold)
    sticker_rgba = printed_rgba(load_sticker_rgba(req.sticker), pm) if req.sticker else None
    sign_name = det.classes[goal.watched]  # its boxes drawn green in the video and the sheet
    g = torch.Generator().manual_seed(req.seed)
    cond, fps = (sample_driveby(scene, g), scene.driveby.fps) if req.mode == "driveby" else (sample_grid(scene, g), None)
    records: list[DetectionFrame] = []
    dets: dict[str, list] = {r: [] for r in DET_RUNS}
    shots = set(np.linspace(0, len(cond) - 1, 6).round().astype(int).tolist())
    thumbs = []
    video = report.VideoSink(out / "driveby.webm", fps, scene.camera.width) if req.video and fps else None
    try:
        for rec, views in evaluate_detection_frames(scene, det, goal, cond, sticker_rgba, progress=progress):
            records.append(rec)
            for run in DET_RUNS:
                dets[run].append(views[run][1])
            if rec.frame in shots:
                thumbs.append((rec, views))
            if video is not None:
                video.write([video_half(views[run][0], views[run][1], rec, run, video.scale, sign_name) for run in DET_RUNS])
    except BaseException:
        if video is not None:
            video.abort()
        raise
    if video is not None:
        video.close()
    car = BrakingModel(scene.driveby.speed_mps) if req.mode == "driveby" else None  # the drive-by's own speed
    runs = summarise_detection(records, dets, det.classes[goal.watched], list(edges.distance_m),
                               req.settings.k, req.settings.n, braking=car)
    report.write_frames_csv(out / "frames.csv", [r.to_row() for r in records])
    plot_detection_vs_distance(out / "detection_vs_distance.png", runs)
    write_detection_sheet(out / "detections.png", thumbs, sign_name)
    header = EvaluationHeader(
        kind="detector", scene=str(scene.path), mode=req.mode, model=req.model, sticker=req.sticker, seed=req.seed,
        target=det.classes[goal.target] if goal.target is not None else None, printer=pm.name, frames=len(records),
        fps=fps, wall_s=round(time.time() - t0, 2),
        simulator="patchsim.simulator.camera_sim (OpenCV, independent of the optimiser's renderer), full frames")
    rec = DetectionEvaluation(header, sign_class=det.classes[goal.watched], goal=goal.kind,
                              score_threshold=det.score_threshold,
                              detection_rate={r: runs[r].detection_rate for r in DET_RUNS},
                              disappearance_rate=disappearance_rate(records), runs=runs)
    write_metrics(out / "metrics.json", rec)
    report.write_html(out / "report.html", f"patchsim evaluate: {scene.name}, {req.model} ({goal.kind}), {req.mode}",
                      ["detection_vs_distance.png", "detections.png"], "driveby.webm" if video else None,
                      table=_table(rec), video_caption=VIDEO_CAPTION)
    return rec


def stop_verdict(b: BrakingOutcome | None) -> str:
    """'yes' / 'no, runs the sign' with where the car comes to rest and the distance it needed, or '-'
    without a braking verdict (not a drive-by)."""
    if b is None:
        return "-"
    if b.confirmed_at_m is None:
        return f"no: never confirmed, runs the sign at {b.speed_mps:g} m/s"
    where = f"rests {b.stops_at_m:.1f} m before the sign" if b.stops_at_m >= 0 else f"rests {-b.stops_at_m:.1f} m past the sign"
    return f"{'yes' if b.stops_before_line else 'no'}: {where} (needs confirmation at >= {b.needed_m:.1f} m)"


def _table(rec: DetectionEvaluation):
    def pct(v):
        return "-" if v is None else f"{100 * v:.1f}%"

    rows = [("sign detected (IoU >= 0.5)", [pct(rec.runs[r].detection_rate) for r in DET_RUNS]),
            (f"fooled ({rec.goal})", [pct(rec.runs[r].fooled_rate) for r in DET_RUNS]),
            ("hallucinations per frame", [f"{rec.runs[r].hallucinations_per_frame:.3f}" for r in DET_RUNS]),
            ("tracker confirms the sign (k of n frames)",
             [("yes, at %.1f m" % rec.runs[r].confirmed_at_m) if rec.runs[r].confirmed else "no" for r in DET_RUNS]),
            ("car braking on confirmation stops before the line", [stop_verdict(rec.runs[r].braking) for r in DET_RUNS]),
            ("disappearance rate (REAP)", [pct(rec.disappearance_rate), ""])]
    return list(DET_RUNS), rows


def plot_detection_vs_distance(path: Path, runs: dict[str, DetectionSequence]) -> None:
    """Frames with the sign detected (%) against distance, clean and attacked."""
    from patchsim.evaluate.report import plot_vs_distance

    curves = {}
    for run in DET_RUNS:
        bins = [b for b in runs[run].per_distance if b.n]
        curves[run] = ([(b.lo + b.hi) / 2 for b in bins], [100 * b.success for b in bins])
    plot_vs_distance(path, curves, "sign detected (% of frames)")


SIGN_BOX = (40, 200, 60)  # the watched sign class's boxes; other classes keep detect's colours
VIDEO_CAPTION = ("The simulated approach, clean (left) and attacked (right), with the detector's boxes: the sign's "
                 "class green, other classes blue; the top line is red when the goal counts the frame as fooled.")


def on_top(dets: list, sign_name: str) -> list:
    """``dets`` with the sign's class last, so its box is drawn over any other class's at the same place."""
    return sorted(dets, key=lambda d: d.label == sign_name)


def video_half(image: np.ndarray, dets: list, rec: DetectionFrame, run: str, scale: float, sign_name: str) -> np.ndarray:
    """One half of a drive-by video picture: the frame at the video's size with the detector's boxes
    (``sign_name``'s green), the run, whether the goal counts it as fooled, and the distance."""
    import cv2

    from patchsim.jobs.detect import draw_detections
    from patchsim.evaluate.report import VIDEO_SIZE
    from patchsim.models.detectors import Detection

    img = cv2.resize(image, VIDEO_SIZE, interpolation=cv2.INTER_AREA)
    img = draw_detections(img, [Detection(tuple(v * scale for v in d.box), d.score, d.label) for d in on_top(dets, sign_name)],
                          {sign_name: SIGN_BOX})
    r = rec.run(run)
    colour = (220, 40, 40) if r.fooled else (40, 200, 60)
    said = ("sign detected" if r.detected else "sign missed") + (", fooled" if r.fooled else "")
    cv2.putText(img, f"{run}: {said}", (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, 2, cv2.LINE_AA)
    cv2.putText(img, f"{rec.distance_m:.1f} m", (8, 46), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def write_detection_sheet(path: Path, thumbs: list, sign_name: str) -> None:
    """detections.png: for frames along the approach, the region around the sign, clean above attacked,
    with the detector's boxes drawn (``sign_name``'s green) and the distance written."""
    import cv2

    from patchsim.jobs.detect import draw_detections
    from patchsim.models.detectors import Detection

    CELL = 220  # noqa: N806 - pixels of each cell

    cols = []
    for rec, views in thumbs:
        x1, y1, x2, y2 = rec.sign_box
        side = max(96.0, 3.0 * max(x2 - x1, y2 - y1))
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        cells = []
        for run in DET_RUNS:
            img, dets = views[run]
            h, w = img.shape[:2]
            l, t = int(np.clip(cx - side / 2, 0, max(0, w - side))), int(np.clip(cy - side / 2, 0, max(0, h - side)))
            k = CELL / int(side)
            crop = cv2.resize(img[t:t + int(side), l:l + int(side)], (CELL, CELL), interpolation=cv2.INTER_AREA)
            moved = [Detection(tuple((v - o) * k for v, o in zip(d.box, (l, t, l, t))), d.score, d.label)
                     for d in on_top(dets, sign_name)]
            crop = draw_detections(crop, moved, {sign_name: SIGN_BOX})
            cv2.putText(crop, f"{run} {rec.distance_m:.0f} m", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1,
                        cv2.LINE_AA)
            cells.append(crop)
        cols.append(np.concatenate(cells, 0))
    write_png(path, np.concatenate(cols, 1))
