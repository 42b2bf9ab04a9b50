"""Pinhole geometry: sign pose -> homographies, projected corners, visibility, image motion, defocus.

Frames: camera x right, y down, z forward (OpenCV). Sign frame: origin at the face centre, x right and
y down along the face, z into the sign; with yaw = pitch = roll = 0 the sign faces the camera squarely.
Face coordinates (u, v) in [0, 1]: (0, 0) is the top-left corner of the face's bounding square, (1, 1)
the bottom-right. Pixel coordinates have pixel centres at integers: pixel (0, 0) covers [-0.5, 0.5]^2.
All matrices are float32 ``(B, 3, 3)`` unless noted."""

from __future__ import annotations

import math

import torch
from kornia.geometry.linalg import transform_points

from patchsim.render.conditions import Conditions
from patchsim.scene import CameraConfig

NEAR_M = 0.05  # a corner closer than this in front of the camera counts as behind it

# face-square corners in (u, v), order top-left, top-right, bottom-right, bottom-left
FACE_CORNERS_UV = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])


def intrinsics(camera: CameraConfig, batch: int = 1) -> torch.Tensor:
    """Camera matrix ``K`` ``(batch, 3, 3)``: focal length in pixels from the horizontal field of view,
    principal point at the image centre ((W - 1) / 2, (H - 1) / 2)."""
    f = camera.focal_px
    k = torch.tensor([[f, 0.0, (camera.width - 1) / 2], [0.0, f, (camera.height - 1) / 2], [0.0, 0.0, 1.0]])
    return k.expand(batch, 3, 3).clone()


def cam_from_sign_rotation(yaw_deg: torch.Tensor, pitch_deg: torch.Tensor, roll_deg: torch.Tensor) -> torch.Tensor:
    """Rotation ``R = Ry(yaw) Rx(pitch) Rz(roll)`` ``(B, 3, 3)`` taking sign-frame vectors to the camera
    frame. Angles ``(B,)`` in degrees; positive yaw turns the sign's right edge away from the camera."""
    y, p, r = (torch.deg2rad(a) for a in (yaw_deg, pitch_deg, roll_deg))
    one, zero = torch.ones_like(y), torch.zeros_like(y)

    def mat(rows):
        return torch.stack([torch.stack(row, -1) for row in rows], -2)

    ry = mat([[torch.cos(y), zero, torch.sin(y)], [zero, one, zero], [-torch.sin(y), zero, torch.cos(y)]])
    rx = mat([[one, zero, zero], [zero, torch.cos(p), -torch.sin(p)], [zero, torch.sin(p), torch.cos(p)]])
    rz = mat([[torch.cos(r), -torch.sin(r), zero], [torch.sin(r), torch.cos(r), zero], [zero, zero, one]])
    return ry @ rx @ rz


def sign_translation(cond: Conditions) -> torch.Tensor:
    """Sign centre in the camera frame ``(B, 3)`` metres: (lateral, -vertical, distance)."""
    return torch.stack([cond.lateral_m, -cond.vertical_m, cond.distance_m], -1)


def sign_from_face(size_m: float, batch: int = 1) -> torch.Tensor:
    """Face (u, v) in [0, 1] -> sign-plane metres (x, y), origin at the face centre."""
    m = torch.tensor([[size_m, 0.0, -size_m / 2], [0.0, size_m, -size_m / 2], [0.0, 0.0, 1.0]])
    return m.expand(batch, 3, 3).clone()


def img_from_face(cond: Conditions, camera: CameraConfig, size_m: float) -> torch.Tensor:
    """Homography from face (u, v) to image pixels: ``K [r1 r2 t] sign_from_face``."""
    b = len(cond)
    rot = cam_from_sign_rotation(cond.yaw_deg, cond.pitch_deg, cond.roll_deg)
    plane = torch.stack([rot[:, :, 0], rot[:, :, 1], sign_translation(cond)], -1)
    k = intrinsics(camera, b).to(plane)
    return k @ plane @ sign_from_face(size_m, b).to(plane)


def face_points_in_camera(cond: Conditions, size_m: float, uv: torch.Tensor) -> torch.Tensor:
    """3-D camera-frame positions ``(B, N, 3)`` (m) of face points ``uv`` ``(N, 2)``."""
    rot = cam_from_sign_rotation(cond.yaw_deg, cond.pitch_deg, cond.roll_deg)
    xy = (uv.to(rot) - 0.5) * size_m
    pts = torch.cat([xy, torch.zeros_like(xy[:, :1])], -1)
    return pts[None] @ rot.transpose(1, 2) + sign_translation(cond)[:, None]


