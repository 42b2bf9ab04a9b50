"""Physical effects declared one module each: what a scene may ask of the effect (its fields, their
default ranges and allowed bounds), how the sampler draws it, and its two implementations, the
differentiable renderer's (torch, ``render``) and the independent simulator's (numpy, ``simulate``),
which stay separate code so the simulator stays independent.

The scene's range record (:class:`patchsim.scene.types.EffectRanges`) and the per-frame
:class:`patchsim.render.conditions.Conditions` gain every registered effect's fields; the sampler draws
them; the renderer and the simulator apply every effect of a stage in registry order. Adding an effect
is one module here, one line in :data:`EFFECTS` and its test (``tests/test_effects.py`` checks every
registered effect: the two implementations agree, the identity leaves an image unchanged).

This package sits in the world layer beside the scene: an effect is part of what the world does to the
light that reaches the camera, and the scene types are built from these declarations."""

from __future__ import annotations

from patchsim.effects import black_level, white_balance
from patchsim.effects.spec import STAGES, Effect, EffectField

__all__ = ["EFFECTS", "STAGES", "Effect", "EffectField", "effect_field_names", "effects_in"]

EFFECTS: tuple[Effect, ...] = (black_level.EFFECT, white_balance.EFFECT)  # registry order is draw and application order


def effects_in(section: str | None = None, stage: str | None = None, realism: bool | None = None) -> tuple[Effect, ...]:
    """The registered effects of a scene ``section`` and / or pipeline ``stage`` and / or ``realism`` kind."""
    return tuple(e for e in EFFECTS if (section is None or e.section == section) and (stage is None or e.stage == stage)
                 and (realism is None or e.realism == realism))


def effect_field_names() -> tuple[str, ...]:
    """Every registered effect's fields, in registry order."""
    return tuple(f for e in EFFECTS for f in e.field_names())
