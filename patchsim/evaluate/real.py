"""The same per-frame and temporal metrics on real frame sequences: a folder of images, a video file,
or the real GTSRB drive-by tracks (how often does a real, unattacked approach flicker?)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from patchsim.errors import PatchsimError
from patchsim.evaluate.metrics import flip_rate, majority_filter, ema_filter, sequence_metrics
from patchsim.evaluate.records import RealFrameRecord, SequenceMetrics
from patchsim.objectives.goals import Goal, classify_crops
from patchsim.io.images import image_files, read_image


def folder_frames(path: str | Path) -> Iterator[tuple[str, np.ndarray]]:
    """(name, uint8 RGB frame) for every image in a folder, in name order."""
    for p in image_files(path):
        yield p.name, read_image(p)


def _open_video(path: str | Path) -> cv2.VideoCapture:
    """OpenCV's capture of ``path`` with FFmpeg's own console messages off (a damaged file is said
    once, in patchsim's one-line error, not also by the decoder on stderr)."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET, read when a capture opens
    return cv2.VideoCapture(str(path))


def video_frames(path: str | Path, allow_partial: bool = False) -> Iterator[tuple[str, np.ndarray]]:
    """(frame index, uint8 RGB frame) for every frame of a video file. A video whose decoding ends before
    the frame count its container states (cut or damaged) is a one-line error once its frames are read,
    unless ``allow_partial`` (``--allow-partial``: score the frames it has)."""
    cap = _open_video(path)
    if not cap.isOpened():
        raise PatchsimError(f"cannot open video {path}")
    stated = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    i = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            yield str(i), cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            i += 1
    finally:
        cap.release()
    if i == 0:
        raise PatchsimError(f"video {path} has no readable frames")
    if 0 < i < stated and not allow_partial:
        raise PatchsimError(f"video {path} ended after {i} of the {stated} frames its container states (cut or "
                            "damaged); pass --allow-partial to score the frames it has")


def video_fps(path: str | Path) -> float | None:
    cap = _open_video(path)
    fps = cap.get(cv2.CAP_PROP_FPS) if cap.isOpened() else 0
    cap.release()
    return float(fps) if fps and fps > 0 else None


def gtsrb_tracks(model, data: dict[str, np.ndarray], k: int = 3, n: int = 5, alpha: float = 0.3) -> dict:
    """Flicker statistics of the model over GTSRB's real tracks (``x``, ``y``, ``track`` arrays; frames
    of a track in file order, which follows the approach)."""
    if len(model.classes) != 43:
        raise PatchsimError("GTSRB tracks need a 43-class GTSRB model")
    probs = classify_crops(model, list(data["x"]))
    pred = probs.argmax(1)
    tracks = data["track"]
    per = []
    for t in np.unique(tracks):
        idx = np.flatnonzero(tracks == t)
        y = int(data["y"][idx[0]])
        p = pred[idx]
        kn = majority_filter(p, k, n)
        ema = ema_filter(probs[idx], alpha)
        per.append({"track": int(t), "class": y, "frames": len(idx), "accuracy": float((p == y).mean()),
                    "flip_rate": flip_rate(p), "flickers": bool(flip_rate(p) > 0),
                    "k_of_n_final_correct": bool(kn[-1] == y), "ema_final_correct": bool(ema[-1] == y),
                    "ema_flip_rate": flip_rate(ema)})
    acc = np.array([r["accuracy"] for r in per])
    return {
        "tracks": len(per), "frames": int(len(pred)), "frame_accuracy": float((pred == data["y"]).mean()),
        "mean_flip_rate": float(np.mean([r["flip_rate"] for r in per])),
        "tracks_that_flicker": float(np.mean([r["flickers"] for r in per])),
        "tracks_all_correct": float((acc == 1).mean()),
        "k_of_n_final_correct": float(np.mean([r["k_of_n_final_correct"] for r in per])),
        "ema_final_correct": float(np.mean([r["ema_final_correct"] for r in per])),
        "ema_mean_flip_rate": float(np.mean([r["ema_flip_rate"] for r in per])),
        "per_track": per,
    }


def sequence_from_crops(model, names: list[str], crops: list[np.ndarray], goal: Goal, fps: float | None = None,
                        k: int = 3, n: int = 5, alpha: float = 0.3,
                        located_by: list[str] | None = None) -> tuple[list[RealFrameRecord], SequenceMetrics]:
    """Frame records and sequence metrics of a real sequence of sign crops (uint8 RGB, frame order);
    ``located_by``: how each frame's sign was found (None: already-cropped footage)."""
    probs = classify_crops(model, crops)
    pred = probs.argmax(1)
    index = np.arange(len(pred), dtype=np.float64)  # no distances for real footage: frame index instead
    metrics = sequence_metrics(pred, probs, index, goal, fps, None, k, n, alpha)
    fooled = goal.fooled(pred)
    records = [RealFrameRecord(
        frame=i, name=nm, pred=model.classes[pred[i]], conf=round(float(probs[i].max()), 4),
        true_prob=round(float(probs[i, goal.true_class]), 4),
        target_prob=round(float(probs[i, goal.target]), 4) if goal.target is not None else None,
        fooled=bool(fooled[i]), located_by=located_by[i] if located_by else "") for i, nm in enumerate(names)]
    return records, metrics
