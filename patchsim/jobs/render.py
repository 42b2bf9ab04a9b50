"""``patchsim render``: frames, classifier crops, conditions.json and a contact sheet for a scene."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from tqdm import tqdm

from patchsim.io.contact_sheet import contact_sheet
from patchsim.errors import PatchsimError
from patchsim.io.images import write_png
from patchsim.io.outputs import writes_folder
from patchsim.render import Renderer, sample_driveby, sample_eot, sample_grid
from patchsim.render.conditions import Conditions
from patchsim.scene import load_scene
from patchsim.io.stickers import load_sticker
from patchsim.device import resolve_device

log = logging.getLogger(__name__)
CHUNK = 4  # full frames rendered per batch


def conditions_for(scene, mode: str, n: int, generator: torch.Generator) -> Conditions:
    """``n`` conditions of the scene: random EOT draws, or ``n`` evenly spaced frames of the drive-by or
    grid sequence (all of it when ``n`` exceeds its length)."""
    if mode == "eot":
        return sample_eot(scene, n, generator)
    seq = sample_driveby(scene, generator) if mode == "driveby" else sample_grid(scene, generator)
    if n >= len(seq):
        return seq
    idx = torch.linspace(0, len(seq) - 1, n).round().long()
    return seq[idx]


@writes_folder("render", ("frames", "crops", "conditions.json", "contact_sheet.png"))
def render_job(scene_path: str, out: str | Path, n: int = 8, seed: int = 0, sticker_path: str | None = None,
               mode: str = "eot", force: bool = False, device: str | None = "auto") -> Path:
    """Render ``n`` conditions of a scene into ``out``: ``frames/NNNN.png``, ``crops/NNNN.png``,
    ``conditions.json`` (every frame's conditions and its 4 projected face corners in pixels, TL, TR,
    BR, BL) and ``contact_sheet.png``, rendering on ``device``. Returns the output folder."""

    dev = resolve_device(device)
    if n < 1:
        raise PatchsimError(f"--n must be at least 1, got {n}")
    scene = load_scene(scene_path)
    renderer = Renderer.from_scene(scene).to(dev)
    sticker = load_sticker(sticker_path, renderer.face_resolution).to(dev) if sticker_path else None
    cond = conditions_for(scene, mode, n, torch.Generator().manual_seed(seed))
    out = Path(out)
    frames, crops, corners, captions = [], [], [], []
    with torch.no_grad():
        for start in tqdm(range(0, len(cond), CHUNK), desc="render", unit="batch", disable=None):
            c = cond[start:start + CHUNK].to(dev)
            f = renderer.render_frames(c, sticker)
            k = renderer.render_crops(c, sticker)
            for i in range(len(c)):
                j = start + i
                write_png(out / "frames" / f"{j:04d}.png", f.images[i])
                write_png(out / "crops" / f"{j:04d}.png", k.images[i])
                frames.append(f.images[i])
                crops.append(k.images[i])
                captions.append(f"#{j} {float(c.distance_m[i]):.1f} m yaw {float(c.yaw_deg[i]):.0f} deg")
            corners.append(f.corners)
    cond.save_json(out / "conditions.json", extra={
        "scene": str(scene.path), "seed": seed, "mode": mode, "sticker": sticker_path,
        "corners_px": torch.cat(corners).tolist(),
        "corners_order": ["top-left", "top-right", "bottom-right", "bottom-left"],
        "pixel_convention": "pixel centres at integer coordinates; pixel (0, 0) covers [-0.5, 0.5]^2",
    })
    sheet = [x for pair in zip(frames[:8], crops[:8]) for x in pair]
    caps = [c for cap in captions[:8] for c in (cap, "classifier crop")]
    contact_sheet(sheet, caps, out / "contact_sheet.png", columns=4)
    log.info("wrote %d frames, crops, conditions.json and contact_sheet.png to %s", len(cond), out)
    return out
