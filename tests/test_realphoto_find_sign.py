import numpy as np
import torch

from patchsim.simulator.camera_sim import CameraSimulator
from patchsim.render.crop import detector_crop
from patchsim.evaluate.runner import condition_rows
from patchsim.io.images import read_image
from patchsim.models import load
from patchsim.realphoto.find_sign import find_stop_sign
from patchsim.signs import draw_face_array

from conftest import SHARED, needs_shared
from identity import identity_conditions


def test_octagon_detector_on_simulated_frame(driveby_scene):
    sim = CameraSimulator(driveby_scene, draw_face_array("stop", 512))
    row = next(condition_rows(identity_conditions(1, distance_m=8.0, lateral_m=1.5, vertical_m=0.8, yaw_deg=10.0)))
    f = sim.render(row)
    c = find_stop_sign(f.image)
    assert c is not None
    true = f.corners
    assert np.abs(c.mean(0) - true.mean(0)).max() < 3
    assert abs((c[1, 0] - c[0, 0]) - (true[2, 1] - true[1, 1])) < 4  # square side = sign height


def test_octagon_detector_finds_nothing_without_a_sign():
    img = np.full((240, 320, 3), (60, 140, 60), np.uint8)
    img[50:100, 50:250] = (200, 30, 30)  # a red bar is not an octagon
    assert find_stop_sign(img) is None


@needs_shared("rp2", "photos", "uw17_stop_2484.jpg")
def test_octagon_detector_on_real_photo():
    img = read_image(SHARED / "rp2" / "photos" / "uw17_stop_2484.jpg")
    c = find_stop_sign(img)
    assert c is not None
    side = c[1, 0] - c[0, 0]
    assert side > 0.6 * img.shape[0]  # a tight crop of one sign


@needs_shared("rp2", "victims_256")
def test_octagon_detector_on_rp2_victims():
    files = sorted((SHARED / "rp2" / "victims_256").glob("*.png"))
    model = load("gtsrb-cnn")
    found, stop = 0, 0
    for f in files:
        img = read_image(f)
        c = find_stop_sign(img)
        if c is None:
            continue
        found += 1
        lo, hi = c.min(0), c.max(0)
        side = (hi - lo).max() * 1.2
        box = ((lo[0] + hi[0]) / 2 - side / 2, (lo[1] + hi[1]) / 2 - side / 2, side)
        crop = detector_crop(img, box, 32)
        with torch.no_grad():
            pred = model(torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 255).argmax(1)
        stop += int(pred) == 14
    assert found >= 38
    assert stop >= 0.9 * found
