"""Defences: adversarial fine-tuning (``harden``), wrappers that keep the classifier interface
(PatchCleanser, JPEG, median filtering) and certification."""

from __future__ import annotations



from patchsim.defences.patchcleanser import PatchCleanser
from patchsim.defences.transforms import Defended, JpegDefence, MedianDefence
from patchsim.errors import PatchsimError

__all__ = ["DEFENCE_HELP", "Defended", "JpegDefence", "MedianDefence", "PatchCleanser", "load_defended", "parse_defence",
           "refuse_for_detector", "wrap"]

DEFENCE_HELP = ("jpeg[:QUALITY] (default 75), median[:KERNEL] (default 3) or patchcleanser[:PATCH_FRAC[:MASKS_PER_AXIS]] "
                "(default 0.1 of the crop's area, 6)")


def parse_defence(spec: str) -> tuple[str, list]:
    """``--defence`` text -> (kind, arguments); a bad spec is a one-line error naming it and the forms
    allowed (:data:`DEFENCE_HELP`)."""
    parts = str(spec).strip().split(":")
    kind, rest = parts[0].lower(), parts[1:]
    bad = PatchsimError(f"--defence {spec!r} is invalid; allowed: {DEFENCE_HELP}")
    try:
        if kind == "jpeg" and len(rest) <= 1:
            return kind, [int(r) for r in rest]
        if kind == "median" and len(rest) <= 1:
            return kind, [int(r) for r in rest]
        if kind == "patchcleanser" and len(rest) <= 2:
            return kind, [float(rest[0])] + [int(r) for r in rest[1:]] if rest else []
    except ValueError:
        raise bad from None
    raise bad


def refuse_for_detector(defence: str | None, detector_name) -> None:
    """The one-line error for a ``--defence`` given with a detector (defences wrap classifiers); nothing
    when ``defence`` is None or "none"."""
    if defence not in (None, "none"):
        raise PatchsimError(f"--defence {defence}: defences wrap classifiers; {detector_name} is a detector")


def load_defended(name_or_path, weights=None, labels=None, detector: bool = False, input_size=None,
                  defence: str | None = None):
    """:func:`patchsim.models.load_model`, the classifier put behind ``defence`` (:func:`wrap`; None or
    "none": no defence). A defence for a detector is a one-line error, before anything is loaded."""
    from patchsim.models import freeze, is_detector, load_model

    if is_detector(name_or_path, detector):
        refuse_for_detector(defence, name_or_path)
    model = load_model(name_or_path, weights, labels, detector, input_size)
    return model if defence in (None, "none") else wrap(freeze(model), defence)


def wrap(model, spec: str | None):
    """``model`` behind the defence ``spec`` (:func:`parse_defence`); None or "none": ``model`` itself.
    Argument errors name ``--defence``."""
    if spec is None or str(spec).lower() == "none":
        return model
    kind, args = parse_defence(spec)
    cls = {"jpeg": JpegDefence, "median": MedianDefence, "patchcleanser": PatchCleanser}[kind]
    try:
        return cls(model, *args)
    except PatchsimError as e:
        raise PatchsimError(f"--defence {spec!r}: {e}") from None
