"""Conditions: a frozen, batched record of everything that varies between rendered frames.

Rendering only applies a :class:`Conditions`; all randomness is drawn beforehand by a sampler
(:mod:`patchsim.render.sampler`) from an explicit ``torch.Generator``, so any frame can be replayed
exactly by keeping its record (``records.to_data`` / ``records.from_data`` / JSON)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from patchsim.effects import EFFECTS, effect_field_names
from patchsim.errors import PatchsimError
from patchsim.records import Schema, from_data, to_data, versioned_bytes
from patchsim.io.images import atomic_write_bytes

CONDITIONS_SCHEMA = Schema("conditions.json", 2, {1: lambda data: data})  # 2: schema_version added, nothing else
INT64 = {"dtype": "int64"}  # field metadata of the integer fields (records.from_data reads it)
INT_FIELDS = ("noise_seed", "background_seed", "response_id")


@dataclass(frozen=True)
class _ConditionsBase:
    """Per-frame physical conditions, each field a ``(B,)`` tensor (float32 unless noted).

    Pose of the sign centre in the camera frame (x right, y down, z forward):
        distance_m: forward distance z (m). lateral_m: x, right positive (m). vertical_m: height of the
        sign centre above the camera (m, up positive; camera y = -vertical_m). yaw_deg, pitch_deg,
        roll_deg: sign rotation about its vertical, horizontal and normal axes (deg; 0 = facing the
        camera squarely). speed_mps: camera speed along +z (m/s), for motion blur.
    Lighting (linear RGB, multiplies albedo): ambient, sun, sun_azimuth_deg, sun_elevation_deg (sun
        direction relative to the sign normal), glare (peak added radiance), glare_u, glare_v (spot
        centre, face coords in [0, 1]), glare_radius (face fraction), shadow (0..1 of sun blocked),
        shadow_angle_deg, shadow_offset (edge position, face fraction from centre), shadow_softness,
        color_temp_k (K).
    Camera: exposure_ev (stops), gamma, noise_std, jpeg_quality (1..100), defocus_px (extra sigma,
        frame px), exposure_s (s), response_id (int64: the real photo
        whose colour response the frame takes, -1 none; see :mod:`patchsim.render.photo_response`),
        noise_seed (int64).
    Detector crop: jitter_x, jitter_y (fraction of box size), jitter_scale (relative).
    Background: background_seed (int64).
    Then one field per field of every registered effect (:mod:`patchsim.effects`), in registry order.
    """

    distance_m: torch.Tensor
    lateral_m: torch.Tensor
    vertical_m: torch.Tensor
    yaw_deg: torch.Tensor
    pitch_deg: torch.Tensor
    roll_deg: torch.Tensor
    speed_mps: torch.Tensor
    ambient: torch.Tensor
    sun: torch.Tensor
    sun_azimuth_deg: torch.Tensor
    sun_elevation_deg: torch.Tensor
    glare: torch.Tensor
    glare_u: torch.Tensor
    glare_v: torch.Tensor
    glare_radius: torch.Tensor
    shadow: torch.Tensor
    shadow_angle_deg: torch.Tensor
    shadow_offset: torch.Tensor
    shadow_softness: torch.Tensor
    color_temp_k: torch.Tensor
    exposure_ev: torch.Tensor
    gamma: torch.Tensor
    noise_std: torch.Tensor
    jpeg_quality: torch.Tensor
    defocus_px: torch.Tensor
    exposure_s: torch.Tensor
    response_id: torch.Tensor = dataclasses.field(metadata=INT64)
    noise_seed: torch.Tensor = dataclasses.field(metadata=INT64)
    jitter_x: torch.Tensor
    jitter_y: torch.Tensor
    jitter_scale: torch.Tensor
    background_seed: torch.Tensor = dataclasses.field(metadata=INT64)

    def __post_init__(self) -> None:
        n = None
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, torch.Tensor) or v.dim() != 1:
                raise PatchsimError(f"Conditions.{f.name}: expected a 1-D tensor, got {_describe(v)}")
            if n is None:
                n = v.shape[0]
            elif v.shape[0] != n:
                raise PatchsimError(f"Conditions.{f.name}: batch size {v.shape[0]} differs from {n}")
            if f.name in INT_FIELDS:
                if v.dtype != torch.int64:
                    raise PatchsimError(f"Conditions.{f.name}: expected int64, got {v.dtype}")
            elif not torch.isfinite(v).all():
                raise PatchsimError(f"Conditions.{f.name}: contains NaN or infinite values")

    @classmethod
    def field_names(cls) -> list[str]:
        """Names of all fields, in order."""
        return [f.name for f in dataclasses.fields(cls)]

    def __len__(self) -> int:
        return self.distance_m.shape[0]

    def __getitem__(self, idx: Any) -> "Conditions":
        """Select frames (int, slice, index tensor or bool mask); always returns a batched record."""
        if isinstance(idx, int):
            idx = slice(idx, idx + 1 if idx != -1 else None)
        return Conditions(**{k: getattr(self, k)[idx] for k in self.field_names()})

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "Conditions":
        """Move to ``device``; ``dtype`` changes float fields only (integer seeds stay int64)."""
        out = {}
        for k in self.field_names():
            v = getattr(self, k)
            out[k] = v.to(device=device) if k in INT_FIELDS or dtype is None else v.to(device=device, dtype=dtype)
        return Conditions(**out)

    def replace(self, **changes: torch.Tensor) -> "Conditions":
        """A copy with some fields replaced."""
        return dataclasses.replace(self, **changes)

    @staticmethod
    def cat(items: list["Conditions"]) -> "Conditions":
        """Concatenate records along the batch."""
        if not items:
            raise PatchsimError("Conditions.cat: need at least one record")
        return Conditions(**{k: torch.cat([getattr(c, k) for c in items]) for k in Conditions.field_names()})

    def save_json(self, path: str | Path, extra: dict | None = None) -> None:
        """Write ``{"schema_version", "conditions": to_data(self), **extra}`` atomically as JSON (:data:`CONDITIONS_SCHEMA`)."""

        doc = {"conditions": to_data(self), **(extra or {})}
        atomic_write_bytes(path, versioned_bytes(doc, CONDITIONS_SCHEMA))

    @staticmethod
    def load_json(path: str | Path) -> "Conditions":
        """Read a record written by :meth:`save_json`."""
        try:
            doc = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise PatchsimError(f"cannot read conditions file {path}: {e}") from e
        doc = CONDITIONS_SCHEMA.upgrade(doc, str(path))
        if "conditions" not in doc:
            raise PatchsimError(f"{path}: no 'conditions' key")
        return from_data(Conditions, doc["conditions"], f"{path}: conditions")


def _with_effect_fields(base: type) -> type:
    """``base`` with a ``(B,)`` float32 field per field of every registered effect, appended in
    registry order: the frozen :class:`Conditions` record."""
    extra = [(name, torch.Tensor) for name in effect_field_names()]
    cls = dataclasses.make_dataclass("Conditions", extra, bases=(base,), frozen=True)
    cls.__module__, cls.__qualname__ = __name__, "Conditions"
    cls.__doc__ = base.__doc__ + "".join(f"    {e.name}: {', '.join(e.field_names())} ({e.doc}).\n"
                                         for e in EFFECTS)
    return cls


Conditions = _with_effect_fields(_ConditionsBase)


def _describe(v: Any) -> str:
    return f"tensor of shape {tuple(v.shape)}" if isinstance(v, torch.Tensor) else type(v).__name__
