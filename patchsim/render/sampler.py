"""Seeded samplers that draw :class:`Conditions` from a scene's ranges.

Shared by the optimiser (EOT batches) and the evaluator (drive-by sequences and grids). Every sampler
takes an explicit ``torch.Generator``; the same generator state gives the same record."""

from __future__ import annotations

import dataclasses
import math

import torch

from patchsim.effects import effects_in
from patchsim.errors import PatchsimError, SignNotVisibleError
from patchsim.render.conditions import Conditions
from patchsim.scene import Scene

SEED_MAX = 2**62
EOT_BACKGROUNDS = 128  # EOT draws backgrounds from this many procedural seeds (cached by the renderer)


def _uniform(lo_hi: tuple[float, float], n: int, g: torch.Generator) -> torch.Tensor:
    lo, hi = lo_hi
    return lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64).float()


def _seeds(n: int, g: torch.Generator) -> torch.Tensor:
    return torch.randint(0, SEED_MAX, (n,), generator=g, dtype=torch.int64)


# drawn last, and only when their range is not a point: every realism effect's fields, in registry order
REALISM_FIELDS = tuple(f for e in effects_in(realism=True) for f in e.field_names())


def draw_ranges(ranges, n: int, g: torch.Generator, skip: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """One uniform draw ``(n,)`` per field of a scene ranges record (``PoseRanges``, ``LightingRanges``,
    ``EffectRanges``), keyed by the :class:`Conditions` field it fills: each range field names the
    condition field it is drawn for, and a range without one is an error, not a silent drop."""
    names = set(Conditions.field_names())
    out = {}
    for f in dataclasses.fields(ranges):
        if f.name in skip:
            continue
        if f.name not in names:
            raise PatchsimError(f"{type(ranges).__name__}.{f.name} has no Conditions field to draw into")
        out[f.name] = _uniform(getattr(ranges, f.name), n, g)
    return out


def _environment(scene: Scene, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    """Lighting and camera-effect fields, drawn from the scene's ranges (the realism fields aside)."""
    out = draw_ranges(scene.lighting, n, g)
    out.update(draw_ranges(scene.effects, n, g, skip=REALISM_FIELDS))
    out["glare_u"] = _uniform((0.2, 0.8), n, g)
    out["glare_v"] = _uniform((0.2, 0.8), n, g)
    out["shadow_angle_deg"] = _uniform((0.0, 360.0), n, g)
    out["shadow_offset"] = _uniform((-0.5, 0.5), n, g)
    return out


def _realism(scene: Scene, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    """The realism effects (black level, white-balance error) and the real photo response: drawn after everything else and
    only where the scene asks for them, so a scene without them replays exactly as before they existed."""
    out = {}
    for name in REALISM_FIELDS:
        lo, hi = getattr(scene.effects, name)
        out[name] = torch.full((n,), float(lo)) if lo == hi else _uniform((lo, hi), n, g)
    p = scene.realism.photo_responses
    out["response_id"] = torch.full((n,), -1, dtype=torch.int64)
    if p > 0:
        from patchsim.render.photo_response import load_responses

        k = len(load_responses()[1])
        take = torch.rand(n, generator=g, dtype=torch.float64) < p
        ids = torch.randint(0, k, (n,), generator=g, dtype=torch.int64)
        out["response_id"] = torch.where(take, ids, out["response_id"])
        # a real photo's response already holds the realism effects (black level, white balance)
        for f in (f for e in effects_in(realism=True) for f in e.fields):
            out[f.name] = torch.where(take, torch.full((n,), f.identity), out[f.name])
    return out


def _per_frame(scene: Scene, n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    """Fields that change every frame even in a sequence: crop jitter and the sensor-noise seed."""
    j, s = scene.crop.jitter, scene.crop.scale_jitter
    return {
        "jitter_x": _uniform((-j, j), n, g),
        "jitter_y": _uniform((-j, j), n, g),
        "jitter_scale": _uniform((-s, s), n, g),
        "noise_seed": _seeds(n, g),
    }


def _check_n(n: int) -> None:
    if not isinstance(n, int) or n < 1:
        raise PatchsimError(f"number of conditions must be a positive integer, got {n!r}")


def sample_eot(scene: Scene, n: int, generator: torch.Generator) -> Conditions:
    """``n`` independent conditions drawn uniformly from the scene's EOT, lighting and effect ranges."""
    _check_n(n)
    pose = draw_ranges(scene.eot, n, generator)
    backgrounds = torch.randint(0, EOT_BACKGROUNDS, (n,), generator=generator, dtype=torch.int64)
    env, per = _environment(scene, n, generator), _per_frame(scene, n, generator)
    return Conditions(**pose, **env, **per, **_realism(scene, n, generator), background_seed=backgrounds)


def sign_centre_height(scene: Scene) -> float:
    """Height of the sign's centre above the camera (m)."""
    return scene.sign.mount_height_m + scene.sign.size_m / 2 - scene.camera.height_m


def driveby_distances(scene: Scene) -> torch.Tensor:
    """Forward distances (m) of the drive-by frames, from ``start_m`` down to ``end_m`` at the scene's
    speed and frame rate: ``(T,)`` float32."""
    d = scene.driveby
    if d is None:
        raise PatchsimError(f"scene {scene.name!r} has no 'driveby' section")
    step = d.speed_mps / d.fps
    t = int(math.floor((d.start_m - d.end_m) / step + 1e-9)) + 1
    return (d.start_m - step * torch.arange(t, dtype=torch.float64)).float()


def sample_driveby(scene: Scene, generator: torch.Generator) -> Conditions:
    """The scene's drive-by as a sequence: the pose follows the trajectory; light, camera settings and
    background are drawn once for the whole approach; crop jitter and noise are drawn per frame."""
    z = driveby_distances(scene)
    t = z.shape[0]
    env = {k: v.expand(t).clone() for k, v in _environment(scene, 1, generator).items()}
    full = lambda v: torch.full((t,), float(v))  # noqa: E731
    pose = dict(
        distance_m=z,
        lateral_m=full(scene.sign.lateral_m - scene.driveby.lane_offset_m),
        vertical_m=full(sign_centre_height(scene)),
        yaw_deg=full(scene.sign.yaw_deg),
        pitch_deg=full(0.0),
        roll_deg=full(0.0),
        speed_mps=full(scene.driveby.speed_mps),
    )
    background = _seeds(1, generator).expand(t).clone()  # one world for the whole approach
    per = _per_frame(scene, t, generator)
    look = {k: v.expand(t).clone() for k, v in _realism(scene, 1, generator).items()}  # one camera for the approach
    return Conditions(**pose, **env, **per, **look, background_seed=background)


def sample_grid(scene: Scene, generator: torch.Generator) -> Conditions:
    """RP2's stationary protocol: every distance x viewing angle x ambient level of the scene's grid,
    camera at the sign's height, straight in front (the angle is the sign's yaw). Other lighting and
    effect fields are drawn per frame."""
    gr = scene.grid
    if gr is None:
        raise PatchsimError(f"scene {scene.name!r} has no 'grid' section")
    combos = [(d, a, l) for d in gr.distances_m for a in gr.angles_deg for l in gr.ambient]
    n = len(combos)
    d, a, l = (torch.tensor([c[i] for c in combos], dtype=torch.float32) for i in range(3))
    env = _environment(scene, n, generator)
    env["ambient"] = l
    zeros = torch.zeros(n)
    pose = dict(distance_m=d, lateral_m=zeros, vertical_m=zeros.clone(), yaw_deg=a, pitch_deg=zeros.clone(),
                roll_deg=zeros.clone(), speed_mps=zeros.clone())
    background = _seeds(1, generator).expand(n).clone()  # one lab
    per = _per_frame(scene, n, generator)
    return Conditions(**pose, **env, **per, **_realism(scene, n, generator), background_seed=background)


def draw_visible(scene: Scene, renderer, n: int, g: torch.Generator) -> Conditions:
    """``n`` EOT conditions (:func:`sample_eot`) in which the sign is visible to ``renderer`` (a
    :class:`~patchsim.render.Renderer`: its camera and the sign's size in metres); the few that are not
    are redrawn from ``g``, up to 20 times, then :class:`~patchsim.errors.SignNotVisibleError`."""
    from patchsim.render.geometry import visibility

    cond = sample_eot(scene, n, g)
    for _ in range(20):
        bad = visibility(cond, renderer.camera, renderer.size_m)
        if not bad:
            return cond
        keep = torch.ones(len(cond), dtype=torch.bool)
        keep[list(bad)] = False
        cond = Conditions.cat([cond[keep], sample_eot(scene, len(bad), g)])
    raise SignNotVisibleError(bad)
