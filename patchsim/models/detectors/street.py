"""Real street photos with annotated stop-sign boxes (``../shared/data/street``) and detector scoring
against them: recall at IoU >= 0.5 and false stop detections per image.

Roles, as everywhere in patchsim: ``praveen`` split ``train`` is attacker / training data; ``asadi``
(all) and ``praveen`` splits ``test`` / ``valid`` are scoring data, never trained on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from patchsim.errors import PatchsimError
from patchsim.io.images import read_image

SCORING_SETS = {"asadi": None, "praveen": {"test", "valid"}}


@dataclass(frozen=True)
class StreetImage:
    """One annotated photo: ``path``, stop boxes ``(K, 4)`` xyxy in the stored image's pixels."""

    path: Path
    stop_boxes: np.ndarray


def street_images(street_dir: str | Path, name: str, splits: set[str] | None = None) -> list[StreetImage]:
    """The photos of street set ``name`` (``asadi``, ``praveen``) whose ``source_split`` is in ``splits``
    (all when None), with their stop boxes."""
    folder = Path(street_dir) / name
    meta_path = folder / "boxes.json"
    if not meta_path.is_file():
        raise PatchsimError(f"street photos not found: {meta_path}")
    out = []
    for item in json.loads(meta_path.read_text()):
        if splits is not None and item["source_split"] not in splits:
            continue
        boxes = np.array([o["box"] for o in item["objects"] if o["name"] == "stop"], np.float32).reshape(-1, 4)
        out.append(StreetImage(folder / "images" / item["file"], boxes))
    return out


def match_stop(found: list[tuple[np.ndarray, float]], truth: np.ndarray, min_iou: float = 0.5) -> tuple[int, int]:
    """Greedy matching by score of detections ``[(box (4,), score)]`` to true boxes ``(K, 4)``: (true
    positives, false positives). Each true box matches at most one detection."""
    from patchsim.models.detectors.core import box_iou

    used = np.zeros(len(truth), bool)
    tp = fp = 0
    for box, _ in sorted(found, key=lambda d: -d[1]):
        if len(truth):
            iou = box_iou(torch.tensor(box[None], dtype=torch.float32), torch.from_numpy(truth))[0].numpy()
            iou[used] = 0
            j = int(iou.argmax())
            if iou[j] >= min_iou:
                used[j] = True
                tp += 1
                continue
        fp += 1
    return tp, fp


def score_stop_detection(detector, images: list[StreetImage], thresholds=(0.2, 0.3, 0.4, 0.5)) -> dict:
    """Stop recall (IoU >= 0.5) and false stop detections per image of ``detector`` on ``images``, at
    each score threshold. Returns ``{"images", "stops", "by_threshold": {thr: {"recall", "false_per_image"}}}``."""

    stop = detector.classes.index("stop")
    lo = min(thresholds)
    per_image = []
    for im in images:
        dets = detector.detect_images([read_image(im.path)], score_threshold=lo)[0]
        per_image.append(([(np.array(d.box, np.float32), d.score) for d in dets if d.label == detector.classes[stop]],
                          im.stop_boxes))
    total = sum(len(t) for _, t in per_image)
    out = {"images": len(images), "stops": int(total), "by_threshold": {}}
    for thr in thresholds:
        tp = fp = 0
        for found, truth in per_image:
            a, b = match_stop([f for f in found if f[1] >= thr], truth)
            tp, fp = tp + a, fp + b
        out["by_threshold"][f"{thr:.2f}"] = {"recall": tp / max(1, total), "false_per_image": fp / max(1, len(images))}
    return out
