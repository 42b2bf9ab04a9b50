"""Conditions with identity lighting and camera effects, for tests."""

import torch

from patchsim.render.conditions import INT_FIELDS, Conditions

IDENTITY = dict(
    distance_m=10.0, lateral_m=0.0, vertical_m=0.0, yaw_deg=0.0, pitch_deg=0.0, roll_deg=0.0, speed_mps=0.0,
    ambient=1.0, sun=0.0, sun_azimuth_deg=0.0, sun_elevation_deg=45.0, glare=0.0, glare_u=0.5, glare_v=0.5,
    glare_radius=0.1, shadow=0.0, shadow_angle_deg=0.0, shadow_offset=0.0, shadow_softness=0.1,
    color_temp_k=6500.0, exposure_ev=0.0, gamma=1.0, noise_std=0.0, jpeg_quality=100.0, defocus_px=0.0,
    exposure_s=0.0, black_level=0.0, wb_red=1.0, wb_blue=1.0, response_id=-1, noise_seed=0, jitter_x=0.0, jitter_y=0.0, jitter_scale=0.0, background_seed=0,
)


def identity_conditions(n: int = 1, **over) -> Conditions:
    """``n`` frames of identity conditions; keyword overrides take a scalar or a sequence of length n."""
    d = {}
    for k, v in {**IDENTITY, **over}.items():
        dtype = torch.int64 if k in INT_FIELDS else torch.float32
        t = torch.as_tensor(v, dtype=dtype)
        d[k] = t.expand(n).clone() if t.dim() == 0 else t
    return Conditions(**d)
