"""Defences that keep the classifier interface (JPEG, median filtering, PatchCleanser), registered in
:data:`DEFENCES` with the spec each parses; adversarial fine-tuning's sticker bank; data inspection. The
``harden`` and ``certify`` commands are :mod:`patchsim.jobs.harden` and :mod:`patchsim.jobs.certify`."""

from __future__ import annotations

from dataclasses import dataclass

from patchsim.defences.patchcleanser import PatchCleanser
from patchsim.defences.transforms import Defended, JpegDefence, MedianDefence
from patchsim.errors import PatchsimError

__all__ = ["DEFENCES", "DEFENCE_HELP", "DefenceSpec", "Defended", "JpegDefence", "MedianDefence", "PatchCleanser",
           "load_defended", "parse_defence", "refuse_for_detector", "wrap"]


@dataclass(frozen=True)
class DefenceSpec:
    """A registered defence: ``kind`` (the word of ``--defence``), the class that wraps a classifier
    (``cls(model, *args)``, keeping its interface), the types of its optional arguments in order, and
    ``form``: how it is written, with its defaults."""

    kind: str
    cls: type
    arg_types: tuple[type, ...]
    form: str

    def parse(self, rest: list[str]) -> list:
        """The arguments after ``kind:`` as values; ValueError when there are too many or one does not parse."""
        if len(rest) > len(self.arg_types):
            raise ValueError(f"at most {len(self.arg_types)} arguments")
        return [t(r) for t, r in zip(self.arg_types, rest)]


DEFENCES: dict[str, DefenceSpec] = {s.kind: s for s in (
    DefenceSpec("jpeg", JpegDefence, (int,), "jpeg[:QUALITY] (default 75)"),
    DefenceSpec("median", MedianDefence, (int,), "median[:KERNEL] (default 3)"),
    DefenceSpec("patchcleanser", PatchCleanser, (float, int),
                "patchcleanser[:PATCH_FRAC[:MASKS_PER_AXIS]] (default 0.1 of the crop's area, 6)"),
)}
DEFENCE_HELP = ", ".join(s.form for s in list(DEFENCES.values())[:-1]) + " or " + list(DEFENCES.values())[-1].form


def parse_defence(spec: str) -> tuple[str, list]:
    """``--defence`` text -> (kind, arguments) through the registry :data:`DEFENCES`; a bad spec is a
    one-line error naming it and the forms allowed (:data:`DEFENCE_HELP`)."""
    parts = str(spec).strip().split(":")
    kind, rest = parts[0].lower(), parts[1:]
    if kind not in DEFENCES:
        raise PatchsimError(f"--defence {spec!r} is invalid; allowed: {DEFENCE_HELP}")
    try:
        return kind, DEFENCES[kind].parse(rest)
    except ValueError:
        raise PatchsimError(f"--defence {spec!r} is invalid; allowed: {DEFENCE_HELP}") from None


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
    try:
        return DEFENCES[kind].cls(model, *args)
    except PatchsimError as e:
        raise PatchsimError(f"--defence {spec!r}: {e}") from None
