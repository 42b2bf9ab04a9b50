"""Attack configuration: one frozen dataclass, unknown keys rejected."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from patchsim.errors import PatchsimError


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

    mode: str = "sticker"
    target: int | None = None
    true_class: int = 14
    loss: str = "margin"
    kappa: float = 15.0
    steps: int = 300
    batch: int = 48
    lr: float = 0.2
    lr_floor: float = 0.1
    nps_weight: float = 0.02
    tv_weight: float = 0.02
    l2_weight: float = 0.0
    palette: str | None = None
    norm: str = "linf"
    eps: float = 0.12
    val_every: int = 25
    val_size: int = 256
    early_stop: float = 0.99
    checkpoint_every: int = 50
    seed: int = 0
    face_resolution: int = 128
    real_photos: str | None = None
    real_fraction: float = 0.0

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
    def from_dict(cls, d: dict) -> "AttackConfig":
        """Build from a mapping; unknown keys raise PatchsimError naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise PatchsimError(f"attack config: unknown keys {unknown}; allowed: {sorted(names)}")
        return cls(**d)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
