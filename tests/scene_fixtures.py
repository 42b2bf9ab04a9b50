"""Small scenes for tests that run whole commands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from patchsim.io.images import write_png

from conftest import ROOT


def write_grey_driveby(folder: Path, start_m: float) -> Path:
    """``folder/scene.yaml``: the drive-by scene with a plain grey background image (both simulators honour
    it), its drive-by starting at ``start_m`` metres (a short one keeps a command quick)."""
    write_png(folder / "grey.png", np.full((90, 160, 3), 128, np.uint8))
    data = yaml.safe_load((ROOT / "scenes" / "stop_driveby.yaml").read_text())
    data["background"] = {"kind": "images", "images": ["grey.png"]}
    data["driveby"]["start_m"] = float(start_m)
    (folder / "scene.yaml").write_text(yaml.safe_dump(data))
    return folder / "scene.yaml"
