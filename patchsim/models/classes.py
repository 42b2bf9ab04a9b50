"""Class lists: resolve a class given by name or id, with errors that list the valid names."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from patchsim.checks import shorten
from patchsim.errors import PatchsimError
from patchsim.io.text import read_user_text

GTSRB_CLASSES = [
    "speed_limit_20", "speed_limit_30", "speed_limit_50", "speed_limit_60", "speed_limit_70", "speed_limit_80",
    "end_speed_limit_80", "speed_limit_100", "speed_limit_120", "no_passing", "no_passing_trucks",
    "right_of_way_next_intersection", "priority_road", "yield", "stop", "no_vehicles", "no_trucks", "no_entry",
    "general_caution", "dangerous_curve_left", "dangerous_curve_right", "double_curve", "bumpy_road",
    "slippery_road", "road_narrows_right", "road_work", "traffic_signals", "pedestrians", "children_crossing",
    "bicycles_crossing", "beware_ice_snow", "wild_animals_crossing", "end_all_limits", "turn_right_ahead",
    "turn_left_ahead", "ahead_only", "go_straight_or_right", "go_straight_or_left", "keep_right", "keep_left",
    "roundabout", "end_no_passing", "end_no_passing_trucks",
]

LISA_CLASSES = [
    "unused_0", "addedLane", "keepRight", "laneEnds", "merge", "pedestrianCrossing", "school",
    "schoolSpeedLimit25", "signalAhead", "speedLimit25", "speedLimit30", "speedLimit35", "speedLimit45",
    "speedLimitUrdbl", "stop", "stopAhead", "turnRight", "yield",
]


def resolve_class(classes: Sequence[str], cls: str | int, what: str = "class") -> int:
    """Index of ``cls`` (a name, an integer id, or a digit string) in ``classes``. ``what`` names it in
    the error (``class``, ``target``, ``--sign``, ``the scene's sign class``).

    Raises PatchsimError listing the valid names when unknown or out of range."""
    if isinstance(cls, bool):
        raise PatchsimError(f"{what} must be a class name or an id, got {cls!r}")
    if isinstance(cls, str) and cls.strip().lstrip("-").isdigit():
        cls = int(cls)
    if isinstance(cls, int):
        if 0 <= cls < len(classes):
            return cls
        raise PatchsimError(f"{what} id {cls} out of range 0..{len(classes) - 1}; valid classes: "
                            + ", ".join(f"{i}={n}" for i, n in enumerate(classes)))
    if cls in classes:
        return list(classes).index(cls)
    import difflib

    close = difflib.get_close_matches(str(cls), list(classes), n=3)
    listed = ", ".join(classes)
    if len(listed) > 240:
        listed = listed[:240].rsplit(", ", 1)[0] + f", ... ({len(classes)} in all)"
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    raise PatchsimError(f"{what} {shorten(cls)} is not among the model's classes{hint}; valid classes: {listed}")


def read_labels(path: str | Path) -> list[str]:
    """A labels file: one class name per line (blank lines and '#' comments ignored)."""
    lines = read_user_text(path, "labels file").splitlines()
    names = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    if not names:
        raise PatchsimError(f"labels file {path} holds no class names")
    if len(set(names)) != len(names):
        raise PatchsimError(f"labels file {path} repeats a class name")
    return names
