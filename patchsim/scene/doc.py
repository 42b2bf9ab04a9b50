"""The field tables of ``docs/scene-format.md``, generated from the scene types so the document cannot
drift from the code: ``python -m patchsim.scene.doc`` prints them; a test checks the document holds them."""

from __future__ import annotations

import dataclasses

from patchsim.scene.types import (CameraConfig, CropConfig, DriveByConfig, EffectRanges, LightingRanges, PoseRanges,
                                  RealismConfig, SignConfig)

SECTIONS = {"sign": SignConfig, "camera": CameraConfig, "driveby": DriveByConfig, "eot": PoseRanges,
            "lighting": LightingRanges, "camera_effects": EffectRanges, "realism": RealismConfig, "crop": CropConfig}


def scene_format_tables() -> str:
    """One markdown section per scene section: its description and a table of its fields (default and
    the allowed closed range from the field's bounds; ``each end`` for a (lo, hi) range)."""
    out = []
    for section, cls in SECTIONS.items():
        out += [f"### `{section}` ({cls.__name__})", "", " ".join((cls.__doc__ or "").split()), "",
                "| field | default | allowed |", "| --- | --- | --- |"]
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                default = f.default
            else:
                default = "(list)" if f.default_factory is not dataclasses.MISSING else "required"
            b = f.metadata.get("bounds")
            allowed = (f"[{b[0]:g}, {b[1]:g}]" + (" each end" if isinstance(default, tuple) else "")) if b else ""
            out.append(f"| `{f.name}` | {default} | {allowed} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(scene_format_tables())
