"""Detection metrics on sequences whose answers are known, and a bring-your-own ultralytics-layout ONNX
detector through ``detect``, ``attack`` and ``evaluate``."""

import json

import numpy as np
import pytest
import torch
import yaml

from patchsim.cli import main
from patchsim.evaluate.detection import (DetectionFrame, DetectionRun, disappearance_rate, judge,
                                         track_confirmation)
from patchsim.models.detectors import Detection
from patchsim.objectives.goals import DetectionGoal

STOP, YIELD = 0, 1
CLASSES = ["stop", "yield"]


def _dets(*items):
    boxes = torch.tensor([i[0] for i in items], dtype=torch.float32).reshape(-1, 4)
    return boxes, torch.tensor([i[1] for i in items], dtype=torch.float32), torch.tensor([i[2] for i in items], dtype=torch.long)


def test_judge_counts_the_sign_its_class_and_hallucinations():
    sign = torch.tensor([10.0, 10, 30, 30])
    goal = DetectionGoal("disappear", STOP, None, 0.3)
    r = judge(_dets(([11, 11, 31, 31], 0.8, STOP), ([100, 100, 120, 120], 0.9, YIELD)), sign, goal, CLASSES)
    assert r == DetectionRun(True, "stop", 0.8, 1, False)
    # below the threshold, or too far off (IoU 0.14), the sign is missed: disappearance
    r = judge(_dets(([11, 11, 31, 31], 0.2, STOP), ([25, 25, 45, 45], 0.9, STOP)), sign, goal, CLASSES)
    assert (r.detected, r.fooled, r.hallucinations) == (False, True, 1)
    mis = DetectionGoal("misclassify", STOP, YIELD, 0.3)
    r = judge(_dets(([10, 10, 30, 30], 0.7, YIELD)), sign, mis, CLASSES)
    assert (r.detected, r.label, r.fooled) == (False, "yield", True)
    assert not judge(_dets(), sign, mis, CLASSES).fooled  # gone but not read as yield: not misclassified
    create = DetectionGoal("create", YIELD, STOP, 0.3)  # a board: the stop the patch makes is what is watched
    r = judge(_dets(([10, 10, 30, 30], 0.7, STOP)), sign, create, CLASSES)
    assert (r.detected, r.fooled) == (True, True) and create.watched == STOP
    assert not judge(_dets(), sign, create, CLASSES).fooled


def test_goal_checks_its_target():
    from patchsim.errors import PatchsimError

    with pytest.raises(PatchsimError, match="needs --target"):
        DetectionGoal("misclassify", STOP)
    with pytest.raises(PatchsimError, match="takes no --target"):
        DetectionGoal("disappear", STOP, YIELD)
    with pytest.raises(PatchsimError, match="must be one of disappear"):
        DetectionGoal("vanish", STOP)


def _seq(hits, box=(10.0, 10, 30, 30)):
    return [[Detection(box, 0.9, "stop")] if h else [] for h in hits]


def test_tracker_confirms_k_of_n_and_remembers():
    assert track_confirmation(_seq([1, 0, 1, 0, 1, 0, 0]), "stop", 3, 5) == 4
    assert track_confirmation(_seq([1, 1, 0, 0, 0, 0, 0, 1, 0]), "stop", 3, 5) is None
    assert track_confirmation(_seq([1, 1, 1]), "stop", 3, 5) == 2
    # detections of another class, or of a sign that jumps around (no overlap), never confirm
    assert track_confirmation([[Detection((10, 10, 30, 30), 0.9, "yield")]] * 5, "stop", 3, 5) is None
    jumping = [[Detection((x, 10.0, x + 20, 30), 0.9, "stop")] for x in (0.0, 100.0, 200.0, 300.0, 400.0)]
    assert track_confirmation(jumping, "stop", 3, 5) is None


def _frame(i, clean, attacked):
    run = lambda d: DetectionRun(d, "stop" if d else None, 0.9 if d else 0.0, 0, not d)  # noqa: E731
    return DetectionFrame(i, 40.0 - i, 0.0, 1.0, (0.0, 0.0, 1.0, 1.0), run(clean), run(attacked))


def test_disappearance_rate_is_reaps():
    recs = [_frame(0, True, False), _frame(1, True, True), _frame(2, False, False), _frame(3, True, False)]
    assert disappearance_rate(recs) == pytest.approx(2 / 3)
    assert disappearance_rate([_frame(0, False, False)]) is None
    row = recs[0].to_row()
    assert row["clean_detected"] == 1 and row["attacked_detected"] == 0 and row["attacked_fooled"] == 1


@pytest.fixture(scope="module")
def yolo_onnx(tmp_path_factory):
    pytest.importorskip("onnx", reason="onnx not installed (test extra)")
    pytest.importorskip("onnxscript", reason="onnxscript not installed (test extra): torch.onnx.export needs it")
    from detector_fixtures import TinyYolo

    d = tmp_path_factory.mktemp("yolo")
    torch.manual_seed(0)
    net = TinyYolo(nc=2).eval()
    with torch.no_grad():  # make the class-0 ("stop") score high everywhere: the clean sign is "detected"
        net.body[-1].bias[4] = 6.0
    torch.onnx.export(net, (torch.rand(1, 3, 96, 160),), str(d / "yolo.onnx"), input_names=["images"],
                      output_names=["output0"], dynamo=True, verbose=False)
    (d / "labels.txt").write_text("stop\nyield\n")
    return d / "yolo.onnx", d / "labels.txt"


