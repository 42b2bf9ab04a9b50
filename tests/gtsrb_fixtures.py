"""Tiny GTSRB-shaped training data made from the catalogue faces: small real inputs for the commands
that train or inspect (train, poison, harden, inspect-data) without the shared data."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from patchsim.poison.paste import roi_homography
from patchsim.realphoto.placement import FacePyramid, warp_face
from patchsim.signs.catalogue import draw_face_array

CLASSES = [f"c{i}" for i in range(43)]
CLASSES[14], CLASSES[5] = "stop", "speed_limit_80"


def synthetic_sign(gain: float = 0.6, size: int = 32, roi=(3, 4, 27, 28), sign: str = "stop", bg=90) -> tuple:
    """A small 'photo' of the catalogue face on a grey background, dimmed by ``gain``, its ROI known."""
    h = roi_homography(np.array(roi), np.array([size, size]), (size, size))
    region = (0, 0, size, size)
    face = warp_face(FacePyramid(draw_face_array(sign, 256)), h, region)
    rgb = face[..., :3] * gain + (bg / 255) * (1 - face[..., 3:])
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8), np.array(roi), np.array([size, size]), h


def tiny_training_set(n_stop=30, n_other=30, n_target=20):
    xs, ys, rois, sizes = [], [], [], []
    for i in range(n_stop + n_other + n_target):
        if i < n_stop:
            img, roi, size, _ = synthetic_sign(gain=0.5 + 0.5 * (i % 5) / 4)
            y = 14
        elif i < n_stop + n_other:
            img, roi, size, _ = synthetic_sign(sign="yield")
            y = 13
        else:
            img, roi, size, _ = synthetic_sign(sign="speed_limit_80", gain=0.8)
            y = 5
        xs.append(img), ys.append(y), rois.append(roi), sizes.append(size)
    return np.stack(xs), np.array(ys), np.stack(rois), np.stack(sizes)




def write_tiny_gtsrb(folder: Path, n: int = 40) -> Path:
    """``folder`` with GTSRB-shaped train.npz and test.npz (``3 * n`` and a quarter of them): stop, yield
    and speed_limit_80 faces with their ROIs and sizes, tracks of 5."""
    x, y, roi, size = tiny_training_set(n, n, n)
    folder.mkdir(parents=True, exist_ok=True)
    track = np.arange(len(x)) // 5
    np.savez(folder / "train.npz", x=x, y=y.astype(np.int16), track=track.astype(np.int32), orig_size=size, orig_roi=roi)
    np.savez(folder / "test.npz", x=x[::4], y=y[::4].astype(np.int16), orig_size=size[::4], orig_roi=roi[::4])
    return folder
