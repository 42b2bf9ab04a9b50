"""Would the car run the sign? A car that starts braking when its tracker confirms the stop sign:
after ``reaction_s`` seconds at ``speed_mps`` it decelerates at ``decel_mps2`` and must come to rest
before the stop line, ``stop_line_m`` before the sign. Distances are metres from the sign along the
road, speeds m/s, times s.

Defaults follow the detector issue's model: a reaction of 1.5 s (a typical perception-reaction time of
a driver or an automated stack's decision latency), 6 m/s^2 (firm braking on dry asphalt), a stop line
3 m before the sign, and the drive-by's own speed."""

from __future__ import annotations

import math
from dataclasses import dataclass

from patchsim.errors import PatchsimError


@dataclass(frozen=True)
class BrakingModel:
    """How the car brakes: ``speed_mps`` (m/s, > 0), ``reaction_s`` (s, >= 0) from confirmation to
    braking, ``decel_mps2`` (m/s^2, > 0), ``stop_line_m`` (m, >= 0) from the line to the sign."""

    speed_mps: float
    reaction_s: float = 1.5
    decel_mps2: float = 6.0
    stop_line_m: float = 3.0

    def __post_init__(self):
        for name, lo, strict in (("speed_mps", 0.0, True), ("reaction_s", 0.0, False), ("decel_mps2", 0.0, True),
                                 ("stop_line_m", 0.0, False)):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < lo or (strict and v == lo):
                raise PatchsimError(f"braking model: {name} = {v!r} is invalid: a finite number {'>' if strict else '>='} {lo:g}")

    def needed_m(self) -> float:
        """Distance from the sign (m) at which the sign must be confirmed for the car to stop at the line:
        reaction distance + braking distance (v^2 / 2a) + the line's distance to the sign."""
        v = float(self.speed_mps)
        return v * self.reaction_s + v * v / (2.0 * self.decel_mps2) + self.stop_line_m


@dataclass(frozen=True)
class BrakingOutcome:
    """The braking model's verdict on one run: ``speed_mps``; ``confirmed_at_m`` (the tracker's first
    confirmation, m from the sign; None: never confirmed); ``needed_m`` (:meth:`BrakingModel.needed_m`);
    ``stops_before_line``; ``stops_at_m`` (where the car comes to rest, m from the sign, negative past
    it; None when it never brakes)."""

    speed_mps: float
    confirmed_at_m: float | None
    needed_m: float
    stops_before_line: bool
    stops_at_m: float | None


def braking_outcome(confirmed_at_m: float | None, model: BrakingModel) -> BrakingOutcome:
    """Where the car ``model`` stops when its tracker confirms the sign at ``confirmed_at_m`` metres
    (None: it never does and runs the sign)."""
    needed = model.needed_m()
    if confirmed_at_m is None:
        return BrakingOutcome(float(model.speed_mps), None, round(needed, 2), False, None)
    rest = confirmed_at_m - (needed - model.stop_line_m)
    return BrakingOutcome(float(model.speed_mps), float(confirmed_at_m), round(needed, 2),
                          bool(confirmed_at_m >= needed), round(rest, 2))
