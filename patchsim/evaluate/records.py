"""What the evaluator hands on: one frozen record per frame (a row of frames.csv), one per sequence run
(its metrics), and the evaluation record of a whole job (metrics.json). All round-trip through their
files: ``FrameRecord.from_row(r.to_row()) == r``, ``read_evaluation(p)`` of a written record is equal."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patchsim.errors import PatchsimError
from patchsim.records import Schema, from_data, to_data, versioned_bytes
from patchsim.io.images import atomic_write_bytes

RUNS = ("clean", "attacked")


@dataclass(frozen=True)
class RunFrame:
    """One run's reading of one frame. ``pred``: predicted class name; ``conf``: its probability;
    ``true_prob`` / ``target_prob`` (None when untargeted): probabilities of the true and target
    classes; ``fooled``: the goal's verdict; ``flow_flag``: the optical-flow check disagreed with the
    prediction; ``spatial_agreement``: fraction of sub-crops read as ``pred`` (1 when not checked).
    Probabilities are rounded to 4 decimals, as written to frames.csv."""

    pred: str
    conf: float
    true_prob: float
    target_prob: float | None
    fooled: bool
    flow_flag: bool
    spatial_agreement: float


@dataclass(frozen=True)
class FrameRecord:
    """One simulated frame: index, camera-to-sign ``distance_m`` (metres), sign ``yaw_deg`` (degrees),
    ``lateral_m`` (metres), ``ambient`` light level, detector box side ``box_px`` (pixels, attacked run),
    and each run's reading."""

    frame: int
    distance_m: float
    yaw_deg: float
    lateral_m: float
    ambient: float
    box_px: float
    clean: RunFrame
    attacked: RunFrame

    def run(self, name: str) -> RunFrame:
        if name not in RUNS:
            raise PatchsimError(f"run must be one of {', '.join(RUNS)}, got {name!r}")
        return getattr(self, name)

    def to_row(self) -> dict[str, Any]:
        """The frames.csv row: the frame's fields, then ``{run}_{field}`` for each run."""
        row = {k: getattr(self, k) for k in ("frame", "distance_m", "yaw_deg", "lateral_m", "ambient", "box_px")}
        for run in RUNS:
            row.update({f"{run}_{k}": v for k, v in to_data(self.run(run)).items()})
        return row

    @classmethod
    def from_row(cls, row: dict[str, str]) -> "FrameRecord":
        """Parse a frames.csv row (all values strings, as ``csv.DictReader`` gives them)."""
        try:
            data: dict[str, Any] = {"frame": int(row["frame"]),
                                    **{k: float(row[k]) for k in ("distance_m", "yaw_deg", "lateral_m", "ambient",
                                                                  "box_px")}}
            for run in RUNS:
                tp = row[f"{run}_target_prob"]
                data[run] = {"pred": row[f"{run}_pred"], "conf": float(row[f"{run}_conf"]),
                             "true_prob": float(row[f"{run}_true_prob"]), "target_prob": float(tp) if tp else None,
                             "fooled": _bool(row[f"{run}_fooled"]), "flow_flag": _bool(row[f"{run}_flow_flag"]),
                             "spatial_agreement": float(row[f"{run}_spatial_agreement"])}
        except (KeyError, ValueError) as e:
            raise PatchsimError(f"frames.csv row {row.get('frame', '?')}: cannot parse: {e}") from e
        return from_data(cls, data, "frame record")


def _bool(s: str) -> bool:
    if s not in ("True", "False"):
        raise ValueError(f"expected True or False, got {s!r}")
    return s == "True"


def read_frames_csv(path: str | Path) -> list[FrameRecord]:
    """The frame records of a frames.csv written by ``patchsim evaluate``."""
    with open(path, newline="") as f:
        return [FrameRecord.from_row(r) for r in csv.DictReader(f)]


@dataclass(frozen=True)
class RealFrameRecord:
    """One frame of real footage: index, ``name`` (file name or video frame index), the model's reading
    (as :class:`RunFrame`, no checks) and how the sign was found (``located_by``: empty for footage of
    already-cropped signs)."""

    frame: int
    name: str
    pred: str
    conf: float
    true_prob: float
    target_prob: float | None
    fooled: bool
    located_by: str = ""

    def to_row(self) -> dict[str, Any]:
        return to_data(self)


