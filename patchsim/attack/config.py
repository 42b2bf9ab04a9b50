"""Attack configuration: one frozen dataclass, unknown keys rejected."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from patchsim.checks import env_limit
from patchsim.errors import PatchsimError
from patchsim.objectives.goals import DETECTION_GOALS
from patchsim.checks import check_number
from patchsim.printing.vinyl import STYLES, parse_style



def _opt(default, help: str, choices: tuple | None = None, bounds: tuple[float, float] | None = None):
    """A config field that ``patchsim attack`` exposes as ``--name``, with its help, and its choices or
    its allowed closed range ``bounds`` (checked by the config and by the command line alike)."""
    meta = {"help": help}
    if choices:
        meta["choices"] = list(choices)
    if bounds:
        meta["bounds"] = bounds
    return field(default=default, metadata=meta)


DEFAULT_AREA = 0.10  # fraction of the face a plain --mask auto covers
MAX_AREA = 0.5


def parse_mask(spec: str) -> float | None:
    """The face fraction ``--mask`` asks for: "scene" -> None (the scene's own layout); "auto" ->
    :data:`DEFAULT_AREA`; "auto:F" -> F, a fraction in (0, :data:`MAX_AREA`] ("auto:3.5%" reads as 0.035)."""
    if spec == "scene":
        return None
    m = re.fullmatch(r"auto(?::([0-9]*\.?[0-9]+)(%?))?", spec or "")
    if not m:
        raise PatchsimError(f"mask {spec!r} is invalid: must be scene, auto or auto:AREA (a face fraction such as 0.035 "
                            "or 3.5%)")
    if m.group(1) is None:
        return DEFAULT_AREA
    area = float(m.group(1)) / (100.0 if m.group(2) else 1.0)
    if not 0.0 < area <= MAX_AREA:
        raise PatchsimError(f"mask {spec!r} is invalid: the area must be a face fraction in (0, {MAX_AREA:g}]")
    return area


MAX_BATCH = 1024  # EOT conditions per step; 4096 peaks at 5 GB on the CPU (PATCHSIM_MAX_BATCH raises it)
MAX_WINDOW = 1024  # detector window side in pixels; 2048 asks for 15 GB (PATCHSIM_MAX_WINDOW raises it)


@dataclass(frozen=True)
class AttackConfig:
    """Settings of an EOT sticker attack.

    mode: "sticker" (free colour inside the scene's sticker mask) or "poster" (whole face, perturbation
        of the clean face bounded by ``eps`` in ``norm``).
    target: target class index, or None for an untargeted attack against ``true_class``.
    loss: "ce" (cross-entropy) or "margin" (CW-style, confidence ``kappa``).
    steps, batch: optimiser steps and EOT conditions per step. lr: Adam learning rate, cosine-annealed
        to ``lr * lr_floor``.
    nps_weight, tv_weight, l2_weight, l1_weight: regulariser weights (non-printability, total variation,
        L2 and L1 to the clean face). palette: printable-colour JSON (None: shipped default).
    norm, eps: poster budget: "linf" (max per-channel change) or "l2" (RMS change over the face).
    val_every, val_size: validation cadence (steps) and size (conditions, drawn once with a seed the
        optimiser never uses). early_stop: stop when validation success reaches this (1.0 disables).
    plateau_patience, plateau_delta: stop when the best validation success has risen by no more than
        ``plateau_delta`` over the last ``plateau_patience`` steps (0 disables); see
        :func:`patchsim.attack.eot.stop_reason`.
    checkpoint_every: steps between checkpoints. seed: everything random derives from it.
    face_resolution: sticker parameter resolution (pixels across the face's bounding square).
    amp: mixed precision for the model's forward and backward (bfloat16 on the CPU, float16 on CUDA; off by
        default; the renderer, the sticker and the loss stay float32).
    init_sticker: a sticker PNG to start from (sticker mode; None: random colours).
    mask, mask_pieces, mask_steps, mask_l1: sticker mode: "scene" (the scene's sticker layout) or "auto[:AREA]":
        RP2's mask search (:mod:`patchsim.attack.mask_search`), ``mask_steps`` of a whole-face stage with L1 weight
        ``mask_l1`` cut into at most ``mask_pieces`` blobs covering AREA of the face.
    style, vinyl_palette: sticker mode: how the sticker is made: "inkjet" (free colour, printed), "vinyl[:K]"
        (K solid colours cut from vinyl, default 4) or "graffiti" (black and white vinyl), and the vinyl palette
        JSON (None: the shipped FHWA sign colours; see :mod:`patchsim.printing.vinyl`).
    keep_legend: poster mode only: face pixels of the white legend and border are left unchanged (the
        perturbation lives on the coloured field, as ShapeShifter's and RP2's posters keep "STOP" readable).
    goal, window: for detectors, what the sticker makes the detector do (see
        :class:`patchsim.objectives.goals.DetectionGoal`) and the window around the sign it sees while optimising.
    far_weight: detectors: each view's loss is weighted by ``(distance_m / nearest distance of the batch) **
        far_weight``, so the far views (where a tracker confirms a sign) count more; 0 weighs views equally.
    real_photos, real_fraction: an attacker photo source (see :mod:`patchsim.realphoto.sources`; never a
        scoring set) and the fraction of every batch taken from it, the printed sticker warped onto
        the photographed signs and relit (RP2's method with REAP's placement); 0 disables.
    """

    mode: str = _opt("sticker", "sticker: free colour inside the scene's sticker mask; poster: a bounded change of "
                     "the whole face", ("sticker", "poster"))
    target: int | None = None
    true_class: int = 14
    loss: str = _opt("margin", "ce (cross-entropy) or margin (CW-style, confidence kappa)", ("ce", "margin"))
    kappa: float = _opt(15.0, "margin loss confidence", bounds=(0.0, 1000.0))
    steps: int = _opt(300, "optimiser steps", bounds=(1, 1_000_000))
    batch: int = _opt(48, "EOT conditions per step", bounds=(1, 4096))
    lr: float = _opt(0.2, "Adam learning rate", bounds=(1e-6, 10.0))
    lr_floor: float = _opt(0.1, "the cosine schedule ends at lr * lr_floor", bounds=(1e-3, 1.0))
    nps_weight: float = _opt(0.02, "non-printability weight", bounds=(0.0, 1000.0))
    tv_weight: float = _opt(0.02, "total-variation weight", bounds=(0.0, 1000.0))
    l2_weight: float = _opt(0.0, "weight of the L2 distance to the clean face", bounds=(0.0, 1000.0))
    l1_weight: float = _opt(0.0, "weight of the L1 distance to the clean face (sparse changes)", bounds=(0.0, 1000.0))
    palette: str | None = _opt(None, "printable palette JSON (default: the printer's own palette)")
    norm: str = _opt("linf", "poster budget norm", ("linf", "l2"))
    eps: float = _opt(0.12, "poster budget", bounds=(1e-4, 1.0))
    val_every: int = _opt(25, "steps between validations", bounds=(1, 1_000_000))
    val_size: int = _opt(256, "validation conditions (a seed the optimiser never uses)", bounds=(1, 100_000))
    early_stop: float = _opt(0.99, "stop at this validation success (1 disables)", bounds=(0.01, 1.0))
    plateau_patience: int = _opt(75, "stop when the best validation success has risen by no more than plateau_delta "
                                 "over this many steps (0 disables)", bounds=(0, 1_000_000))
    plateau_delta: float = _opt(0.01, "the smallest rise of validation success that counts as progress",
                                bounds=(0.0, 1.0))
    checkpoint_every: int = _opt(50, "steps between checkpoints", bounds=(1, 1_000_000))
    seed: int = _opt(0, "seed of everything random", bounds=(0, 2**62))
    face_resolution: int = _opt(128, "sticker parameter pixels across the face's bounding square", bounds=(16, 1024))
    real_photos: str | None = _opt(None, "attacker photos mixed into every batch: street:praveen-train or a folder "
                                   "(never a scoring set)")
    real_fraction: float = _opt(0.0, "fraction of every batch taken from --real-photos", bounds=(0.0, 0.95))
    real_relight: str = _opt("validated", "how the sticker takes each real photo's light in the batches: validated (every "
                             "relighting model that passed validation, so the sticker aims at the worst plausible light) or "
                             "one model", ("validated", "none", "percentile", "affine", "poly", "tone", "physical"))
    goal: str = _opt("auto", "detectors: disappear (no stop detection at the sign), misclassify (detected as --target) "
                     "or create (--target detected on the board); auto: disappear, or misclassify with --target. "
                     "Classifiers: auto", ("auto", *DETECTION_GOALS))
    window: int = _opt(192, "detectors: side in input pixels of the frame window around the sign that the detector "
                       "sees (fully convolutional detectors; fixed-size ones see their whole input)", bounds=(64, 2048))
    far_weight: float = _opt(0.0, "detectors: weight each view's loss by its distance to this power (far views, where a "
                             "tracker confirms the sign, count more); 0: equal weights", bounds=(0.0, 4.0))
    init_sticker: str | None = _opt(None, "sticker mode: start from this sticker PNG (e.g. the best gradient-free "
                                    "candidate) instead of random colours")
    mask: str = _opt("scene", "sticker mode: where the sticker goes: scene (the scene's layout) or auto[:AREA] (RP2's "
                     "mask search: an L1-regularised whole-face stage, cut into --mask-pieces blobs of AREA of the face, "
                     "default 0.1)")
    mask_pieces: int = _opt(4, "--mask auto: the most pieces the mask is cut into", bounds=(1, 64))
    mask_steps: int = _opt(100, "--mask auto: steps of the whole-face L1 stage", bounds=(1, 100_000))
    mask_l1: float = _opt(10.0, "--mask auto: weight of the L1 penalty in the whole-face stage (what makes its change "
                          "sparse)", bounds=(0.0, 1000.0))
    style: str = _opt("inkjet", "sticker mode: inkjet (free colour, printed), vinyl[:K] (K solid vinyl colours, cut; "
                      "default 4) or graffiti (black and white vinyl)")
    vinyl_palette: str | None = _opt(None, "vinyl styles: palette JSON of the vinyl colours (default: the shipped FHWA "
                                     "sign colours)")
    keep_legend: bool = _opt(False, "poster mode: leave the sign's white legend and border as they are and perturb "
                             "only its coloured field (the sign still reads as itself to people)")
    amp: bool = _opt(False, "run the model in mixed precision (bfloat16 on CPU, float16 on CUDA); the renderer and "
                     "the loss stay in float32")

    def __post_init__(self) -> None:
        def bad(field: str, allowed: str) -> PatchsimError:
            return PatchsimError(f"attack config: {field} = {getattr(self, field)!r} is invalid: {allowed}")

        for f in dataclasses.fields(self):
            if "choices" in f.metadata and getattr(self, f.name) not in f.metadata["choices"]:
                raise bad(f.name, f"must be one of {', '.join(f.metadata['choices'])}")
            if "bounds" in f.metadata:  # the one range check, shared with the command line
                check_number(f"attack config: {f.name}", getattr(self, f.name), *f.metadata["bounds"],
                             integer=f.type in ("int", int))
        for f, var, cap in (("batch", "PATCHSIM_MAX_BATCH", MAX_BATCH), ("window", "PATCHSIM_MAX_WINDOW", MAX_WINDOW)):
            limit = env_limit(var, cap)  # memory grows with these: capped before any work
            if getattr(self, f) > limit:
                raise bad(f, f"over the limit of {limit} (memory grows with it; raise the limit with {var})")
        for f in ("amp", "keep_legend"):
            if not isinstance(getattr(self, f), bool):
                raise bad(f, "must be true or false")
        if self.keep_legend and self.mode != "poster":
            raise bad("keep_legend", "applies to --mode poster")
        for f in ("target", "true_class"):
            v = getattr(self, f)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise bad(f, "must be a class index (a non-negative integer)")
        if self.real_fraction > 0 and not self.real_photos:
            raise bad("real_fraction", "needs real_photos (--real-photos SOURCE)")
        if self.real_photos and self.real_fraction == 0:  # never silently ignored
            raise bad("real_photos", "is used only with real_fraction > 0 (--real-fraction F, e.g. 0.25)")
        try:
            auto_mask = parse_mask(self.mask) is not None
        except PatchsimError as e:
            raise bad("mask", str(e).split(": ", 1)[1]) from None
        if auto_mask and self.mode != "sticker":
            raise bad("mask", "applies to --mode sticker")
        try:
            vinyl = parse_style(self.style)[0] != "inkjet"
        except PatchsimError:
            raise bad("style", f"must be one of {', '.join(STYLES)}") from None
        if vinyl and self.mode != "sticker":
            raise bad("style", "applies to --mode sticker")
        if vinyl and self.init_sticker is not None:
            raise bad("init_sticker", "applies to inkjet stickers")
        if self.vinyl_palette is not None and not vinyl:
            raise bad("vinyl_palette", "applies to --style vinyl or graffiti")
        if self.init_sticker is not None and self.mode != "sticker":
            raise bad("init_sticker", "applies to --mode sticker")
        if self.target is not None and self.target == self.true_class:
            raise bad("target", "must differ from the true class")

    @classmethod
    def bounds(cls, name: str) -> tuple[float, float] | None:
        """The allowed closed range of field ``name`` (None: not a bounded number)."""
        return {f.name: f.metadata.get("bounds") for f in dataclasses.fields(cls)}[name]

    @classmethod
    def cli_fields(cls) -> list[dataclasses.Field]:
        """The fields the ``patchsim attack`` command exposes as ``--name`` options (those with help)."""
        return [f for f in dataclasses.fields(cls) if "help" in f.metadata]
