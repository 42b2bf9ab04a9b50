import dataclasses
import json

import numpy as np
import pytest
import torch

from patchsim.errors import PatchsimError
from patchsim.simulator.camera_sim import CameraSimulator
from patchsim.evaluate.runner import condition_rows
from patchsim.io.images import write_png
from patchsim.realphoto.calibrate import calibrate_photo, fit_profile
from patchsim.printing.chart import ChartLayout, chart_colours, chart_homography, draw_chart, read_patches
from patchsim.realphoto.colour import ciede2000, srgb_to_lab
from patchsim.printing.printer import PrinterModel

from identity import identity_conditions

PX_PER_MM = 4.0
TRUE_PRINTER = PrinterModel([[0.92, 0.06, 0.0], [0.04, 0.88, 0.06], [0.0, 0.08, 0.85]], [0.9, 0.93, 0.88],
                            [0.04, 0.035, 0.05], [1.15, 1.1, 1.2])


def _printed_chart_face(layout: ChartLayout) -> np.ndarray:
    """The chart as printed by the 'true' printer, on a square white card (RGBA), for the simulator."""
    chart = draw_chart(PX_PER_MM, layout).astype(np.float32) / 255
    with torch.no_grad():
        printed = TRUE_PRINTER(torch.from_numpy(chart).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    side = int(round(layout.width_mm * PX_PER_MM))
    with torch.no_grad():
        paper = TRUE_PRINTER(torch.ones(1, 3, 1, 1))[0, :, 0, 0].numpy()
    card = np.broadcast_to(paper, (side, side, 3)).astype(np.float32).copy()  # printed paper white
    card[:printed.shape[0]] = printed
    rgba = np.concatenate([card, np.ones((side, side, 1), np.float32)], 2)
    return (rgba * 255 + 0.5).astype(np.uint8)


def _photo(driveby_scene, layout, **effects):
    scene = dataclasses.replace(driveby_scene, sign=dataclasses.replace(driveby_scene.sign, size_m=layout.width_mm / 1000,
                                                                         post_width_m=0.0),
                                camera=dataclasses.replace(driveby_scene.camera, focus_m=0.45))
    sim = CameraSimulator(scene, _printed_chart_face(layout))
    cond = identity_conditions(1, distance_m=0.45, lateral_m=0.03, vertical_m=-0.02, yaw_deg=18.0, pitch_deg=-8.0,
                               roll_deg=4.0, ambient=0.95, color_temp_k=5200.0, **effects)
    row = next(condition_rows(cond))
    f = sim.render(row)
    # ground truth geometry: chart mm -> photo px from the simulator's own corners (card square)
    import cv2

    side = layout.width_mm
    src = np.array([[0, 0], [side, 0], [side, side], [0, side]], np.float32)
    h_true = cv2.getPerspectiveTransform(src, f.corners.astype(np.float32))
    return f.image, h_true


def test_chart_is_detected_and_calibration_recovers_distortion(driveby_scene, tmp_path):
    layout = ChartLayout()
    noisy, h_true = _photo(driveby_scene, layout, defocus_px=1.2, noise_std=0.02, noise_seed=7, jpeg_quality=90.0)
    clean, _ = _photo(driveby_scene, layout)
    h = chart_homography(noisy, layout)
    corners = np.array([[0, 0], [190, 0], [190, 170], [0, 170]], np.float64).reshape(-1, 1, 2)
    import cv2

    err = np.abs(cv2.perspectiveTransform(corners, h) - cv2.perspectiveTransform(corners, h_true)).max()
    assert err < 2.0  # the chart is found where the simulator put it
    write_png(tmp_path / "photo.png", noisy)
    profile = calibrate_photo(tmp_path / "photo.png", tmp_path / "profile.json", layout)
    assert json.loads((tmp_path / "profile.json").read_text())["fit"]["mean_ciede2000"] == profile["fit"]["mean_ciede2000"]
    assert len(json.loads((tmp_path / "profile.palette.json").read_text())["colors"]) == 216
    # truth: the noise-free photo's patch colours at the true geometry
    truth = read_patches(clean, h_true, layout)
    pm = PrinterModel(profile["matrix"], profile["gain"], profile["offset"], profile["gamma"])
    with torch.no_grad():
        pred = pm(torch.tensor(chart_colours(layout), dtype=torch.float32).T.reshape(1, 3, -1, 1)).reshape(3, -1).T.numpy()
    de = ciede2000(srgb_to_lab(pred), srgb_to_lab(truth))
    assert de.mean() < 3.0
    # and the distortion is real: the identity model is far off
    assert ciede2000(srgb_to_lab(chart_colours(layout)), srgb_to_lab(truth)).mean() > 6.0


def test_fit_profile_recovers_a_known_model():
    rng = np.random.default_rng(0)
    x = rng.random((60, 3))
    with torch.no_grad():
        y = TRUE_PRINTER(torch.tensor(x, dtype=torch.float32).T.reshape(1, 3, -1, 1)).reshape(3, -1).T.numpy()
    p = fit_profile(x, y)
    assert p["fit"]["mean_ciede2000"] < 0.5


def test_missing_chart_is_a_clear_error():
    with pytest.raises(PatchsimError, match="calibration chart not found: need 3 of its ArUco markers"):
        chart_homography(np.full((200, 300, 3), 128, np.uint8))
