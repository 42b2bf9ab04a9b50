import math

import numpy as np
import pytest
import torch

from patchsim.errors import PatchsimError
from patchsim.io.images import write_png
from patchsim.signs import SIGNS, draw_face, face_from_photo, face_from_rgba, get_sign, shape_mask, sticker_mask

from conftest import SHARED, needs_shared

GTSRB = {"stop": 14, "yield": 13, "no_entry": 17, "priority_road": 12, "speed_limit_30": 1,
         "speed_limit_50": 2, "speed_limit_80": 5}


def test_catalogue_ids_match_gtsrb_classes():
    assert set(GTSRB) <= set(SIGNS)
    for name, i in GTSRB.items():
        assert SIGNS[name].gtsrb_id == i
    classes = SHARED / "gtsrb" / "classes.txt"
    if classes.exists():
        names = classes.read_text().split()
        for name, spec in SIGNS.items():
            assert spec.gtsrb_id is None or names[spec.gtsrb_id] == name


@pytest.mark.parametrize("name", sorted(SIGNS))
@pytest.mark.parametrize("n", [32, 200])
def test_face_shape_range_and_area(name, n):
    f = draw_face(name, n)
    assert f.shape == (4, n, n) and f.dtype == torch.float32
    assert 0 <= float(f.min()) and float(f.max()) <= 1
    area = float(f[3].mean())
    expected = {"stop": 2 * (math.sqrt(2) - 1), "no_entry": math.pi / 4, "speed_limit_30": math.pi / 4,
                "speed_limit_50": math.pi / 4, "speed_limit_80": math.pi / 4, "priority_road": 0.5,
                "yield": math.sqrt(3) / 4, "plain_board": 1.0}[name]
    assert abs(area - expected) < 0.03 + 2.0 / n


def test_faces_are_antialiased():
    a = shape_mask("stop", 128)[0]
    partial = ((a > 0.05) & (a < 0.95)).sum()
    assert partial > 50  # edge pixels with fractional coverage


def test_unknown_sign_lists_names():
    with pytest.raises(PatchsimError, match="known signs: .*speed_limit_80.*stop"):
        get_sign("stopp")


def test_sticker_mask_from_regions(driveby_scene):
    m = sticker_mask(driveby_scene, 750)  # 1 mm per pixel
    assert m.shape == (1, 750, 750)
    # one 260 x 260 mm square over the centre of the legend: 67600 mm^2, 14.5% of the octagon
    assert abs(float(m.sum()) - 260 * 260) / (260 * 260) < 0.01
    assert float(m[0, 375, 375]) == 1.0 and float(m[0, 240, 375]) == 0.0 and float(m[0, 375, 510]) == 0.0
    assert float(m.sum()) / float(shape_mask("stop", 750).sum()) <= 0.15


def test_face_from_rgba_and_photo_roundtrip(tmp_path):
    face = draw_face("stop", 128)
    write_png(tmp_path / "face.png", face)
    back = face_from_rgba(tmp_path / "face.png", "stop", 128)
    assert (back - face).abs().max() < 2 / 255
    # a synthetic photo: the face pasted at a known square; rectification recovers it
    photo = np.zeros((300, 400, 3), np.uint8)
    rgb = (face[:3] * face[3:] * 255).round().byte().permute(1, 2, 0).numpy()
    photo[50:178, 100:228] = rgb
    corners = [[99.5, 49.5], [227.5, 49.5], [227.5, 177.5], [99.5, 177.5]]
    rect = face_from_photo(photo, corners, "stop", 128)
    inner = (face[3] > 0.99)
    assert (rect[:3, inner] - (face[:3] * face[3:])[:, inner]).abs().mean() < 0.02


def test_face_from_photo_errors(tmp_path):
    with pytest.raises(PatchsimError, match="not found"):
        face_from_photo(tmp_path / "none.jpg", [[0, 0]] * 4, "stop")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(PatchsimError, match="cannot decode"):
        face_from_photo(bad, [[0, 0], [1, 0], [1, 1], [0, 1]], "stop")
    with pytest.raises(PatchsimError, match="4 finite"):
        face_from_photo(np.zeros((10, 10, 3), np.uint8), [[0, 0]] * 3, "stop")


@needs_shared("rp2", "photos", "uw17_stop_2484.jpg")
def test_real_photo_texture():
    n = 2484 - 1
    f = face_from_photo(SHARED / "rp2" / "photos" / "uw17_stop_2484.jpg",
                        [[-0.5, -0.5], [n + 0.5, -0.5], [n + 0.5, n + 0.5], [-0.5, n + 0.5]], "stop", 128)
    inside = f[3] > 0.99
    r, g, b = (f[c][inside].mean() for c in range(3))
    assert r > g + 0.2 and r > b + 0.2  # a red sign


def _white(face: torch.Tensor) -> np.ndarray:
    return (face[:3].min(0).values > 0.55).numpy()


def _inside_border(n: int) -> np.ndarray:
    from patchsim.signs.raster import octagon, polygon_mask
    return polygon_mask([octagon(inset=0.06)], n) > 0.5


def test_stop_legend_has_mutcd_proportions():
    # MUTCD R1-1: 10 in Series C letters on a 30 in sign -> cap height 1/3 of the face, legend ~0.84 wide
    n = 600
    f = draw_face("stop", n)
    ys, xs = np.nonzero(_white(f) & _inside_border(n))
    assert abs((ys.max() - ys.min() + 1) / n - 0.335) < 0.01
    assert abs((xs.max() - xs.min() + 1) / n - 0.84) < 0.02
    assert abs((ys.max() + ys.min() + 1) / 2 / n - 0.5) < 0.01 and abs((xs.max() + xs.min() + 1) / 2 / n - 0.5) < 0.01
    # four letters separated by red gaps along the legend's centre line
    row = _white(f)[n // 2 - 2, int(0.06 * n):int(0.94 * n)].astype(int)
    assert (np.diff(row) == 1).sum() >= 4


def test_unknown_legend_letter_is_an_error():
    from patchsim.signs.legend import letter_strokes
    with pytest.raises(ValueError, match="no stroke drawing for letter 'X'"):
        letter_strokes("X", 0.2, 0.3, 0.04)


@needs_shared("rp2", "photos", "uw17_stop_2484.jpg")
def test_stop_legend_matches_a_real_sign():
    # the procedural legend overlaps the real sign's legend (rectified photo): IoU of the white pixels
    # in the legend band; the earlier generic-font legend scored 0.21 here
    n = 400
    photo = face_from_photo(SHARED / "rp2" / "photos" / "uw17_stop_2484.jpg",
                            [[0, 0], [2483, 0], [2483, 2483], [0, 2483]], "stop", n)
    band = (slice(int(0.25 * n), int(0.75 * n)), slice(int(0.06 * n), int(0.94 * n)))
    a, b = _white(photo)[band], _white(draw_face("stop", n))[band]
    assert (a & b).sum() / (a | b).sum() > 0.6
