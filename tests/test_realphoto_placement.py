"""Real-photo placement: octagon pose with perspective, sticker warping, relighting, photo sources."""

import json

import cv2
import numpy as np
import pytest

from patchsim.errors import PatchsimError
from patchsim.realphoto.octagon import FACE_CORNERS_UV, apply_homography, fit_stop_octagon, homography_from_corners
from patchsim.realphoto.placement import FacePyramid, SignLight, estimate_light, place_sticker, sign_region, warp_face
from patchsim.realphoto.relight import fit_relight, identity
from patchsim.realphoto.sources import photo_source
from patchsim.signs import draw_face_array
from patchsim.records import from_data, json_bytes

from conftest import needs_shared


def perspective_photo(corners, size=(480, 360), face_px=512, background=(90, 120, 80)):
    """A synthetic photo: the drawn stop face warped so its bounding square lands on ``corners``."""
    face = draw_face_array("stop", face_px).astype(np.float32) / 255
    n = face_px
    src = np.array([[-0.5, -0.5], [n - 0.5, -0.5], [n - 0.5, n - 0.5], [-0.5, n - 0.5]], np.float32)
    h = cv2.getPerspectiveTransform(src, np.asarray(corners, np.float32))
    premul = np.concatenate([face[..., :3] * face[..., 3:], face[..., 3:]], 2)
    w = cv2.warpPerspective(premul, h, size, flags=cv2.INTER_LINEAR)
    bg = np.full((size[1], size[0], 3), np.array(background, np.float32) / 255)
    img = w[..., :3] + bg * (1 - w[..., 3:])
    return (img * 255 + 0.5).astype(np.uint8)


PERSPECTIVE = [[112.0, 60.0], [318.0, 84.0], [322.0, 290.0], [104.0, 302.0]]  # yawed and slightly rolled


def test_octagon_corners_recovered_with_perspective():
    photo = perspective_photo(PERSPECTIVE)
    fit = fit_stop_octagon(photo)
    assert fit is not None
    err = np.abs(fit.corners - np.array(PERSPECTIVE)).max()
    assert err < 2.0, err
    # an axis-aligned square cannot do this: the true quad is not a square
    assert np.abs(np.diff(np.array(PERSPECTIVE)[[0, 3], 1])) > 200


def test_octagon_fit_finds_nothing_without_a_sign():
    img = np.full((240, 320, 3), (60, 140, 60), np.uint8)
    img[50:100, 50:250] = (200, 30, 30)
    assert fit_stop_octagon(img) is None


def test_sticker_lands_where_it_belongs():
    """A white square at known face uv placed by known corners: its centroid and edges in the photo
    are within 1 px of the homography's prediction."""
    n = 400
    st = np.zeros((n, n, 4), np.uint8)
    st[120:200, 160:280] = (255, 255, 255, 255)  # uv x 0.4-0.7, y 0.3-0.5
    photo = np.zeros((360, 480, 3), np.uint8)
    h = homography_from_corners(np.array(PERSPECTIVE))
    out = place_sticker(photo, h, FacePyramid(st), SignLight(identity(), 0.0))
    m = out[..., 0].astype(np.float64) / 255
    ys, xs = np.mgrid[0:m.shape[0], 0:m.shape[1]]
    centroid = np.array([(m * xs).sum(), (m * ys).sum()]) / m.sum()
    quad = apply_homography(h, np.array([[0.4, 0.3], [0.7, 0.3], [0.7, 0.5], [0.4, 0.5]]))
    # centroid of the projected quad (area-weighted, a perspective quad's centroid is not its vertex mean)
    q = np.vstack([quad, quad[:1]])
    cross = q[:-1, 0] * q[1:, 1] - q[1:, 0] * q[:-1, 1]
    area = cross.sum() / 2
    want = np.array([((q[:-1, 0] + q[1:, 0]) * cross).sum(), ((q[:-1, 1] + q[1:, 1]) * cross).sum()]) / (6 * area)
    assert np.abs(centroid - want).max() < 1.0
    assert abs(m.sum() - abs(area)) < 0.02 * abs(area)
    # the left edge at the quad's middle row
    row = int(round(want[1]))
    left = np.flatnonzero(m[row] > 0.5)[0]
    x_edge = quad[0, 0] + (quad[3, 0] - quad[0, 0]) * (row - quad[0, 1]) / (quad[3, 1] - quad[0, 1])
    assert abs(left - x_edge) < 1.0