@dataclass(frozen=True)
class Streak:
    """Longest run of fooled frames: ``frames``, ``seconds`` (None without fps), ``metres`` travelled
    while it lasted (None without fps and speed), ``start`` frame index (None when never fooled)."""

    frames: int
    seconds: float | None
    metres: float | None
    start: int | None


@dataclass(frozen=True)
class KOfN:
    """The k-of-n majority filter's outcome: fraction of frames whose decision is fooled, whether it
    ever was, the final decision (class index, -1: none) and whether it is fooled."""

    k: int
    n: int
    success: float
    ever_fooled: bool
    final_decision: int
    final_fooled: bool


@dataclass(frozen=True)
class Ema:
    """The EMA filter's outcome (as :class:`KOfN`) and the flip rate of its decisions."""

    alpha: float
    success: float
    ever_fooled: bool
    final_decision: int
    final_fooled: bool
    flip_rate: float


@dataclass(frozen=True)
class Bin:
    """Success over the frames whose value lies in ``[lo, hi)``; ``success`` None when ``n`` is 0."""

    lo: float
    hi: float
    n: int
    success: float | None


@dataclass(frozen=True)
class SequenceMetrics:
    """Metrics of one run of one sequence. ``success``: fraction of fooled frames; ``flip_rate``:
    fraction of consecutive frames whose prediction changes; first / last fooled distance in metres
    (frame index for real footage; None when never fooled). The binned fields, ``mean_confidence``,
    ``mean_target_probability`` and ``spatial_agreement`` are filled for simulated sequences."""

    frames: int
    success: float
    flip_rate: float
    longest_fooled_streak: Streak
    first_fooled_distance_m: float | None
    last_fooled_distance_m: float | None
    k_of_n: KOfN
    ema: Ema
    per_distance: tuple[Bin, ...] = ()
    per_yaw: tuple[Bin, ...] = ()
    per_ambient: tuple[Bin, ...] = ()
    mean_confidence: float | None = None
    mean_target_probability: float | None = None
    spatial_agreement: float | None = None


@dataclass(frozen=True)
class DetectionRates:
    """A consistency check's detection rate (flagged frames of the attacked run) and false-alarm rate
    (flagged frames of the clean run); None for an empty run."""

    detection_rate: float | None
    false_alarm_rate: float | None


@dataclass(frozen=True)
class SequenceResult:
    """What one evaluated sequence gives: metrics per run and rates per consistency check (flow,
    spatial)."""

    metrics: dict[str, SequenceMetrics]
    consistency: dict[str, DetectionRates]


@dataclass(frozen=True)
class EvaluationHeader:
    """What one ``patchsim evaluate`` run evaluated, for classifiers and detectors alike: ``kind``
    (classifier | detector), the ``scene`` file, ``mode`` (driveby | grid), the ``model``, the
    ``sticker`` file (None: the clean sign only), the sampler ``seed``, the ``target`` class name (None:
    untargeted), the ``printer``, the number of ``frames``, frames per second (None for a grid), the wall
    time in seconds and the ``simulator`` that made the frames."""

    kind: str
    scene: str
    mode: str
    model: str
    sticker: str | None
    seed: int
    target: str | None
    printer: str
    frames: int
    fps: float | None
    wall_s: float
    simulator: str


@dataclass(frozen=True)
class EvaluationRecord:
    """metrics.json of ``patchsim evaluate`` with a classifier: the :class:`EvaluationHeader`, the sign's
    class, the drive-by speed (m/s; None for a grid), the settings, and what came out."""

    header: EvaluationHeader
    true_class: str
    speed_mps: float | None
    settings: dict[str, Any]
    metrics: dict[str, SequenceMetrics]
    consistency: dict[str, DetectionRates]
    defence: str | None = None


@dataclass(frozen=True)
class RealSequenceSummary:
    """metrics.json of ``patchsim evaluate-real`` on footage (a folder of sign crops or a video): the
    ``source``, the ``model``, frames per second (None for a folder), the number of ``frames`` and the
    sequence's metrics."""

    source: str
    model: str
    fps: float | None
    frames: int
    metrics: SequenceMetrics