def _short_scene(tmp_path):
    from patchsim.scene import load_scene, scene_to_data

    data = scene_to_data(load_scene("stop_driveby"))
    data["driveby"].update({"start_m": 30.0, "end_m": 20.0, "fps": 5.0})  # 1 s at 10 m/s: 6 frames
    p = tmp_path / "short.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_byo_onnx_detector_through_detect_attack_and_evaluate(tmp_path, yolo_onnx, capsys):
    model, labels = yolo_onnx
    img = tmp_path / "imgs"
    img.mkdir()
    import cv2

    cv2.imwrite(str(img / "a.png"), np.full((120, 200, 3), 128, np.uint8))
    assert main(["detect", str(model), str(img), "--labels", str(labels), "--out", str(tmp_path / "det")]) == 0
    from patchsim.jobs.detect import read_detections

    recs = read_detections(tmp_path / "det" / "detections.json")
    assert [r.file for r in recs] == ["a.png"] and recs[0].detections
    assert all(d.label in ("stop", "yield") for d in recs[0].detections)
    assert (tmp_path / "det" / "annotated" / "a.jpg").is_file()
    doc = json.loads((tmp_path / "det" / "detections.json").read_text())
    assert doc["schema_version"] == 2 and len(doc["images"]) == 1
    legacy = tmp_path / "v1.json"  # version 1: a bare list, the class under "class"
    legacy.write_text(json.dumps([{"file": "a.png", "detections": [{"box": [1, 2, 3, 4], "score": 0.5, "class": "stop"}]}]))
    (old,) = read_detections(legacy)
    assert old.detections[0].label == "stop" and old.detections[0].box == (1.0, 2.0, 3.0, 4.0)

    scene = _short_scene(tmp_path)
    out = tmp_path / "attack"
    assert main(["attack", str(scene), "--model", str(model), "--labels", str(labels), "--detector", "--steps", "2",
                 "--batch", "2", "--val-size", "4", "--val-every", "1", "--early-stop", "1", "--out", str(out),
                 "--no-sim-to-real"]) == 0  # the detector's photo rows: tests/test_models_sign_det.py
    rec = json.loads((out / "attack.json").read_text())
    assert rec["config"]["goal"] == "disappear" and rec["steps_run"] == 2
    written = yaml.safe_load(scene.read_text())["detector"]  # the scene as the detector attack used it
    assert "detector" not in rec["scene_resolved"] and rec["scene_resolved"]["eot"]["distance_m"] == written["eot"]["distance_m"]
    assert rec["scene_resolved"]["sticker"] == written["sticker"] != yaml.safe_load(scene.read_text())["sticker"]
    ev = tmp_path / "eval"
    assert main(["evaluate", str(scene), "--sticker", str(out / "sticker.png"), "--model", str(model), "--labels",
                 str(labels), "--detector", "--out", str(ev)]) == 0
    m = json.loads((ev / "metrics.json").read_text())
    assert m["header"]["frames"] == 6 and m["header"]["kind"] == "detector" and m["goal"] == "disappear"
    assert set(m["detection_rate"]) == {"clean", "attacked"} and "disappearance_rate" in m
    from patchsim.evaluate.braking import BrakingModel
    from patchsim.scene import load_scene

    speed = load_scene(scene).driveby.speed_mps
    for run in m["runs"].values():  # the verdict of a car at the drive-by's speed, from the tracker's distance
        b = run["braking"]
        assert b["speed_mps"] == speed and b["needed_m"] == round(BrakingModel(speed).needed_m(), 2)
        assert b["confirmed_at_m"] == run["confirmed_at_m"]
        assert b["stops_before_line"] == (run["confirmed_at_m"] is not None and run["confirmed_at_m"] >= b["needed_m"])
    assert (ev / "detections.png").is_file() and (ev / "report.html").is_file()
    import av

    with av.open(str(ev / "driveby.webm")) as c:  # one side-by-side picture per frame
        assert sum(1 for _ in c.decode(video=0)) == 6
    page = (ev / "report.html").read_text()
    assert "driveby.webm" in page and "class green, other classes blue" in page  # a detector's colours, not a classifier's
    assert "red when fooled" not in page
    capsys.readouterr()
    assert main(["evaluate", str(scene), "--model", "gtsrb-cnn", "--goal", "disappear", "--out", str(tmp_path / "e2")]) == 2
    assert "applies to detectors" in capsys.readouterr().err


def test_the_signs_boxes_are_drawn_over_other_classes():
    """A no_entry box at the same place as the stop box must not hide it: the sign's class is drawn last."""
    import numpy as np

    from patchsim.jobs.detect import draw_detections
    from patchsim.jobs.evaluate_detector import SIGN_BOX, on_top
    from patchsim.models.detectors import Detection

    dets = [Detection((10.0, 10.0, 50.0, 50.0), 0.7, "stop"), Detection((10.0, 10.0, 50.0, 50.0), 0.6, "no_entry")]
    assert [d.label for d in on_top(dets, "stop")] == ["no_entry", "stop"]
    img = draw_detections(np.zeros((64, 64, 3), np.uint8), on_top(dets, "stop"), {"stop": SIGN_BOX})
    assert tuple(img[30, 10]) == SIGN_BOX  # the shared left edge shows the sign's colour
