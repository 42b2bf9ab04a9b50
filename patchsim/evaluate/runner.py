"""Stream a sequence of conditions through the independent camera simulator and a model, clean and
attacked side by side: :func:`evaluate_frames` yields one :class:`EvaluatedFrame` per frame, in order,
as soon as its crops are classified; sinks (:class:`MetricsSink` here, CSV, video and timeline strip in
:mod:`patchsim.evaluate.report`) consume them, and :func:`summarise` turns frame records into sequence
metrics.

Frames are never kept by the evaluator: each is rendered, cropped (and checked for flow and spatial
consistency), queued for batched classification and handed on; memory stays flat as sequences grow."""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass
from typing import Iterable, Iterator, Protocol

import cv2
import numpy as np
from tqdm import tqdm

from patchsim.evaluate import consistency
from patchsim.errors import PatchsimError
from patchsim.simulator.camera_sim import CameraSimulator, SimFrame
from patchsim.evaluate.metrics import binned, covering_edges, sequence_metrics, value_edges
from patchsim.evaluate.records import RUNS, FrameRecord, RunFrame, SequenceMetrics, SequenceResult
from patchsim.records import to_data
from patchsim.objectives.goals import Goal, classify_crops
from patchsim.render.crop import detector_crop
from patchsim.render.conditions import Conditions
from patchsim.signs import load_face


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
    d = to_data(cond)
    for i in range(len(cond)):
        yield {k: d[k][i] for k in d}


@dataclass(frozen=True)
class BinEdges:
    """Bin edges of the per-bin success: distance (metres), yaw (degrees), ambient light level."""

    distance_m: tuple[float, ...]
    yaw_deg: tuple[float, ...]
    ambient: tuple[float, ...]


def bin_edges(scene, mode: str) -> BinEdges:
    """Bins that follow the scene's own ranges: for a grid one bin per grid distance, angle and light
    level; for a drive-by 5 m distance bins over the whole approach, the sign's yaw, and 0.1-wide
    ambient bins over the scene's ambient range."""
    if mode == "grid":
        g = scene.grid
        if g is None:
            raise PatchsimError(f"scene {scene.name!r} has no 'grid' section")
        return BinEdges(tuple(value_edges(g.distances_m)), tuple(value_edges(g.angles_deg)), tuple(value_edges(g.ambient)))
    if mode == "driveby":
        d = scene.driveby
        if d is None:
            raise PatchsimError(f"scene {scene.name!r} has no 'driveby' section")
        return BinEdges(tuple(covering_edges(np.array([d.end_m, d.start_m]), 5.0)), tuple(value_edges([scene.sign.yaw_deg])),
                        tuple(covering_edges(np.array(scene.lighting.ambient), 0.1)))
    raise PatchsimError(f"mode must be driveby or grid, got {mode!r}")


@dataclass(frozen=True)
class EvaluatedFrame:
    """One frame as the evaluator hands it to sinks: its ``record``, each run's class probabilities
    ``probs[run]`` ``(K,)`` float32, and each run's simulated ``views[run]`` (image and detector box).
    Sinks keep what they need; the evaluator keeps nothing."""

    record: FrameRecord
    probs: dict[str, np.ndarray]
    views: dict[str, SimFrame]


class _Classifier:
    """Queues crops and classifies them in batches of ``batch``; ``results[i][(run, kind)]`` lists the
    probability vectors (float32 copies) of frame ``i``'s ``main`` crops, the predicted classes of the
    others."""

    def __init__(self, model, batch: int):
        self.model, self.batch = model, batch
        self.queue: list[tuple[str, str, int, np.ndarray]] = []
        self.results: dict[int, dict[tuple[str, str], list]] = {}

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
            self.results.setdefault(i, {}).setdefault((run, kind), []).append(kept)
        self.queue = []

    def done_before(self) -> int | float:
        """Every frame below this index has all its crops classified."""
        return self.queue[0][2] if self.queue else float("inf")

    def pop(self, i: int) -> dict[tuple[str, str], list]:
        return self.results.pop(i, {})


def _run_frame(res: dict, run: str, goal: Goal, classes: list[str]) -> tuple[RunFrame, np.ndarray]:
    probs = res[(run, "main")][0]
    pred = int(probs.argmax())
    flow = res.get((run, "flow"), [])
    spatial = res.get((run, "spatial"), [])
    return RunFrame(
        pred=classes[pred], conf=round(float(probs[pred]), 4), true_prob=round(float(probs[goal.true_class]), 4),
        target_prob=round(float(probs[goal.target]), 4) if goal.target is not None else None,
        fooled=bool(goal.fooled(np.array([pred]))[0]), flow_flag=bool(flow) and flow[0] != pred,
        spatial_agreement=float(np.mean([k == pred for k in spatial])) if spatial else 1.0), probs


