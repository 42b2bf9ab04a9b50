"""Detectors in the independent simulator: full simulated frames, clean and attacked, through a detector,
judged against the sign's projected box; per-frame records, an IoU tracker with k-of-n confirmation and
a map memory, and the sequence's detection metrics.

Per frame and run: ``detected`` (a detection of the sign's class with IoU >= 0.5 with the projected face
box and score >= the detector's threshold), the class and score of the best detection at the sign (any
class), the number of hallucinations (detections overlapping the sign by IoU < 0.5), and ``fooled`` by
the :class:`~patchsim.objectives.goals.DetectionGoal`. A sequence's ``disappearance_rate`` is REAP's: frames
where the clean sign is detected but the attacked one is not, over frames where the clean one is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from tqdm import tqdm

from patchsim.simulator.camera_sim import CameraSimulator
from patchsim.evaluate.braking import BrakingModel, BrakingOutcome, braking_outcome
from patchsim.evaluate.metrics import binned
from patchsim.evaluate.records import Bin
from patchsim.evaluate.runner import condition_rows, sticker_face
from patchsim.models.detectors.core import detections_as_tensors
from patchsim.objectives.goals import MATCH_IOU, DetectionGoal

DET_RUNS = ("clean", "attacked")


@dataclass(frozen=True)
class DetectionRun:
    """One run of one frame: ``detected`` (the sign's class at the sign; for ``create`` the target at the
    board), ``label`` / ``score`` of the
    best-overlapping detection at the sign (IoU >= 0.5, any class; None / 0 when none), ``hallucinations``
    (detections elsewhere), ``fooled`` by the goal."""

    detected: bool
    label: str | None
    score: float
    hallucinations: int
    fooled: bool


@dataclass(frozen=True)
class DetectionFrame:
    """One frame's record: conditions that bin it, the sign's box ``sign_box`` (x1, y1, x2, y2) in frame
    pixels (edges at integers) and each run's :class:`DetectionRun`."""

    frame: int
    distance_m: float
    yaw_deg: float
    ambient: float
    sign_box: tuple[float, float, float, float]
    clean: DetectionRun
    attacked: DetectionRun

    def run(self, name: str) -> DetectionRun:
        return getattr(self, name)

    def to_row(self) -> dict:
        """One frames.csv row."""
        row = {"frame": self.frame, "distance_m": round(self.distance_m, 3), "yaw_deg": round(self.yaw_deg, 3),
               "ambient": round(self.ambient, 4), "sign_box": " ".join(f"{v:.2f}" for v in self.sign_box)}
        for run in DET_RUNS:
            r = self.run(run)
            row.update({f"{run}_detected": int(r.detected), f"{run}_label": r.label or "", f"{run}_score": round(r.score, 4),
                        f"{run}_hallucinations": r.hallucinations, f"{run}_fooled": int(r.fooled)})
        return row


@dataclass(frozen=True)
class DetectionSequence:
    """A run's sequence metrics: ``detection_rate`` (frames with the sign detected), ``fooled_rate``
    (frames fooled by the goal), ``hallucinations_per_frame``, ``per_distance`` detection rate bins,
    ``confirmed`` (the tracker confirmed a track of the sign's class, k of n frames; map memory: it stays
    known), ``confirmed_at_m`` (distance when first confirmed, None if never) and ``braking`` (would a car
    braking on confirmation stop before the line: :func:`~patchsim.evaluate.braking.braking_outcome`;
    None for a sequence that is not a drive-by)."""

    detection_rate: float
    fooled_rate: float
    hallucinations_per_frame: float
    per_distance: tuple[Bin, ...]
    confirmed: bool
    confirmed_at_m: float | None
    braking: BrakingOutcome | None


def sign_box_xyxy(corners: np.ndarray) -> torch.Tensor:
    """The face's box ``(4,)`` xyxy with pixel edges at integers from its projected corners ``(4, 2)``
    (pixel centres at integers)."""
    return torch.tensor([*(corners.min(0) + 0.5), *(corners.max(0) + 0.5)], dtype=torch.float32)


def judge(detections, sign_box: torch.Tensor, goal: DetectionGoal, classes: list[str]) -> DetectionRun:
    """A :class:`DetectionRun` from one image's decoded detections ``(boxes (K, 4), scores (K,), labels
    (K,))`` and the sign's box ``(4,)``."""
    from patchsim.models.detectors.core import box_iou

    b, s, c = detections
    detected = goal.found(b, s, c, sign_box, goal.watched)
    iou = box_iou(b.float(), sign_box[None])[:, 0] if len(b) else torch.zeros(0)
    at_sign = iou >= MATCH_IOU
    if bool(at_sign.any()):
        best = int(torch.where(at_sign, s, torch.full_like(s, -1)).argmax())
        label, score = classes[int(c[best])], float(s[best])
    else:
        label, score = None, 0.0
    fooled = bool(goal.fooled([detections], sign_box[None])[0])
    return DetectionRun(detected, label, round(score, 4), int((~at_sign).sum()), fooled)


