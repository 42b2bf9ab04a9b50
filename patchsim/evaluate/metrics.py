"""Per-sequence metrics from per-frame predictions: success overall and per bin, and what a car's
tracker would conclude (flip rate, fooled streaks, k-of-n majority filter, EMA of probabilities).

Inputs are numpy arrays over the T frames of one sequence: ``pred`` (T,) int class ids, ``probs``
(T, K) float class probabilities, ``distance_m`` (T,) metres."""

from __future__ import annotations

import numpy as np

from patchsim.errors import PatchsimError
from patchsim.evaluate.records import Bin, Ema, KOfN, SequenceMetrics, Streak
from patchsim.objectives.goals import Goal


BIN_TOLERANCE = 1e-6


def flip_rate(pred: np.ndarray) -> float:
    """Fraction of consecutive frame pairs whose predicted class differs (0 for T < 2)."""
    pred = np.asarray(pred)
    return float((pred[1:] != pred[:-1]).mean()) if len(pred) > 1 else 0.0


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of True as (start, end_exclusive) index pairs."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    d = np.diff(m.astype(np.int8))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def longest_streak(fooled: np.ndarray, fps: float | None = None, speed_mps: float | None = None) -> Streak:
    """Longest run of fooled frames (the earliest of equal ones): ``frames``, ``seconds`` (frames / fps)
    and ``metres`` (travelled while it lasted, frames x speed / fps); ``start`` index (None when never
    fooled)."""
    r = runs(fooled)
    if not r:
        return Streak(0, 0.0, 0.0, None)
    s, e = max(r, key=lambda t: (t[1] - t[0], -t[0]))
    n = e - s
    sec = n / fps if fps else None
    return Streak(n, sec, n * speed_mps / fps if fps and speed_mps is not None else None, s)


def majority_filter(pred: np.ndarray, k: int, n: int) -> np.ndarray:
    """k-of-n filter: at frame t the decision is the class seen at least ``k`` times among the last ``n``
    predictions (t-n+1 .. t), else -1 (no decision). The first n-1 frames use what exists so far."""
    if not 1 <= k <= n:
        raise PatchsimError(f"k-of-n filter needs 1 <= k <= n, got k={k}, n={n}")
    pred = np.asarray(pred)
    out = np.full(len(pred), -1, dtype=np.int64)
    for t in range(len(pred)):
        window = pred[max(0, t - n + 1):t + 1]
        vals, counts = np.unique(window, return_counts=True)
        best = np.argmax(counts)
        if counts[best] >= k:
            out[t] = vals[best]
    return out


def ema_filter(probs: np.ndarray, alpha: float) -> np.ndarray:
    """Class decision per frame from an exponential moving average of probabilities:
    ``m_t = alpha * p_t + (1 - alpha) * m_{t-1}``, ``m_0 = p_0``; returns argmax ``(T,)``."""
    if not 0 < alpha <= 1:
        raise PatchsimError(f"EMA alpha must be in (0, 1], got {alpha}")
    probs = np.asarray(probs, dtype=np.float64)
    m = probs[0].copy()
    out = np.empty(len(probs), dtype=np.int64)
    for t, p in enumerate(probs):
        m = p if t == 0 else alpha * p + (1 - alpha) * m
        out[t] = int(np.argmax(m))
    return out


def covering_edges(values: np.ndarray, step: float, lo: float | None = None) -> list[float]:
    """Bin edges ``step`` apart from ``lo`` (default: ``values``' minimum rounded down to a step) past the
    largest value, so that every value falls in a bin ``[lo, hi)``."""
    values = np.asarray(values, np.float64)
    if not step > 0 or values.size == 0:
        raise PatchsimError(f"bins need a positive step and values, got step {step} and {values.size} values")
    start = np.floor(values.min() / step + 1e-9) * step if lo is None else lo  # 0.6 / 0.1 is 5.999...
    n = int(np.floor((values.max() - start) / step + 1e-9)) + 1
    return [round(float(start + k * step), 10) for k in range(n + 1)]


def value_edges(values) -> list[float]:
    """Bin edges with one bin per distinct value of ``values`` (a grid's distances, angles or light
    levels): halfway between neighbours, and half the nearest gap (0.5 for a single value) beyond the
    ends, so that values stored at float32 precision still fall in their own bin."""
    v = sorted({float(x) for x in values})
    if not v:
        raise PatchsimError("bins need at least one value")
    half = min(b - a for a, b in zip(v[:-1], v[1:])) / 2 if len(v) > 1 else 0.5
    return [v[0] - half] + [(a + b) / 2 for a, b in zip(v[:-1], v[1:])] + [v[-1] + half]


def binned(values: np.ndarray, fooled: np.ndarray, edges: list[float]) -> tuple[Bin, ...]:
    """Success per bin ``[lo, hi)`` of ``values``. A value less than ``BIN_TOLERANCE`` below an edge
    counts in the bin above it (float32 samples of round figures: 0.7 is stored as 0.69999999)."""
    values, fooled = np.asarray(values, np.float64), np.asarray(fooled, bool)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (values >= lo - BIN_TOLERANCE) & (values < hi - BIN_TOLERANCE)
        out.append(Bin(float(lo), float(hi), int(sel.sum()), float(fooled[sel].mean()) if sel.any() else None))
    return tuple(out)


def sequence_metrics(pred: np.ndarray, probs: np.ndarray, distance_m: np.ndarray, goal: Goal,
                     fps: float | None = None, speed_mps: float | None = None, k: int = 3, n: int = 5,
                     alpha: float = 0.3) -> SequenceMetrics:
    """All temporal metrics of one sequence (see module doc); ``k``, ``n``: the majority filter's
    window, ``alpha``: the EMA weight. The binned and mean fields are left empty."""
    pred, probs, distance_m = np.asarray(pred), np.asarray(probs), np.asarray(distance_m)
    if not (len(pred) == len(probs) == len(distance_m)) or len(pred) == 0:
        raise PatchsimError(f"sequence arrays must be non-empty and of equal length, got {len(pred)}, {len(probs)}, "
                            f"{len(distance_m)}")
    fooled = goal.fooled(pred)
    idx = np.flatnonzero(fooled)
    kn = majority_filter(pred, k, n)
    kn_fooled = goal.fooled(kn) & (kn >= 0)
    ema = ema_filter(probs, alpha)
    ema_fooled = goal.fooled(ema)
    return SequenceMetrics(
        frames=int(len(pred)),
        success=float(fooled.mean()),
        flip_rate=flip_rate(pred),
        longest_fooled_streak=longest_streak(fooled, fps, speed_mps),
        first_fooled_distance_m=float(distance_m[idx[0]]) if len(idx) else None,
        last_fooled_distance_m=float(distance_m[idx[-1]]) if len(idx) else None,
        k_of_n=KOfN(int(k), int(n), float(kn_fooled.mean()), bool(kn_fooled.any()), int(kn[-1]), bool(kn_fooled[-1])),
        ema=Ema(float(alpha), float(ema_fooled.mean()), bool(ema_fooled.any()), int(ema[-1]), bool(ema_fooled[-1]),
                flip_rate(ema)),
    )
