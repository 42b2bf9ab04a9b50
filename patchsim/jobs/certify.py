"""``patchsim certify``: PatchCleanser's certified robust accuracy of a classifier on GTSRB test images
and on clean drive-by crops of a scene (the independent simulator's frames and detector crops).

Certified accuracy is the fraction of inputs whose true class PatchCleanser certifies against every
patch of up to ``patch_frac`` of the crop's area anywhere in the crop (see
:class:`~patchsim.defences.PatchCleanser`); beside it the defended model's clean accuracy (its
double-masking decision) and the undefended model's."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from patchsim.errors import PatchsimError
from patchsim.checks import check_number
from patchsim.device import resolve_device
from patchsim.io.images import atomic_write_bytes
from patchsim.io.outputs import check_output_file
from patchsim.records import json_bytes

log = logging.getLogger(__name__)


def certify_arrays(pc, x: np.ndarray, y: np.ndarray, batch: int = 64, progress: bool = True,
                   desc: str = "certify") -> dict:
    """Score uint8 images ``x`` (N, H, W, 3) with labels ``y`` (N,) through PatchCleanser ``pc``:
    {images, accuracy (the wrapped model alone), defended_accuracy, certified_accuracy}."""
    dev = pc.masks.device
    plain = defended = certified = 0
    for i in tqdm(range(0, len(x), batch), desc=desc, disable=not progress or None):
        xb = torch.from_numpy(x[i:i + batch]).to(dev).permute(0, 3, 1, 2).float() / 255
        yb = torch.from_numpy(np.asarray(y[i:i + batch], np.int64)).to(dev)
        with torch.no_grad():
            plain += int((pc.model(xb).argmax(1) == yb).sum())
        defended += int((pc.decide(xb) == yb).sum())
        certified += int(pc.certify(xb, yb).sum())
    n = len(x)
    return {"images": n, "accuracy": plain / n, "defended_accuracy": defended / n, "certified_accuracy": certified / n}


def driveby_crops(scene, size: int) -> np.ndarray:
    """The clean drive-by of ``scene`` as the independent simulator films it: detector crops uint8
    ``(N, size, size, 3)``, one per frame."""
    from patchsim.simulator.camera_sim import CameraSimulator
    from patchsim.evaluate.runner import EvalSettings, condition_rows, sticker_face
    from patchsim.render.crop import detector_crop
    from patchsim.render import sample_driveby

    if scene.driveby is None:
        raise PatchsimError(f"scene {scene.name} has no driveby section to certify on")
    sim = CameraSimulator(scene, sticker_face(scene, None, EvalSettings().face_resolution))
    crops = []
    for row in condition_rows(sample_driveby(scene, torch.Generator().manual_seed(0))):
        f = sim.render(row)
        crops.append(detector_crop(f.image, f.box, size))
    return np.stack(crops)


def run_certify(model: str, out: str | Path, patch_frac: float = 0.1, per_axis: int = 6, weights: str | None = None,
                labels: str | None = None, every: int = 10, scene: str | None = "stop_driveby",
                data_dir: str | None = None, device: str | None = "auto", progress: bool = True,
                force: bool = False) -> dict:
    """Certify ``model`` with PatchCleanser (``patch_frac``, ``per_axis`` masks per axis) on every
    ``every``-th GTSRB test image and on ``scene``'s clean drive-by crops (None: skip); writes
    ``out`` (certify.json) and returns it."""
    from patchsim.defences import PatchCleanser
    from patchsim.models import freeze, load, model_file
    from patchsim.models.classes import resolve_class
    from patchsim.models.train import default_data_dir, load_gtsrb
    from patchsim.scene import load_scene

    t0 = time.time()
    every = check_number("--every", every, 1, 100000, integer=True)
    out = check_output_file(out, inputs=(weights, labels, model_file(model)), force=force)
    sc = load_scene(scene) if scene else None
    net = freeze(load(model, weights=weights, labels=labels))
    pc = PatchCleanser(net, patch_frac, per_axis).to(resolve_device(device))
    test = load_gtsrb(data_dir or default_data_dir(), "test")
    record = {"model": model, "weights": weights, "patch_frac": patch_frac, "patch_px": list(pc.patch_px),
              "masks": len(pc.masks), "masks_per_axis": per_axis, "mask_fill": pc.fill,
              "gtsrb_test": {"every": every, **certify_arrays(pc, test["x"][::every], test["y"][::every],
                                                                progress=progress, desc="certify GTSRB test")}}
    if sc is not None:
        crops = driveby_crops(sc, pc.input_size[0])
        y = np.full(len(crops), resolve_class(net.classes, sc.sign.class_name))
        record["driveby"] = {"scene": sc.name, **certify_arrays(pc, crops, y, progress=progress, desc="certify drive-by")}
    record["wall_s"] = round(time.time() - t0, 1)
    atomic_write_bytes(out, json_bytes(record))
    return record