def evaluate_detection_frames(scene, detector, goal: DetectionGoal, cond, sticker_rgba: np.ndarray | None,
                              face_resolution: int = 512, batch: int = 8, progress: bool = True) -> Iterator[tuple[DetectionFrame, dict]]:
    """Simulate every frame of ``cond`` clean and with ``sticker_rgba`` and run ``detector`` on the full
    frames; yields ``(DetectionFrame, {run: (image, detections)})`` in order (the images for sinks that
    draw them; the evaluator keeps none)."""
    clean = sticker_face(scene, None, face_resolution)
    sims = {"clean": CameraSimulator(scene, clean),
            "attacked": CameraSimulator(scene, sticker_face(scene, sticker_rgba, face_resolution, clean))}
    rows = list(condition_rows(cond))
    bar = tqdm(total=len(rows), desc="evaluate", unit="frame", disable=not progress or None)
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        frames = {run: [sim.render(r) for r in chunk] for run, sim in sims.items()}
        found = {run: detector.detect_images([f.image for f in frames[run]]) for run in DET_RUNS}
        for j, row in enumerate(chunk):
            box = sign_box_xyxy(frames["attacked"][j].corners)
            runs = {}
            for run in DET_RUNS:
                dets = found[run][j]
                t = detections_as_tensors(dets, detector.classes)
                runs[run] = (judge(t, box, goal, detector.classes), frames[run][j].image, dets)
            rec = DetectionFrame(start + j, float(row["distance_m"]), float(row["yaw_deg"]), float(row["ambient"]),
                                 tuple(float(v) for v in box), runs["clean"][0], runs["attacked"][0])
            yield rec, {run: (runs[run][1], runs[run][2]) for run in DET_RUNS}
        bar.update(len(chunk))
    bar.close()


def track_confirmation(frames_dets: list[list], sign_label: str, k: int, n: int, min_iou: float = 0.3) -> int | None:
    """IoU tracker over a sequence's detections (per frame a list of :class:`Detection`): detections of
    ``sign_label`` extend the track they overlap most (IoU >= ``min_iou`` with its last box) or start a
    new one; a track is confirmed when it was seen in ``k`` of its last ``n`` frames. Returns the first
    frame index at which any track is confirmed (map memory: it stays confirmed), or None."""
    from patchsim.models.detectors.core import box_iou

    tracks: list[dict] = []  # {"box": tensor(4), "hits": [frame indices]}
    for i, dets in enumerate(frames_dets):
        boxes = [torch.tensor(d.box, dtype=torch.float32) for d in dets if d.label == sign_label]
        for b in boxes:
            best, best_iou = None, min_iou
            for t in tracks:
                iou = float(box_iou(b[None], t["box"][None])[0, 0])
                if iou >= best_iou and t["hits"][-1] != i:
                    best, best_iou = t, iou
            if best is None:
                best = {"box": b, "hits": []}
                tracks.append(best)
            best["box"] = b
            best["hits"].append(i)
            if sum(1 for h in best["hits"] if h > i - n) >= k:
                return i
        tracks = [t for t in tracks if t["hits"][-1] > i - n]  # tracks unseen for n frames are dropped
    return None


def summarise_detection(records: list[DetectionFrame], dets: dict[str, list[list]], sign_label: str,
                        edges: list[float], k: int = 3, n: int = 5,
                        braking: BrakingModel | None = None) -> dict[str, DetectionSequence]:
    """Each run's :class:`DetectionSequence` from the frame records (in order) and the per-frame
    detections ``dets[run]`` (for the tracker); ``braking``: the car of a drive-by (None: no verdict)."""
    dist = np.array([r.distance_m for r in records])
    out = {}
    for run in DET_RUNS:
        detected = np.array([r.run(run).detected for r in records])
        first = track_confirmation(dets[run], sign_label, k, n)
        at = round(float(dist[first]), 2) if first is not None else None  # metres from the sign
        out[run] = DetectionSequence(
            detection_rate=float(detected.mean()), fooled_rate=float(np.mean([r.run(run).fooled for r in records])),
            hallucinations_per_frame=float(np.mean([r.run(run).hallucinations for r in records])),
            per_distance=tuple(binned(dist, detected, edges)), confirmed=first is not None,
            confirmed_at_m=at, braking=None if braking is None else braking_outcome(at, braking))
    return out


def disappearance_rate(records: list[DetectionFrame]) -> float | None:
    """REAP's attack success: frames with the clean sign detected and the attacked one missed, over frames
    with the clean sign detected (None when the clean sign is never detected)."""
    clean = np.array([r.clean.detected for r in records])
    attacked = np.array([r.attacked.detected for r in records])
    return float((clean & ~attacked).sum() / clean.sum()) if clean.any() else None
