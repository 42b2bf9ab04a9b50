"""What a physical effect declares (see :mod:`patchsim.effects`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

STAGES = ("linear", "srgb")
# linear: on the linear-light frame after exposure, before clipping and sRGB encoding (torch and numpy: float
# linear RGB); srgb: on the displayed signal after the tone curve and gamma, before a real photo's colour
# response and JPEG (torch: float sRGB in [0, 1]; numpy: uint8 sRGB)


@dataclass(frozen=True)
class EffectField:
    """One field of an effect: ``name`` (the scene's range key and the ``Conditions`` field), the
    ``default`` range (lo, hi) a scene gets when it does not say, the allowed ``bounds`` (lo, hi) of
    both ends, the ``identity`` value at which the effect does nothing, and ``doc`` (meaning and unit)."""

    name: str
    default: tuple[float, float]
    bounds: tuple[float, float]
    identity: float
    doc: str


@dataclass(frozen=True)
class Effect:
    """A registered physical effect. ``section``: the scene section holding its ranges
    (``camera_effects``); ``stage``: where in the pipeline it applies (:data:`STAGES`); ``realism``:
    drawn after everything else and only when its range is not a point (so a scene that does not ask
    for it replays exactly as before it existed), and reset to its identity when a frame takes a real
    photo's colour response (which already holds it). ``render(x, **params)``: torch, ``x`` ``(B, 3, H, W)``
    in the stage's representation, each parameter a ``(B,)`` tensor, differentiable; ``simulate(x,
    **params)``: numpy, ``x`` ``(H, W, 3)`` in the stage's representation, each parameter a float."""

    name: str
    section: str
    stage: str
    realism: bool
    fields: tuple[EffectField, ...]
    render: Callable
    simulate: Callable
    doc: str

    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)
