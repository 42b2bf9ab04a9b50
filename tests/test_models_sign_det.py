"""The shipped sign-det: it finds stop signs in simulated frames and in real street photos it never
trained on; the photo scorer leaves detections unchanged by an invisible sticker."""

import numpy as np
import pytest
import torch

from conftest import needs_shared, SHARED
from patchsim.simulator.camera_sim import CameraSimulator
from patchsim.evaluate.detection import sign_box_xyxy
from patchsim.evaluate.runner import condition_rows, sticker_face
from patchsim.models.detectors import box_iou, detector_card, load_detector


@pytest.fixture(scope="module")
def sign_det():
    return load_detector("sign-det")


def test_card_and_threshold(sign_det):
    card = detector_card("sign-det")
    assert card["classes"] == sign_det.classes and sign_det.score_threshold == card["score_threshold"]
    assert set(card["street"]) == {"asadi", "praveen"}


def test_finds_the_simulated_stop_sign(driveby_scene, sign_det):
    from patchsim.render import sample_driveby

    sim = CameraSimulator(driveby_scene, sticker_face(driveby_scene, None, 512))
    seq = sample_driveby(driveby_scene, torch.Generator().manual_seed(0))
    pick = [int((seq.distance_m - d).abs().argmin()) for d in (38.0, 25.0, 15.0, 8.0)]
    frames = [sim.render(row) for row in condition_rows(seq[torch.tensor(pick)])]
    for f, dets in zip(frames, sign_det.detect_images([f.image for f in frames])):
        stops = [d for d in dets if d.label == "stop"]
        assert stops, "the stop sign is detected"
        iou = box_iou(torch.tensor([stops[0].box]), sign_box_xyxy(f.corners)[None])[0, 0]
        assert iou >= 0.5
    # a frame without a sign (the background alone) holds no stop detection
    bg = (np.clip(sim.background(0), 0, 1) ** (1 / 2.2) * 255).astype(np.uint8)
    assert not [d for d in sign_det.detect_images([bg])[0] if d.label == "stop"]


@needs_shared("street", "asadi", "boxes.json")
def test_real_street_photos_it_never_trained_on(sign_det):
    from patchsim.models.detectors.street import score_stop_detection, street_images

    imgs = street_images(SHARED / "street", "asadi")[:20]
    s = score_stop_detection(sign_det, imgs, (sign_det.score_threshold,))
    at = s["by_threshold"][f"{sign_det.score_threshold:.2f}"]
    assert at["recall"] >= 0.7 and at["false_per_image"] <= 0.5


@needs_shared("rp2", "victims_256")
def test_invisible_sticker_leaves_detections_unchanged(sign_det):
    from patchsim.evaluate.photo_detector import score_detector_photos, summarise_detector_photos
    from patchsim.realphoto.sources import photo_source
    from patchsim.objectives.goals import DetectionGoal

    signs = photo_source("rp2")[:4]
    clear = np.zeros((256, 256, 4), np.uint8)
    goal = DetectionGoal("disappear", sign_det.classes.index("stop"), None, sign_det.score_threshold)
    records, skipped = score_detector_photos(clear, clear, sign_det, goal, signs)
    assert len(records) + len(skipped) == 4 and records
    for r in records:
        assert r.raw_detected == r.clean_detected == r.relit_detected
        assert r.relit_fooled == (not r.clean_detected)
        assert len(r.band_fooled) == len(r.band_models) and r.band_fooled[0] == r.relit_fooled
        assert set(r.band_fooled) == {not r.clean_detected}  # an invisible sticker: every relighting agrees
    s = summarise_detector_photos(records)
    assert s["relit_asr"] in (0.0, None)
    assert s["relit_worst_success"] == s["relit_best_success"] == s["relit_success"]


@needs_shared("rp2", "victims_256")
def test_detector_photo_row_of_the_sim_to_real_table_carries_the_band(sign_det, tmp_path):
    """The sim-to-real table's photo row for a detector: a sticker covering the face scored under every
    validated relighting, the band ordered worst <= default <= best."""
    import shutil

    from patchsim.evaluate.sim_to_real import photo_success
    from patchsim.realphoto.relight_choice import relight_choice
    from patchsim.objectives.goals import DetectionGoal

    folder = tmp_path / "photos"
    folder.mkdir()
    for k in (1, 2, 3):
        shutil.copy(SHARED / "rp2" / "victims_256" / f"{k}.png", folder / f"{k}.png")
    st = np.zeros((256, 256, 4), np.uint8)
    st[40:216, 40:216] = (30, 120, 200, 255)
    goal = DetectionGoal("disappear", sign_det.classes.index("stop"), None, sign_det.score_threshold)
    row = photo_success(str(folder), st, st, sign_det, goal, "stop", 0.1)
    assert row.missing is None and row.signs == 3 and row.relit_models == relight_choice()[1]
    assert row.relit_worst <= row.relit <= row.relit_best