def test_pasting_nothing_changes_nothing():
    photo = perspective_photo(PERSPECTIVE)
    empty = np.zeros((64, 64, 4), np.uint8)
    out = place_sticker(photo, homography_from_corners(np.array(PERSPECTIVE)), FacePyramid(empty))
    assert np.array_equal(out, photo)


@pytest.mark.parametrize("method", ["affine", "percentile"])
def test_relight_recovers_known_gain_and_offset(method):
    rng = np.random.default_rng(0)
    ref = rng.random((4000, 3))
    gain, offset = np.array([0.7, 0.9, 0.55]), np.array([0.05, 0.02, 0.12])
    fit = fit_relight(ref, ref * gain + offset, method)
    assert np.allclose(fit.gain, gain, atol=0.02) and np.allclose(fit.offset, offset, atol=0.02)
    assert np.allclose(fit(np.array([0.2, 0.5, 0.9])), np.array([0.2, 0.5, 0.9]) * gain + offset, atol=0.02)


def test_tone_relight_recovers_shared_curve_and_gains():
    rng = np.random.default_rng(1)
    ref = rng.random((3000, 3))
    obs = 0.04 + np.array([0.8, 0.7, 0.6]) * ref**1.5
    fit = fit_relight(ref, obs, "tone")
    x = np.linspace(0, 1, 11)[:, None].repeat(3, 1)
    assert np.abs(fit(x) - (0.04 + np.array([0.8, 0.7, 0.6]) * x**1.5)).max() < 0.01
    assert fit.rmse < 0.01


def test_relight_errors():
    with pytest.raises(PatchsimError, match="unknown"):
        fit_relight(np.zeros((50, 3)), np.zeros((50, 3)), "magic")
    with pytest.raises(PatchsimError, match="at least"):
        fit_relight(np.zeros((5, 3)), np.zeros((5, 3)))


def test_estimate_light_finds_applied_light_and_blur():
    """A photo of the drawn face, darkened and tinted by a known affine map and blurred: the fitted
    map reproduces the map and the blur is found within one candidate step."""
    corners = np.array(PERSPECTIVE)
    photo = perspective_photo(corners).astype(np.float32) / 255
    gain, offset = np.array([0.6, 0.7, 0.8]), np.array([0.1, 0.05, 0.02])
    photo = cv2.GaussianBlur(photo * gain + offset, (0, 0), 1.6)
    photo = (photo * 255 + 0.5).astype(np.uint8)
    h = homography_from_corners(corners)
    region = sign_region(h, photo.shape[:2])
    ref = warp_face(FacePyramid(draw_face_array("stop", 512)), h, region)
    x0, y0, x1, y1 = region
    light = estimate_light(photo[y0:y1, x0:x1], ref, None, "affine")
    assert 1.2 <= light.blur_px <= 2.2
    probe = np.array([[0.1, 0.2, 0.3], [0.9, 0.8, 0.7]])
    assert np.abs(light.relight(probe) - (probe * gain + offset)).max() < 0.04


