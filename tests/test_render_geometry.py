import numpy as np
import pytest
import torch
from kornia.color import rgb_to_linear_rgb

from patchsim.errors import SignNotVisibleError
from patchsim.render import Renderer, sample_eot
from patchsim.render import geometry as geo
from patchsim.render.background import Background
from patchsim.scene import CameraConfig, CropConfig

from identity import identity_conditions


def _rot_np(yaw, pitch, roll):
    """Independent rotation: sign axes rotated about camera y by yaw, then x by pitch, then z by roll
    (intrinsic), composed in numpy."""
    y, p, r = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return ry @ rx @ rz


def _pinhole_corners(c, cam: CameraConfig, size):
    f = 0.5 * cam.width / np.tan(np.radians(cam.hfov_deg) / 2)
    cx, cy = (cam.width - 1) / 2, (cam.height - 1) / 2
    out = []
    for i in range(len(c)):
        rot = _rot_np(float(c.yaw_deg[i]), float(c.pitch_deg[i]), float(c.roll_deg[i]))
        t = np.array([float(c.lateral_m[i]), -float(c.vertical_m[i]), float(c.distance_m[i])])
        pts = []
        for sx, sy in [(-1, -1), (1, -1), (1, 1), (-1, 1)]:
            p = rot @ np.array([sx * size / 2, sy * size / 2, 0.0]) + t
            pts.append([f * p[0] / p[2] + cx, f * p[1] / p[2] + cy])
        out.append(pts)
    return np.array(out)


def test_corners_match_independent_pinhole(driveby_scene, gen):
    c = sample_eot(driveby_scene, 200, gen)
    ours = geo.project_corners(c, driveby_scene.camera, 0.75).numpy()
    ref = _pinhole_corners(c, driveby_scene.camera, 0.75)
    assert np.abs(ours - ref).max() < 0.5
    # the projection is not trivially small: signs move across the frame
    assert ref[..., 0].std() > 20


def test_face_on_sign_at_image_centre():
    cam = CameraConfig()
    c = identity_conditions(1, distance_m=10.0)
    corners = geo.project_corners(c, cam, 1.0)[0]
    f = cam.focal_px
    half = 0.5 * f / 10.0
    cx, cy = 639.5, 359.5
    expected = torch.tensor([[cx - half, cy - half], [cx + half, cy - half], [cx + half, cy + half], [cx - half, cy + half]])
    assert torch.allclose(corners, expected, atol=1e-3)


def _square_renderer(ss=2):
    face = torch.ones(1, 4, 256, 256)
    cam = CameraConfig(width=320, height=240, hfov_deg=60.0, supersample=ss)
    black = Background("images", torch.zeros(1, 3, 8, 8))
    return Renderer(face, torch.zeros(1, 1, 256, 256), 1.0, cam, CropConfig(size=32, supersample=4), background=black), cam


@pytest.mark.parametrize("yaw,roll", [(0.0, 0.0), (30.0, 0.0), (-20.0, 10.0)])
def test_rendered_silhouette_matches_corners(yaw, roll):
    """The renderer draws the face where the geometry says: coverage-weighted centroid and area of a
    white square on black agree with the projected quadrilateral."""
    r, cam = _square_renderer()
    c = identity_conditions(1, distance_m=4.0, lateral_m=0.3, vertical_m=0.2, yaw_deg=yaw, roll_deg=roll)
    out = r.render_frames(c)
    cov = rgb_to_linear_rgb(out.images)[0, 0]  # white on black: linear value = coverage
    q = out.corners[0].numpy()
    x, y = q[:, 0], q[:, 1]
    area = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    assert abs(float(cov.sum()) - area) / area < 0.01
    ys, xs = torch.meshgrid(torch.arange(cam.height, dtype=torch.float32), torch.arange(cam.width, dtype=torch.float32),
                            indexing="ij")
    centroid = np.array([float((cov * xs).sum() / cov.sum()), float((cov * ys).sum() / cov.sum())])
    # polygon centroid
    cross = x * np.roll(y, -1) - np.roll(x, -1) * y
    pc = np.array([((x + np.roll(x, -1)) * cross).sum(), ((y + np.roll(y, -1)) * cross).sum()]) / (3 * cross.sum())
    assert np.abs(centroid - pc).max() < 0.1


def test_behind_camera_and_outside_frame_are_reported():
    r, _ = _square_renderer()
    c = identity_conditions(3, distance_m=[4.0, -3.0, 4.0], lateral_m=[0.0, 0.0, 50.0])
    with pytest.raises(SignNotVisibleError) as e:
        r.render_crops(c)
    assert set(e.value.reasons) == {1, 2}
    assert "behind the camera" in e.value.reasons[1] and "outside the frame" in e.value.reasons[2]
    with pytest.raises(SignNotVisibleError, match="behind the camera"):
        r.render_frames(c[1])
    # allowed explicitly: the frame is just background (black)
    out = r.render_frames(c[1:], allow_invisible=True)
    assert float(out.images.max()) == 0.0


def test_sign_straddling_camera_plane_is_behind():
    c = identity_conditions(1, distance_m=0.2, yaw_deg=80.0)
    bad = geo.visibility(c, CameraConfig(), 1.0)
    assert "behind the camera" in bad[0]


def test_detector_box_contains_sign_with_margin():
    c = identity_conditions(2, jitter_x=[0.0, 0.05], jitter_scale=[0.0, 0.1])
    corners = geo.project_corners(c, CameraConfig(), 0.75)
    box = geo.detector_box(corners, c, 0.1)
    side = float(corners[0, 1, 0] - corners[0, 0, 0])
    assert abs(float(box[0, 2]) - 1.2 * side) < 1e-3
    assert abs(float(box[1, 2]) - 1.2 * 1.1 * side) < 1e-3
    assert abs(float(box[1, 0] + box[1, 2] / 2) - float(box[0, 0] + box[0, 2] / 2) - 0.05 * side) < 1e-3


def test_motion_and_defocus():
    cam = CameraConfig()
    c = identity_conditions(2, lateral_m=2.0, speed_mps=[0.0, 20.0], exposure_s=0.01, distance_m=[10.0, 5.0])
    m = geo.image_motion_px(c, cam, 0.75)
    assert float(m[0].abs().max()) == 0.0
    assert float(m[1, 0]) > 0  # a sign on the right moves right as the car approaches
    s = geo.defocus_sigma_px(c, cam)
    assert float(s[1]) > float(s[0]) >= 0  # further from the 20 m focus: more blur