def evaluate_frames(scene, model, goal: Goal, cond: Conditions, sticker_rgba: np.ndarray | None,
                    settings: EvalSettings = EvalSettings(), progress: bool = True) -> Iterator[EvaluatedFrame]:
    """Simulate every frame of ``cond`` clean and with ``sticker_rgba`` (the printed sticker, RGBA
    uint8 over the face's bounding square; None: clean twice), classify the detector crops (plus the
    flow and spatial checks' crops), and yield the frames in order as soon as they are classified."""
    size = model.input_size[0]
    clean = sticker_face(scene, None, settings.face_resolution)
    sims = {"clean": CameraSimulator(scene, clean),
            "attacked": CameraSimulator(scene, sticker_face(scene, sticker_rgba, settings.face_resolution, clean))}
    clf = _Classifier(model, settings.batch)
    prev: dict[str, np.ndarray | None] = {r: None for r in RUNS}
    pending: deque[tuple[int, dict, dict[str, SimFrame]]] = deque()

    def ready(until: int | float) -> Iterator[EvaluatedFrame]:
        while pending and pending[0][0] < until:
            i, row, views = pending.popleft()
            res = clf.pop(i)
            runs = {run: _run_frame(res, run, goal, model.classes) for run in RUNS}
            rec = FrameRecord(frame=i, distance_m=row["distance_m"], yaw_deg=row["yaw_deg"], lateral_m=row["lateral_m"],
                              ambient=row["ambient"], box_px=round(float(views["attacked"].box[2]), 2),
                              clean=runs["clean"][0], attacked=runs["attacked"][0])
            yield EvaluatedFrame(rec, {run: runs[run][1] for run in RUNS}, views)

    for i, row in enumerate(tqdm(condition_rows(cond), total=len(cond), desc="evaluate", unit="frame",
                                 disable=not progress or None)):
        views = {}
        for run, sim in sims.items():
            f = sim.render(row)
            views[run] = f
            clf.add(run, "main", i, detector_crop(f.image, f.box, size))
            if settings.flow and prev[run] is not None:
                clf.add(run, "flow", i, detector_crop(consistency.warp_previous(prev[run], f.image, f.box), f.box, size))
            for crop in (consistency.spatial_crops(f.image, f.box, size, settings.spatial_k, int(row["noise_seed"]))
                         if settings.spatial_k else []):
                clf.add(run, "spatial", i, crop)
            prev[run] = f.image
        pending.append((i, row, views))
        yield from ready(clf.done_before())
    clf.flush()
    yield from ready(float("inf"))


def summarise(records: list[FrameRecord], probs: dict[str, np.ndarray], goal: Goal, settings: EvalSettings,
              edges: BinEdges, fps: float | None = None, speed_mps: float | None = None) -> SequenceResult:
    """Sequence metrics per run and consistency detection rates from the frame records (in order) and
    each run's probabilities ``probs[run]`` ``(T, K)``. ``fps`` and ``speed_mps`` turn streaks into
    seconds and metres (None for a grid)."""
    t = len(records)
    if t == 0 or any(p.shape[0] != t for p in probs.values()):
        raise PatchsimError(f"summarise needs frame records and (T, K) probabilities of each run, got {t} records and "
                            f"{ {r: p.shape for r, p in probs.items()} }")
    dist = np.array([r.distance_m for r in records])
    yaw = np.array([r.yaw_deg for r in records])
    amb = np.array([r.ambient for r in records])
    metrics: dict[str, SequenceMetrics] = {}
    flags = {}
    for run in RUNS:
        p = probs[run]
        pred = p.argmax(1)
        fooled = goal.fooled(pred)
        agree = np.array([r.run(run).spatial_agreement for r in records])
        flags[run] = {"flow": np.array([r.run(run).flow_flag for r in records]), "spatial": agree < 0.5}
        m = sequence_metrics(pred, p, dist, goal, fps, speed_mps, settings.k, settings.n, settings.alpha)
        metrics[run] = dataclasses.replace(
            m, per_distance=binned(dist, fooled, list(edges.distance_m)), per_yaw=binned(yaw, fooled, list(edges.yaw_deg)),
            per_ambient=binned(amb, fooled, list(edges.ambient)), mean_confidence=float(p.max(1).mean()),
            mean_target_probability=float(p[:, goal.target].mean()) if goal.target is not None else None,
            spatial_agreement=float(agree.mean()))
    rates = {kind: consistency.detection_rates(flags["attacked"][kind], flags["clean"][kind])
             for kind in ("flow", "spatial")}
    return SequenceResult(metrics, rates)


class FrameSink(Protocol):
    """Consumes evaluated frames in order; ``close`` finishes its output. ``abort`` (optional) drops
    a half-written output when the stream fails."""

    def add(self, frame: EvaluatedFrame) -> None: ...

    def close(self): ...


class MetricsSink:
    """Keeps the frame records and probabilities of a stream; ``close()`` returns the sequence's
    :class:`SequenceResult` (see :func:`summarise`)."""

    def __init__(self, goal: Goal, settings: EvalSettings, edges: BinEdges, fps: float | None = None,
                 speed_mps: float | None = None):
        self.goal, self.settings, self.edges, self.fps, self.speed_mps = goal, settings, edges, fps, speed_mps
        self.records: list[FrameRecord] = []
        self.probs: dict[str, list[np.ndarray]] = {r: [] for r in RUNS}

    def add(self, frame: EvaluatedFrame) -> None:
        self.records.append(frame.record)
        for run in RUNS:
            self.probs[run].append(frame.probs[run])

    def close(self) -> SequenceResult:
        return summarise(self.records, {r: np.stack(p) for r, p in self.probs.items()}, self.goal, self.settings,
                         self.edges, self.fps, self.speed_mps)


def drain(frames: Iterable[EvaluatedFrame], sinks: list[FrameSink]) -> list:
    """Feed every frame to every sink, in order, then close them; returns what each ``close()`` returns.
    When the stream fails, sinks that have ``abort()`` drop what they half wrote."""
    try:
        for f in frames:
            for s in sinks:
                s.add(f)
    except BaseException:
        for s in sinks:
            if hasattr(s, "abort"):
                s.abort()
        raise
    return [s.close() for s in sinks]
