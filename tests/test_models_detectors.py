"""The detector interface: box maths, NMS, decoding of the ultralytics and torchvision layouts against
hand-computed boxes, letterboxing back to image pixels, the differentiable ONNX evaluator, loading errors."""

import json

import numpy as np
import pytest

from patchsim.records import from_data, json_bytes
import torch

from patchsim.errors import PatchsimError
from patchsim.models.detectors import Detection, load_detector
from patchsim.objectives.losses import max_score_near, near_sign
from patchsim.models.detectors.core import box_iou, letterbox, nms


def _labels(tmp_path, names=("stop", "yield")):
    p = tmp_path / "labels.txt"
    p.write_text("\n".join(names) + "\n")
    return p


@pytest.fixture(scope="module")
def fixed_yolo_ts(tmp_path_factory):
    from detector_fixtures import FixedYolo

    p = tmp_path_factory.mktemp("det") / "fixed.torchscript"
    torch.jit.trace(FixedYolo(), torch.rand(1, 3, 64, 64)).save(str(p))
    return p


@pytest.fixture(scope="module")
def tiny_yolo_onnx(tmp_path_factory):
    pytest.importorskip("onnx", reason="onnx not installed (test extra)")
    pytest.importorskip("onnxscript", reason="onnxscript not installed (test extra): torch.onnx.export needs it")
    from detector_fixtures import TinyYolo

    torch.manual_seed(0)
    net = TinyYolo(nc=2).eval()
    p = tmp_path_factory.mktemp("det") / "tiny.onnx"
    torch.onnx.export(net, (torch.rand(1, 3, 64, 96),), str(p), input_names=["images"], output_names=["output0"],
                      dynamo=True, verbose=False)
    return net, p


def test_box_iou_and_nms_by_hand():
    a = torch.tensor([[0.0, 0, 10, 10], [5, 0, 15, 10]])
    assert box_iou(a, a)[0, 1].item() == pytest.approx(50 / 150)
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 0, 11, 10], [1, 0, 11, 10], [50, 50, 60, 60]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    labels = torch.tensor([0, 0, 1, 0])
    # box 1 overlaps box 0 (same class, IoU 0.82) -> dropped; box 2 is another class -> kept
    assert nms(boxes, scores, labels, 0.5).tolist() == [0, 2, 3]
    assert nms(boxes, scores, labels, 0.9).tolist() == [0, 1, 2, 3]


def test_ultralytics_layout_decodes_hand_computed_boxes(tmp_path, fixed_yolo_ts):
    det = load_detector(fixed_yolo_ts, labels=_labels(tmp_path), input_size=(64, 64))
    (b, s, c), = det.detect(torch.rand(1, 3, 64, 64))
    # candidate 1 overlaps candidate 0 (IoU 190 / 210 = 0.90 > 0.7, same class) and is suppressed
    assert torch.allclose(b, torch.tensor([[40.0, 35, 60, 45], [6, 6, 14, 14]]))
    assert torch.allclose(s, torch.tensor([0.9, 0.6])) and c.tolist() == [0, 1]
    # an image of 200 x 200 is letterboxed at scale 0.32: boxes come back in its own pixels
    img = np.zeros((200, 200, 3), np.uint8)
    dets = det.detect_images([img])[0]
    assert [d.label for d in dets] == ["stop", "yield"]
    assert np.allclose(dets[0].box, [125.0, 109.375, 187.5, 140.625])
    assert np.allclose(dets[1].box, [18.75, 18.75, 43.75, 43.75])
    assert det.detect_images([img], score_threshold=0.7)[0] == dets[:1]


def test_letterbox_maps_boxes_back_exactly():
    img = (np.random.default_rng(0).random((90, 160, 3)) * 255).astype(np.uint8)
    x, lb = letterbox(img, (64, 64), fixed=True)
    assert x.shape == (3, 64, 64) and lb.scale == pytest.approx(0.4)
    assert torch.allclose(x[:, 36:, :], torch.full((3, 28, 64), 114 / 255))  # the grey padding below
    box = torch.tensor([[4.0, 8.0, 20.0, 24.0]])
    assert torch.allclose(lb.boxes_to_image(box), box / 0.4)
    x2, _ = letterbox(img, (640, 640), fixed=False)
    assert x2.shape == (3, 384, 640)  # 160 x 90 scaled by 4 -> 640 x 360, padded to a multiple of 32