@dataclass(frozen=True)
class TracksSummary:
    """metrics.json of ``patchsim evaluate-real gtsrb``: the model's flicker over GTSRB's real tracks:
    ``tracks`` and ``frames`` scored, frame accuracy, the mean flip rate per track, the fractions of
    tracks that flicker and that are right on every frame, and the k-of-n and EMA filters' final-frame
    accuracy and flip rate (fractions in [0, 1])."""

    source: str
    model: str
    tracks: int
    frames: int
    frame_accuracy: float
    mean_flip_rate: float
    tracks_that_flicker: float
    tracks_all_correct: float
    k_of_n_final_correct: float
    ema_final_correct: float
    ema_mean_flip_rate: float


_HEADER_KEYS = ("scene", "mode", "model", "sticker", "seed", "target", "printer", "frames", "fps", "wall_s", "simulator")


def _metrics_from_v1(data: dict) -> dict:
    """metrics.json before versions -> version 2: ``patchsim evaluate``'s records (those naming a
    ``simulator``) gather their ten shared fields under ``header`` with their ``kind`` (detector when
    they carry ``detection_rate``); the other commands' metrics.json are unchanged."""
    if "simulator" not in data or "header" in data:
        return data
    kind = "detector" if "detection_rate" in data else "classifier"
    header = {"kind": kind, **{k: data.get(k) for k in _HEADER_KEYS}}
    return {"header": header, **{k: v for k, v in data.items() if k not in _HEADER_KEYS}}


def _metrics_from_v2(data: dict) -> dict:
    """version 2 -> 3: a detector evaluation's runs lose ``car_stops`` (it repeated ``confirmed``) and gain
    ``braking`` (None: version 2 had no braking model; re-run ``patchsim evaluate`` for the verdict)."""
    if data.get("header", {}).get("kind") != "detector" or not isinstance(data.get("runs"), dict):
        return data
    runs = {name: {**{k: v for k, v in run.items() if k != "car_stops"}, "braking": None}
            for name, run in data["runs"].items()}
    return {**data, "runs": runs}


METRICS_SCHEMA = Schema("metrics.json", 3, {1: _metrics_from_v1, 2: _metrics_from_v2})


def write_metrics(path: str | Path, record: Any) -> None:
    """Write a metrics.json (any command's: a record or plain data), ``schema_version`` first, atomically."""

    atomic_write_bytes(Path(path), versioned_bytes(record, METRICS_SCHEMA))


def read_metrics(path: str | Path) -> dict:
    """A metrics.json as data at the current version (older versions migrated)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PatchsimError(f"{path}: cannot read the metrics file: {e}") from e
    return METRICS_SCHEMA.upgrade(data, str(path))


def read_evaluation(path: str | Path) -> EvaluationRecord:
    """Load the metrics.json of ``patchsim evaluate`` with a classifier."""
    data = read_metrics(path)
    kind = (data.get("header") or {}).get("kind")
    if kind != "classifier":
        raise PatchsimError(f"{path}: not a classifier evaluation (header.kind = {kind!r})")
    return from_data(EvaluationRecord, data, str(path))


@dataclass(frozen=True)
class PhotoSetScore:
    """One scoring photo set in the sim-to-real table: signs scored and skipped, read correctly clean,
    success raw / relit (fractions of signs; relit under the validated default relighting), REAP's ASR
    relit, fooled counts, and the relit band over the validated relighting models (``relit_worst``, the
    worst plausible case and the headline, ``relit_best``, ``relit_models``); or only ``missing`` (why
    the set was not scored)."""

    signs: int | None = None
    skipped: int | None = None
    clean_correct: int | None = None
    raw: float | None = None
    relit: float | None = None
    relit_asr: float | None = None
    raw_fooled: int | None = None
    relit_fooled: int | None = None
    missing: str | None = None
    relit_worst: float | None = None  # the band over the validated relighting models: the headline
    relit_best: float | None = None
    relit_worst_fooled: int | None = None
    relit_worst_model: str | None = None
    relit_models: tuple[str, ...] = ()


@dataclass(frozen=True)
class SimToReal:
    """The same sticker four ways (see :mod:`patchsim.evaluate.sim_to_real`): held-out renders, the
    independent simulator (``independent_protocol`` driveby | grid, None when the scene has neither),
    and each scoring photo set."""

    held_out_renders: float
    independent_protocol: str | None
    independent_simulator: float | None
    photos: dict[str, PhotoSetScore]
    note: str
