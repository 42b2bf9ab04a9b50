"""Attack configuration: one frozen dataclass, unknown keys rejected."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from patchsim.errors import PatchsimError


def _opt(default, help: str, choices: tuple | None = None):
    """A config field that ``patchsim attack`` exposes as ``--name``, with its help (and choices)."""
    return field(default=default, metadata={"help": help, **({"choices": list(choices)} if choices else {})})


@dataclass(frozen=True)
class AttackConfig:
    """Settings of an EOT sticker attack.

    mode: "sticker" (free colour inside the scene's sticker mask) or "poster" (whole face, perturbation
        of the clean face bounded by ``eps`` in ``norm``).
    target: target class index, or None for an untargeted attack against ``true_class``.
    loss: "ce" (cross-entropy) or "margin" (CW-style, confidence ``kappa``).
    steps, batch: optimiser steps and EOT conditions per step. lr: Adam learning rate, cosine-annealed
        to ``lr * lr_floor``.
    nps_weight, tv_weight, l2_weight: regulariser weights (non-printability, total variation, L2 to the
        clean face). palette: printable-colour JSON (None: shipped default).
    norm, eps: poster budget: "linf" (max per-channel change) or "l2" (RMS change over the face).
    val_every, val_size: validation cadence (steps) and size (conditions, drawn once with a seed the
        optimiser never uses). early_stop: stop when validation success reaches this (1.0 disables).
    checkpoint_every: steps between checkpoints. seed: everything random derives from it.
    face_resolution: sticker parameter resolution (pixels across the face's bounding square).
    real_photos, real_fraction: an attacker photo source (see :mod:`patchsim.photo.sources`; never a
        scoring set) and the fraction of every batch taken from it, the printed sticker warped onto
        the photographed signs and relit (RP2's method with REAP's placement); 0 disables.
    """

    mode: str = _opt("sticker", "sticker: free colour inside the scene's sticker mask; poster: a bounded change of "
                     "the whole face", ("sticker", "poster"))
    target: int | None = None
    true_class: int = 14
    loss: str = _opt("margin", "ce (cross-entropy) or margin (CW-style, confidence kappa)", ("ce", "margin"))
    kappa: float = _opt(15.0, "margin loss confidence")
    steps: int = _opt(300, "optimiser steps")
    batch: int = _opt(48, "EOT conditions per step")
    lr: float = _opt(0.2, "Adam learning rate")
    lr_floor: float = _opt(0.1, "the cosine schedule ends at lr * lr_floor")
    nps_weight: float = _opt(0.02, "non-printability weight")
    tv_weight: float = _opt(0.02, "total-variation weight")
    l2_weight: float = _opt(0.0, "weight of the L2 distance to the clean face")
    palette: str | None = _opt(None, "printable palette JSON (default: the printer's own palette)")
    norm: str = _opt("linf", "poster budget norm", ("linf", "l2"))
    eps: float = _opt(0.12, "poster budget")
    val_every: int = _opt(25, "steps between validations")
    val_size: int = _opt(256, "validation conditions (a seed the optimiser never uses)")
    early_stop: float = _opt(0.99, "stop at this validation success (1 disables)")
    checkpoint_every: int = _opt(50, "steps between checkpoints")
    seed: int = _opt(0, "seed of everything random")
    face_resolution: int = _opt(128, "sticker parameter pixels across the face's bounding square")
    real_photos: str | None = _opt(None, "attacker photos mixed into every batch: street:praveen-train or a folder "
                                   "(never a scoring set)")
    real_fraction: float = _opt(0.0, "fraction of every batch taken from --real-photos")

    def __post_init__(self) -> None:
        def bad(field: str, allowed: str) -> PatchsimError:
            return PatchsimError(f"attack config: {field} = {getattr(self, field)!r} is invalid: {allowed}")

        if self.mode not in ("sticker", "poster"):
            raise bad("mode", "must be 'sticker' or 'poster'")
        if self.loss not in ("ce", "margin"):
            raise bad("loss", "must be 'ce' or 'margin'")
        if self.norm not in ("linf", "l2"):
            raise bad("norm", "must be 'linf' or 'l2'")
        for f in ("steps", "batch", "val_every", "val_size", "checkpoint_every"):
            if not isinstance(getattr(self, f), int) or getattr(self, f) < 1:
                raise bad(f, "must be a positive integer")
        for f in ("lr", "eps", "kappa"):
            if not getattr(self, f) > 0:
                raise bad(f, "must be positive")
        for f in ("nps_weight", "tv_weight", "l2_weight"):
            if not getattr(self, f) >= 0:
                raise bad(f, "must be >= 0")
        if not 0 < self.lr_floor <= 1:
            raise bad("lr_floor", "must be in (0, 1]")
        if not 0 < self.early_stop <= 1:
            raise bad("early_stop", "must be in (0, 1]")
        if self.face_resolution < 16 or self.face_resolution > 1024:
            raise bad("face_resolution", "must be in [16, 1024]")
        if not 0 <= self.real_fraction < 1:
            raise bad("real_fraction", "must be in [0, 1): the rest of every batch is rendered")
        if self.real_fraction > 0 and not self.real_photos:
            raise bad("real_fraction", "needs real_photos (--real-photos SOURCE)")
        if self.target is not None and self.target == self.true_class:
            raise bad("target", "must differ from the true class")

    @classmethod
    def cli_fields(cls) -> list[dataclasses.Field]:
        """The fields the ``patchsim attack`` command exposes as ``--name`` options (those with help)."""
        return [f for f in dataclasses.fields(cls) if "help" in f.metadata]

    @classmethod
    def from_dict(cls, d: dict) -> "AttackConfig":
        """Build from a mapping; unknown keys raise PatchsimError naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise PatchsimError(f"attack config: unknown keys {unknown}; allowed: {sorted(names)}")
        return cls(**d)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
