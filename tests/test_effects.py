"""Every registered physical effect (patchsim.effects): declared once, present in the scene ranges and the
conditions with its bounds, drawn by the sampler, and its two implementations (the renderer's torch, the
simulator's numpy) agree on the same conditions."""

import dataclasses

import numpy as np
import pytest
import torch

from patchsim.effects import EFFECTS, STAGES
from patchsim.render import sample_eot
from patchsim.render.conditions import Conditions
from patchsim.scene.types import EffectRanges

RNG = np.random.default_rng(7)


@pytest.mark.parametrize("effect", EFFECTS, ids=lambda e: e.name)
def test_effect_is_declared_once_and_wired_everywhere(effect):
    assert effect.stage in STAGES and effect.section == "camera_effects"
    ranges = {f.name: f for f in dataclasses.fields(EffectRanges)}
    for f in effect.fields:
        assert ranges[f.name].default == f.default and ranges[f.name].metadata["bounds"] == f.bounds
        assert f.bounds[0] <= f.identity <= f.bounds[1] and f.bounds[0] <= f.default[0] <= f.default[1] <= f.bounds[1]
        assert f.name in Conditions.field_names()


def stage_input(effect, shape) -> tuple[torch.Tensor, np.ndarray]:
    """The same image in each implementation's representation for the effect's stage: float linear RGB
    (linear) or the displayed signal, float in [0, 1] for the renderer and uint8 for the simulator (srgb)."""
    if effect.stage == "linear":
        x = RNG.random(shape).astype(np.float32) * 1.5
        return torch.from_numpy(x).permute(0, 3, 1, 2), x
    u8 = RNG.integers(0, 256, shape, dtype=np.uint8)
    return torch.from_numpy(u8.astype(np.float32) / 255).permute(0, 3, 1, 2), u8


def as_float(effect, y: np.ndarray) -> np.ndarray:
    return y.astype(np.float32) / 255 if effect.stage == "srgb" else y


@pytest.mark.parametrize("effect", EFFECTS, ids=lambda e: e.name)
def test_renderer_and_simulator_implementations_agree(effect):
    """The same conditions through both implementations: equal to float32 precision per frame (to half
    a uint8 step where the simulator works on 8-bit sRGB)."""
    xt, xn = stage_input(effect, (3, 8, 8, 3))
    params = [{f.name: float(RNG.uniform(*f.bounds)) for f in effect.fields} for _ in range(3)]
    got = effect.render(xt, **{f.name: torch.tensor([p[f.name] for p in params]) for f in effect.fields})
    tol = 0.5 / 255 + 1e-6 if effect.stage == "srgb" else 1e-6
    for i, p in enumerate(params):
        want = as_float(effect, effect.simulate(xn[i], **p))
        assert np.abs(got[i].permute(1, 2, 0).numpy() - want).max() <= tol * max(1.0, float(np.abs(want).max()))
        assert not np.allclose(want, as_float(effect, xn[i]))  # the effect does something away from its identity


@pytest.mark.parametrize("effect", EFFECTS, ids=lambda e: e.name)
def test_identity_leaves_the_image_unchanged_and_gradients_pass(effect):
    xt, xn = stage_input(effect, (2, 4, 4, 3))
    x = xt.clone().requires_grad_()
    assert torch.equal(effect.render(x, **{f.name: torch.full((2,), f.identity) for f in effect.fields}), x)
    assert np.array_equal(effect.simulate(xn[0], **{f.name: f.identity for f in effect.fields}), xn[0])
    params = {f.name: torch.full((2,), float(np.mean(f.bounds)) + 0.1, requires_grad=True) for f in effect.fields}
    effect.render(x, **params).sum().backward()
    assert x.grad is not None and all(p.grad is not None for p in params.values())


@pytest.mark.parametrize("effect", EFFECTS, ids=lambda e: e.name)
def test_sampler_draws_the_scene_range(effect, driveby_scene, gen):
    lo_hi = {f.name: (0.9 * f.bounds[0] + 0.1 * f.bounds[1], 0.6 * f.bounds[0] + 0.4 * f.bounds[1]) for f in effect.fields}
    scene = dataclasses.replace(driveby_scene, effects=dataclasses.replace(driveby_scene.effects, **lo_hi))
    cond = sample_eot(scene, 64, gen)
    for name, (lo, hi) in lo_hi.items():
        v = getattr(cond, name)
        assert float(v.min()) >= lo - 1e-6 and float(v.max()) <= hi + 1e-6 and float(v.std()) > 0
