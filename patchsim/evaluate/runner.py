"""Stream a sequence of conditions through the independent camera simulator and a model, clean and
attacked side by side, and compute per-frame records and per-sequence metrics.

Frames are never kept: each is rendered, cropped (and checked for flow and spatial consistency),
queued for batched classification and dropped; memory stays flat as sequences grow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import cv2
import numpy as np
from tqdm import tqdm

from patchsim.evaluate import consistency
from patchsim.evaluate.camera_sim import CameraSimulator, SimFrame
from patchsim.protocol import Goal, classify_crops, detector_crop
from patchsim.evaluate.metrics import binned, covering_edges, sequence_metrics
from patchsim.render.conditions import Conditions
from patchsim.signs import load_face

RUNS = ("clean", "attacked")


@dataclass(frozen=True)
class EvalSettings:
    """batch: crops per model call. spatial_k: sub-crops per frame (0 disables). flow: optical-flow
    check. k, n: k-of-n filter. alpha: EMA weight. face_resolution: face texture pixels."""

    batch: int = 64
    spatial_k: int = 3
    flow: bool = True
    k: int = 3
    n: int = 5
    alpha: float = 0.3
    face_resolution: int = 512


def sticker_face(scene, sticker_rgba: np.ndarray | None, n: int, face: np.ndarray | None = None) -> np.ndarray:
    """The scene's face ``(n, n, 4)`` uint8 (drawn, or ``face`` when given) with a printed sticker image
    (RGBA over the face's bounding square, alpha = where it is stuck) composited on it."""
    if face is None:
        face = (load_face(scene, n).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    if sticker_rgba is None:
        return face
    st = cv2.resize(sticker_rgba, (n, n), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    a = st[..., 3:] * (face[..., 3:].astype(np.float32) / 255)
    rgb = face[..., :3].astype(np.float32) / 255 * (1 - a) + st[..., :3] * a
    return np.concatenate([(rgb * 255 + 0.5).astype(np.uint8), face[..., 3:]], 2)


def condition_rows(cond: Conditions) -> Iterator[dict]:
    """The record's frames one at a time as {field: float}."""
    d = cond.to_dict()
    for i in range(len(cond)):
        yield {k: d[k][i] for k in d}


class _Classifier:
    """Queues crops and classifies them in batches; results land in ``probs[(run, kind)][i]``: the
    probability vector (float32 copy) for ``main`` crops, only the predicted class for the others, so
    what is kept per frame stays small."""

    def __init__(self, model, batch: int):
        self.model, self.batch = model, batch
        self.queue: list[tuple[str, str, int, np.ndarray]] = []
        self.probs: dict[tuple[str, str], dict[int, np.ndarray]] = {}

    def add(self, run: str, kind: str, i: int, crop: np.ndarray) -> None:
        self.queue.append((run, kind, i, crop))
        if len(self.queue) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if not self.queue:
            return
        p = classify_crops(self.model, [q[3] for q in self.queue])
        for (run, kind, i, _), row in zip(self.queue, p):
            kept = row.copy() if kind == "main" else int(row.argmax())
            self.probs.setdefault((run, kind), {}).setdefault(i, []).append(kept)
        self.queue = []

    def get(self, run: str, kind: str, i: int) -> list[np.ndarray]:
        return self.probs.get((run, kind), {}).get(i, [])


def evaluate_sequence(scene, model, goal: Goal, cond: Conditions, sticker_rgba: np.ndarray | None,
                      settings: EvalSettings = EvalSettings(), fps: float | None = None, speed_mps: float | None = None,
                      on_frame: Callable[[int, dict, dict[str, SimFrame], Callable], None] | None = None,
                      progress: bool = True) -> dict:
    """Evaluate one sequence clean and attacked. Returns {"frames": per-frame records, "metrics":
    {run: sequence metrics}, "consistency": detection / false-alarm rates}. ``on_frame(i, row, frames,
    probs_of)`` sees every simulated frame (for videos and strips) before it is dropped; ``probs_of(run, j)``
    gives the probabilities of frame j once classified. It is called once more with ``frames=None`` at the
    end, when every frame is classified."""
    size = model.input_size[0]
    clean = sticker_face(scene, None, settings.face_resolution)
    sims = {"clean": CameraSimulator(scene, clean),
            "attacked": CameraSimulator(scene, sticker_face(scene, sticker_rgba, settings.face_resolution, clean))}
    clf = _Classifier(model, settings.batch)
    prev: dict[str, np.ndarray | None] = {r: None for r in RUNS}
    rows = []
    for i, row in enumerate(tqdm(condition_rows(cond), total=len(cond), desc="evaluate", unit="frame",
                                 disable=not progress or None)):
        frames = {}
        for run, sim in sims.items():
            f = sim.render(row)
            frames[run] = f
            clf.add(run, "main", i, detector_crop(f.image, f.box, size))
            if settings.flow and prev[run] is not None:
                clf.add(run, "flow", i, detector_crop(consistency.warp_previous(prev[run], f.image, f.box), f.box, size))
            for crop in (consistency.spatial_crops(f.image, f.box, size, settings.spatial_k, int(row["noise_seed"]))
                         if settings.spatial_k else []):
                clf.add(run, "spatial", i, crop)
            prev[run] = f.image
        if on_frame is not None:
            on_frame(i, row, frames, lambda run, j: clf.get(run, "main", j))
        rows.append({"frame": i, "distance_m": row["distance_m"], "yaw_deg": row["yaw_deg"],
                     "lateral_m": row["lateral_m"], "ambient": row["ambient"],
                     "box_px": round(frames["attacked"].box[2], 2)})
    clf.flush()
    if on_frame is not None:
        on_frame(len(cond), None, None, lambda run, j: clf.get(run, "main", j))
    return summarise(rows, clf, goal, settings, model.classes, fps, speed_mps)


def summarise(rows: list[dict], clf: _Classifier, goal: Goal, settings: EvalSettings, classes: list[str],
              fps: float | None, speed_mps: float | None) -> dict:
    t = len(rows)
    dist = np.array([r["distance_m"] for r in rows])
    metrics, flags = {}, {}
    for run in RUNS:
        probs = np.stack([clf.get(run, "main", i)[0] for i in range(t)])
        pred = probs.argmax(1)
        fooled = goal.fooled(pred)
        flow_pred = [clf.get(run, "flow", i) for i in range(t)]
        flow_flag = np.array([bool(fp) and fp[0] != pred[i] for i, fp in enumerate(flow_pred)])
        agree = np.array([np.mean([k == pred[i] for k in clf.get(run, "spatial", i)])
                          if clf.get(run, "spatial", i) else 1.0 for i in range(t)])
        flags[run] = {"flow": flow_flag, "spatial": agree < 0.5}
        m = sequence_metrics(pred, probs, dist, goal, fps, speed_mps, settings.k, settings.n, settings.alpha)
        m["per_distance"] = binned(dist, fooled, covering_edges(dist, 5.0, lo=0.0))  # 5 m bins over the whole range
        m["per_yaw"] = binned(np.array([r["yaw_deg"] for r in rows]), fooled, [-90, -30, -15, -5, 5, 15, 30, 90])
        m["per_ambient"] = binned(np.array([r["ambient"] for r in rows]), fooled, [0, 0.5, 0.7, 0.9, 1.1, 10])
        m["mean_confidence"] = float(probs.max(1).mean())
        if goal.target is not None:
            m["mean_target_probability"] = float(probs[:, goal.target].mean())
        m["spatial_agreement"] = float(agree.mean())
        metrics[run] = m
        for i, r in enumerate(rows):
            r[f"{run}_pred"] = classes[pred[i]]
            r[f"{run}_conf"] = round(float(probs[i].max()), 4)
            r[f"{run}_true_prob"] = round(float(probs[i, goal.true_class]), 4)
            if goal.target is not None:
                r[f"{run}_target_prob"] = round(float(probs[i, goal.target]), 4)
            r[f"{run}_fooled"] = bool(fooled[i])
            r[f"{run}_flow_flag"] = bool(flow_flag[i])
            r[f"{run}_spatial_agreement"] = round(float(agree[i]), 3)
    consistency_rates = {kind: consistency.detection_rates(flags["attacked"][kind], flags["clean"][kind])
                         for kind in ("flow", "spatial")}
    return {"frames": rows, "metrics": metrics, "consistency": consistency_rates}