def project_corners(cond: Conditions, camera: CameraConfig, size_m: float) -> torch.Tensor:
    """Pixel positions ``(B, 4, 2)`` of the face's bounding-square corners (TL, TR, BR, BL)."""
    h = img_from_face(cond, camera, size_m)
    return transform_points(h, FACE_CORNERS_UV.to(h).expand(len(cond), 4, 2))


def visibility(cond: Conditions, camera: CameraConfig, size_m: float) -> dict[int, str]:
    """Frames where the sign cannot be rendered: ``{index: reason}`` with reason ``"behind the camera"``
    (a corner closer than 5 cm or behind) or ``"wholly outside the frame"``. Empty if all visible."""
    pts = face_points_in_camera(cond, size_m, FACE_CORNERS_UV)
    behind = (pts[..., 2] < NEAR_M).any(1)
    corners = project_corners(cond, camera, size_m)
    lo, hi = corners.min(1).values, corners.max(1).values
    outside = (hi[:, 0] < -0.5) | (lo[:, 0] > camera.width - 0.5) | (hi[:, 1] < -0.5) | (lo[:, 1] > camera.height - 0.5)
    out = {}
    for i in range(len(cond)):
        if behind[i]:
            out[i] = f"behind the camera (nearest corner at z = {float(pts[i, :, 2].min()):.2f} m)"
        elif outside[i]:
            out[i] = "wholly outside the frame"
    return out


def image_motion_px(cond: Conditions, camera: CameraConfig, size_m: float) -> torch.Tensor:
    """Image displacement ``(B, 2)`` in pixels of the sign centre during the exposure, the camera moving
    forward at ``speed_mps`` for ``exposure_s``."""
    centre = torch.tensor([[0.5, 0.5]], device=cond.distance_m.device)
    moved = cond.replace(distance_m=cond.distance_m - cond.speed_mps * cond.exposure_s)
    a = transform_points(img_from_face(cond, camera, size_m), centre.expand(len(cond), 1, 2))
    b = transform_points(img_from_face(moved, camera, size_m), centre.expand(len(cond), 1, 2))
    return (b - a)[:, 0]


def defocus_sigma_px(cond: Conditions, camera: CameraConfig) -> torch.Tensor:
    """Gaussian blur sigma ``(B,)`` in frame pixels: half the thin-lens circle of confusion
    ``f_px * D * |1/d - 1/d_focus|`` (D aperture diameter in m), plus the sampled extra ``defocus_px``."""
    coc = camera.focal_px * camera.aperture_mm * 1e-3 * (1.0 / cond.distance_m - 1.0 / camera.focus_m).abs()
    return torch.sqrt((0.5 * coc) ** 2 + cond.defocus_px**2)


def detector_box(corners: torch.Tensor, cond: Conditions, margin: float) -> torch.Tensor:
    """Square crop box ``(B, 4)`` = (left, top, side, side) in frame pixels (edge coordinates) around the
    projected corners ``(B, 4, 2)``, grown by ``margin`` per side and moved by the frame's jitter, as a
    detector would return it."""
    lo, hi = corners.min(1).values, corners.max(1).values
    wh = hi - lo
    side = wh.max(1).values * (1 + 2 * margin) * (1 + cond.jitter_scale)
    cx = (lo[:, 0] + hi[:, 0]) / 2 + cond.jitter_x * wh[:, 0]
    cy = (lo[:, 1] + hi[:, 1]) / 2 + cond.jitter_y * wh[:, 1]
    return torch.stack([cx - side / 2, cy - side / 2, side, side], -1)


def img_from_grid(left: torch.Tensor, top: torch.Tensor, pixel: torch.Tensor) -> torch.Tensor:
    """Affine map ``(B, 3, 3)`` from an output grid's pixel indices to frame pixels, for a grid whose
    left/top edges lie at frame coordinates ``left``/``top`` (the full frame: -0.5) with pixel pitch
    ``pixel`` in frame pixels (all ``(B,)``): grid pixel j has its centre at ``left + (j + 0.5) * pixel``."""
    z, o = torch.zeros_like(pixel), torch.ones_like(pixel)
    return torch.stack([
        torch.stack([pixel, z, left + 0.5 * pixel], -1),
        torch.stack([z, pixel, top + 0.5 * pixel], -1),
        torch.stack([z, z, o], -1),
    ], -2)


def vertical_fov_deg(camera: CameraConfig) -> float:
    """Vertical field of view in degrees."""
    return math.degrees(2 * math.atan(0.5 * camera.height / camera.focal_px))
