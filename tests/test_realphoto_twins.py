"""Condition-matched twins: the pose read off four corners, the JPEG quality of a file, the neutral
render, the agreement figures on a sequence whose answer is known, and the attack report's bands."""

import dataclasses

import numpy as np
import pytest

from patchsim.realphoto.twins import (TwinPose, TwinRenderer, fit_pose, jpeg_quality_of, photo_camera, photo_hfov_deg,
                                  twin_conditions)


@pytest.mark.parametrize("pose", [(12.0, 1.5, 0.8, 25.0, -10.0, 5.0), (4.0, -0.6, 0.2, -35.0, 12.0, -3.0),
                                  (30.0, 3.0, 1.0, 0.0, 0.0, 0.0)])
def test_pose_from_corners_matches_the_pinhole_model(driveby_scene, pose):
    """Corners projected by the renderer's own camera from a known pose give that pose back."""
    from patchsim.render.geometry import project_corners

    cam = photo_camera(driveby_scene.camera, 1000, 800, 55.0)
    p = TwinPose(*pose, 55.0, 1000, 800, 0.0, 0.0, 100)
    corners = project_corners(twin_conditions(p), cam, 0.75)[0].numpy()
    got, rms = fit_pose(corners, cam, 0.75)
    assert rms < 0.05
    assert np.allclose([got[k] for k in ("distance_m", "lateral_m", "vertical_m")], pose[:3], rtol=1e-3, atol=1e-3)
    if pose[0] < 20:  # near enough that perspective decides the signs of yaw and pitch
        assert np.allclose([got[k] for k in ("yaw_deg", "pitch_deg", "roll_deg")], pose[3:], atol=0.1)


def test_jpeg_quality_and_fov_from_the_file(tmp_path):
    from PIL import Image

    img = Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8))
    for q in (40, 75, 95):
        img.save(tmp_path / f"q{q}.jpg", quality=q)
        assert abs(jpeg_quality_of(str(tmp_path / f"q{q}.jpg")) - q) <= 1
    img.save(tmp_path / "a.png")
    assert jpeg_quality_of(str(tmp_path / "a.png")) == 100
    assert photo_hfov_deg(str(tmp_path / "a.png"), 61.0) == 61.0  # no EXIF: the stated default
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 26  # a phone's 26 mm equivalent: about 69 deg across
    img.save(tmp_path / "e.jpg", exif=exif)
    assert abs(photo_hfov_deg(str(tmp_path / "e.jpg")) - 69.4) < 0.5


def test_neutral_twin_shows_the_design_colours_and_the_sticker(driveby_scene):
    """Face-on at 10 m with neutral conditions the twin's red is the catalogue red; a grey sticker over
    the whole face turns the face grey."""
    from patchsim.realphoto.relight import identity
    from patchsim.signs.catalogue import RED

    pose = TwinPose(10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 60.0, 1280, 720, 0.0, 0.0, 100)
    st = np.zeros((64, 64, 4), np.uint8)
    st[...] = (128, 128, 128, 255)
    out = TwinRenderer(driveby_scene, st, 64).render(pose, identity())
    assert np.abs(out["clean"][32, 20].astype(int) - RED).max() <= 2
    assert np.abs(out["attacked"][32, 20].astype(int) - 128).max() <= 3


def test_twin_agreement_and_confusion_on_a_known_sequence():
    from patchsim.evaluate.twins import TwinRecord, summarise_twins

    def rec(side, tc, pc, t, p):
        pose = TwinPose(5.0, 0.0, 0.0, 0.0, 0.0, 0.0, 60.0, 640, 480, 0.1, 0.5, 90)
        return TwinRecord("x", "physical", side, pose, "stop", pc, "stop", tc, "y", p, "y", t)

    rows = [rec(20, False, False, True, True), rec(40, False, False, True, False), rec(40, True, False, False, False),
            rec(300, False, False, False, True)]
    s = summarise_twins(rows)
    assert s["agreement_clean"] == 0.75 and s["agreement_attacked"] == 0.5
    assert s["confusion_attacked"] == {"both_fooled": 1, "twin_only": 1, "photo_only": 1, "neither": 1}
    by = {b["px_from"]: b for b in s["by_size"]}
    assert by[32]["signs"] == 2 and by[32]["twin_success"] == 0.5 and by[32]["photo_success"] == 0.0
    assert by[256]["photo_success"] == 1.0


def test_attack_report_shows_the_band(tmp_path, driveby_scene):
    from attack_records import attack_record

    from patchsim.evaluate.records import PhotoSetScore, SimToReal
    from patchsim.jobs.attack_report import write_attack_report

    t = SimToReal(0.8, "driveby", 0.9, {"rp2": PhotoSetScore(signs=40, skipped=0, clean_correct=40, raw=0.9, relit=0.7,
                                                             relit_worst=0.55, relit_best=0.8, relit_worst_model="tone",
                                                             relit_models=("none", "tone")),
                                        "street:asadi": PhotoSetScore(missing="no data")}, "note")
    rec = dataclasses.replace(attack_record(driveby_scene, target="speed_limit_80"), sim_to_real=t)
    page = write_attack_report(tmp_path, rec).read_text()
    assert "55.0% (tone) / 70.0% / 80.0%" in page and "worst plausible case" in page and "no data" in page
    assert 'href="attack.json"' in page