def test_folder_source_with_corners(tmp_path):
    photo = perspective_photo(PERSPECTIVE)
    cv2.imwrite(str(tmp_path / "a.png"), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(tmp_path / "b.png"), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    (tmp_path / "corners.json").write_text(json.dumps({"a.png": PERSPECTIVE}))
    signs = photo_source(str(tmp_path))
    assert [s.name for s in signs] == ["a.png", "b.png"]
    assert signs[0].corners is not None and signs[1].corners is None
    (tmp_path / "corners.json").write_text(json.dumps({"zzz.png": PERSPECTIVE}))
    with pytest.raises(PatchsimError, match="zzz.png"):
        photo_source(str(tmp_path))


def test_unknown_sources():
    with pytest.raises(PatchsimError, match="street:asadi"):
        photo_source("street:nowhere")
    with pytest.raises(PatchsimError, match="not a folder"):
        photo_source("/nonexistent/photos")


@needs_shared("street", "praveen", "boxes.json")
def test_attacker_and_scoring_photos_never_overlap():
    scoring = {s.path for s in photo_source("street:praveen")}
    attacker = {s.path for s in photo_source("street:praveen-train")}
    assert scoring and attacker and not scoring & attacker
    assert all(s.role == "attacker" for s in photo_source("street:praveen-train"))


@needs_shared("rp2", "victims_256")
def test_rp2_victims_fitted_with_perspective():
    from patchsim.io.images import read_image

    signs = photo_source("rp2")
    assert len(signs) == 40
    fits = [fit_stop_octagon(read_image(s.path)) for s in signs]
    assert sum(f is not None for f in fits) >= 38
    # each fitted face square frames the 256-px crop's sign: corners near the image borders
    for f in fits:
        if f is not None:
            assert np.abs(f.corners.mean(0) - 127.5).max() < 20


def test_evaluate_photos_command_on_a_folder(tmp_path, capsys):
    """End to end on two synthetic photos: one located by annotated corners, one by the octagon; a
    sticker that covers the whole face with grey cannot leave the sign read as stop when raw."""
    from patchsim.cli import main
    from patchsim.io.images import write_png

    folder = tmp_path / "photos"
    folder.mkdir()
    write_png(folder / "a.png", perspective_photo(PERSPECTIVE))
    write_png(folder / "b.png", perspective_photo([[140, 70], [330, 70], [330, 260], [140, 260]]))
    (folder / "corners.json").write_text(json.dumps({"a.png": PERSPECTIVE}))
    st = np.zeros((300, 300, 4), np.uint8)
    st[...] = (128, 128, 128, 255)
    write_png(tmp_path / "sticker.png", st)
    out = tmp_path / "out"
    assert main(["evaluate-photos", str(folder), "--sticker", str(tmp_path / "sticker.png"), "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["metrics"]["signs"] == 2 and m["located_by"] == {"annotation": 1, "octagon": 1}
    assert m["metrics"]["clean_fooled"] == 0  # untargeted: the clean drawn sign reads as stop
    rows = (out / "photos.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("source,name,role,located_by")
    assert (out / "contact_sheet.png").stat().st_size > 0 and b"REAP" in (out / "report.html").read_bytes()
    # the relit figure is a band over the validated relighting models; the worst is named as the headline
    from patchsim.realphoto.relight_choice import relight_choice

    met = m["metrics"]
    assert met["relit_models"] == list(relight_choice()[1]) and m["relight"] == relight_choice()[0]
    by = {k: v["success"] for k, v in met["relit_by_model"].items()}
    assert met["relit_worst_success"] == min(by.values()) and met["relit_best_success"] == max(by.values())
    assert met["relit_default_success"] == met["relit_success"] == by[relight_choice()[0]]
    assert b"worst plausible case" in (out / "report.html").read_bytes()
    # one named model: no band beyond it
    assert main(["evaluate-photos", str(folder), "--relight", "affine", "--sticker", str(tmp_path / "sticker.png"),
                 "--out", str(tmp_path / "o1")]) == 0
    assert json.loads((tmp_path / "o1" / "metrics.json").read_text())["metrics"]["relit_models"] == ["affine"]
    assert main(["evaluate-photos", str(folder), "--untargeted", "--target", "yield", "--sticker",
                 str(tmp_path / "sticker.png"), "--out", str(tmp_path / "o5")]) == 2  # one goal or the other
    # bad input: one line naming the option, before any work
    assert main(["evaluate-photos", str(folder), "--relight", "magic", "--sticker", str(tmp_path / "sticker.png"),
                 "--out", str(tmp_path / "o2")]) == 2
    assert "--relight 'magic'" in capsys.readouterr().err
    assert main(["evaluate-photos", "street:nowhere", "--out", str(tmp_path / "o3")]) == 2
    assert main(["evaluate-photos", str(folder), "--printer", "laser", "--out", str(tmp_path / "o4")]) == 2


def test_photo_record_round_trips():
    from patchsim.evaluate.photos import PhotoRecord

    r = PhotoRecord("rp2", "1.png", "scoring", "octagon", 240.0, (0.0,) * 8, 1.2, "tone", (0.8, 0.8, 0.8),
                    (0.05, 0.05, 0.05), 0.1, "stop", 0.9, False, "speed_limit_80", 0.6, True, "stop", 0.5, False)
    assert from_data(PhotoRecord, json.loads(json_bytes(r))) == r
    with pytest.raises(PatchsimError, match="missing key"):
        from_data(PhotoRecord, {"source": "x"})
