import cv2
import numpy as np

from patchsim.printing.chart import ARUCO_DICT, detect_markers
from patchsim.realphoto.find_sign import corners_from_markers, locate
from patchsim.realphoto.locator import LocatorLayout, draw_locator_sheet, marker_squares_mm


def _photo_of_markers(h_img_from_mm: np.ndarray, side_mm: float, marker_mm: float, size=(1000, 760)) -> np.ndarray:
    """A white photo with the four locator markers stuck around a face square, seen through the
    homography ``h_img_from_mm`` (face-square millimetres -> pixels)."""
    photo = np.full((size[1], size[0], 3), 255, np.uint8)
    d = cv2.aruco.getPredefinedDictionary(ARUCO_DICT)
    px = 240  # marker texture resolution
    for mid, quad in marker_squares_mm(side_mm, marker_mm).items():
        tex = cv2.aruco.generateImageMarker(d, mid, px)
        src = np.array([[-0.5, -0.5], [px - 0.5, -0.5], [px - 0.5, px - 0.5], [-0.5, px - 0.5]], np.float32)
        h_mm_from_tex = cv2.getPerspectiveTransform(src, quad.astype(np.float32))
        h = h_img_from_mm @ h_mm_from_tex
        warped = cv2.warpPerspective(tex, h, size, flags=cv2.INTER_AREA, borderValue=255)
        cover = cv2.warpPerspective(np.full_like(tex, 255), h, size, flags=cv2.INTER_LINEAR, borderValue=0)
        a = cover[..., None].astype(np.float32) / 255
        photo = (photo * (1 - a) + warped[..., None] * a).round().astype(np.uint8)
    return photo


def test_locator_markers_give_the_face_square_under_perspective():
    side = 750.0
    square = np.array([[0, 0], [side, 0], [side, side], [0, side]], np.float32)
    base = np.array([[330, 200], [690, 230], [680, 560], [320, 580]], np.float32)  # a yawed, pitched sign
    rng = np.random.default_rng(0)
    errors = []
    for _ in range(8):
        truth = base + rng.uniform(-30, 30, (4, 2)).astype(np.float32)
        photo = _photo_of_markers(cv2.getPerspectiveTransform(square, truth), side, LocatorLayout().marker_mm)
        corners, how = locate(photo, "stop", "frame")
        assert how == "markers"
        errors.append(np.abs(corners - truth).max())
    # markers ~40 px across: sub-pixel corners, within 2 px at worst
    assert max(errors) < 2.0 and np.mean(errors) < 1.0
    photo[:, :300] = 255  # three markers are not enough: no guess
    assert corners_from_markers(photo) is None


def test_printed_locator_sheet_holds_markers_10_to_13_at_true_size():
    layout = LocatorLayout()
    ppm = 2.0
    sheet = draw_locator_sheet(ppm, layout)
    assert sheet.shape[:2] == (round(layout.size_mm[1] * ppm), round(layout.size_mm[0] * ppm))
    page = np.pad(sheet, ((40, 40), (40, 40), (0, 0)), constant_values=255)  # the sheet on white paper
    found = detect_markers(page)
    assert sorted(found) == [10, 11, 12, 13]
    for quad in found.values():
        sides = np.linalg.norm(np.roll(quad, -1, 0) - quad, axis=1)
        assert np.abs(sides - layout.marker_mm * ppm).max() < 2.0