def test_onnx_detector_matches_onnxruntime_and_gives_gradients(tmp_path, tiny_yolo_onnx):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed (optional extra 'onnx')")
    net, path = tiny_yolo_onnx
    det = load_detector(path, labels=_labels(tmp_path))
    assert det.input_size == (64, 96) and det.differentiable
    x = torch.rand(2, 3, 64, 96)  # the export's batch is fixed at 1 (as ultralytics exports are): one at a time
    sess = ort.InferenceSession(str(path))
    ref = np.concatenate([sess.run(None, {"images": x[i:i + 1].numpy()})[0] for i in range(2)])
    dense = det(x)
    assert np.abs(dense.raw.detach().numpy() - ref).max() < 1e-4
    assert np.abs(net(x).detach().numpy() - ref).max() < 1e-4
    xr = x.clone().requires_grad_()
    det(xr).scores[..., 0].amax(1).sum().backward()
    assert xr.grad.abs().sum() > 0
    with pytest.raises(PatchsimError, match="--input-size 32 32 does not match"):
        load_detector(path, labels=_labels(tmp_path), input_size=(32, 32))


def test_torchvision_layout_dense_scores_and_gradients(tmp_path):
    det = load_detector("detector_fixtures:fixed_torchvision", labels=_labels(tmp_path, ("__background__", "stop", "yield")),
                        input_size=(64, 64), score_threshold=0.2)
    x = torch.full((1, 3, 64, 64), 0.6, requires_grad=True)
    dense = det(x)
    assert dense.scores.shape == (1, 2, 3)
    assert dense.scores[0, 0, 1].item() == pytest.approx(0.6) and dense.scores[0, 1, 2].item() == pytest.approx(0.3)
    near = max_score_near(dense.scores, near_sign(dense.boxes, torch.tensor([[10.0, 12, 30, 40]])), 1)
    near.sum().backward()
    assert x.grad.abs().sum() > 0
    (b, s, c), = det.detect(x.detach())
    assert c.tolist() == [1, 2] and s.tolist() == pytest.approx([0.6, 0.3])


def test_detection_record_round_trips():
    d = Detection((1.0, 2.5, 30.25, 40.0), 0.875, "stop")
    assert from_data(Detection, json.loads(json_bytes(d))) == d
    with pytest.raises(PatchsimError, match="missing key 'label'"):
        from_data(Detection, {"box": [0, 0, 1, 1], "score": 1.0})
    with pytest.raises(PatchsimError, match="expected 4 items"):
        from_data(Detection, {"box": [0, 0, 1], "score": 1.0, "label": "stop"})


def test_loading_errors_are_one_line(tmp_path, fixed_yolo_ts):
    with pytest.raises(PatchsimError, match="labels FILE is required"):
        load_detector(fixed_yolo_ts)
    with pytest.raises(PatchsimError, match="fits neither"):  # 3 labels but the output has 4 + 2 rows
        load_detector(fixed_yolo_ts, labels=_labels(tmp_path, ("a", "b", "c")), input_size=(64, 64))
    with pytest.raises(PatchsimError, match="unknown detector"):
        load_detector(tmp_path / "model.bin")
    with pytest.raises(PatchsimError, match="not found"):
        load_detector(tmp_path / "missing.onnx", labels=_labels(tmp_path))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(PatchsimError):
        load_detector(bad, labels=_labels(tmp_path))
    with pytest.raises(PatchsimError, match="--score-threshold 1.5 is invalid"):
        load_detector("sign-det", score_threshold=1.5)


def test_unsupported_onnx_operator_is_named(tmp_path):
    onnx = pytest.importorskip("onnx", reason="onnx not installed (test extra)")
    from onnx import TensorProto, helper

    from patchsim.models.onnx_torch import OnnxTorch

    node = helper.make_node("Einsum", ["x", "x"], ["y"], equation="bchw,bchw->b")
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    p = tmp_path / "einsum.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(p))
    with pytest.raises(PatchsimError, match="operators Einsum cannot be differentiated"):
        OnnxTorch(p)
