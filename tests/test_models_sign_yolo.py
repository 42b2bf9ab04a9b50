"""The YOLO-style detector family: its targets put each box on the level and cells the design says,
its output is ultralytics' layout (so its ONNX export loads through the bring-your-own path and gives
the same candidates), gradients reach the input, and its loss trains it on a fixed batch."""

import numpy as np
import pytest
import torch

from patchsim.models.detectors import build_shipped, load_detector
from patchsim.models.detectors.yolo import (LEVEL_MAX_PX, STRIDES, boxes_from_heads, giou, yolo_loss,
                                            yolo_targets)


def _level_slices(hw):
    out, start = [], 0
    for s in STRIDES:
        n = (hw[0] // s) * (hw[1] // s)
        out.append(slice(start, start + n))
        start += n
    return out


def test_targets_give_each_box_its_level_and_the_cells_near_its_centre():
    hw = (128, 128)
    small = np.array([[40.0, 40, 52, 52]])  # 12 px: stride 4, cells within 1.5 strides of (46, 46), inside it
    big = np.array([[10.0, 20, 110, 110]])  # 100 px: the stride-16 level
    t = yolo_targets([small, big], [np.array([0]), np.array([2])], hw)
    lv = _level_slices(hw)
    lab0 = t["label"][0]
    assert (lab0 >= 0).sum() == (lab0[lv[0]] >= 0).sum() > 0
    cells = torch.nonzero(lab0[lv[0]] >= 0)[:, 0]
    cx, cy = (cells % 32 + 0.5) * 4, (cells // 32 + 0.5) * 4
    assert ((cx - 46).abs() <= 6).all() and ((cy - 46).abs() <= 6).all() and (lab0[lv[0]][cells] == 0).all()
    assert torch.equal(t["box"][0][lv[0]][cells[0]], torch.tensor([40.0, 40, 52, 52]))
    lab1 = t["label"][1]
    assert 64 <= 100 < LEVEL_MAX_PX[2] and (lab1[lv[2]] == 2).sum() > 0 and (lab1 >= 0).sum() == (lab1[lv[2]] >= 0).sum()
    tiny = yolo_targets([np.array([[61.0, 61, 63.5, 63.5]])], [np.array([1])], hw)  # under a cell: its nearest cell
    assert int((tiny["label"][0] >= 0).sum()) == 1


def test_giou_of_known_boxes():
    a = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 10]])
    b = torch.tensor([[0.0, 0, 10, 10], [20, 0, 30, 10]])
    assert torch.allclose(giou(a, b), torch.tensor([1.0, -1.0 / 3.0]))


def test_output_is_ultralytics_layout_and_the_onnx_export_loads_through_byo(tmp_path):
    pytest.importorskip("onnx")
    torch.manual_seed(0)
    det = build_shipped("sign-yolo", input_size=(96, 128)).eval()
    x = torch.rand(1, 3, 96, 128)
    with torch.no_grad():
        out = det.net(x)
    n = sum((96 // s) * (128 // s) for s in STRIDES)
    assert out.shape == (1, 4 + 6, n) and float(out[:, 4:].min()) >= 0 and float(out[:, 4:].max()) <= 1
    boxes, _ = boxes_from_heads(det.net.heads(x))
    assert torch.allclose(det(x).boxes, boxes, atol=1e-4)  # (cx, cy, w, h) decodes back to the same boxes
    path = tmp_path / "sign-yolo.onnx"
    torch.onnx.export(det.net, (x,), str(path), input_names=["images"], output_names=["output0"], dynamo=True,
                      verbose=False)
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(det.classes) + "\n")
    byo = load_detector(path, labels=labels)
    assert byo.input_size == (96, 128)
    d1, d2 = det(x), byo(x)
    assert torch.allclose(d1.boxes, d2.boxes, atol=1e-3) and torch.allclose(d1.scores, d2.scores, atol=1e-4)


def test_gradient_reaches_the_input_and_the_loss_trains_on_a_fixed_batch():
    torch.manual_seed(0)
    det = build_shipped("sign-yolo", input_size=(64, 64))
    x = torch.rand(2, 3, 64, 64)
    x[0, :, 16:40, 16:40] = torch.tensor([0.8, 0.1, 0.1])[:, None, None]  # a red square: class 0
    t = yolo_targets([np.array([[16.0, 16, 40, 40]]), np.zeros((0, 4))], [np.array([0]), np.array([])], (64, 64))
    xg = x.clone().requires_grad_()
    loss, _ = yolo_loss(det.net.heads(xg), t)
    (g,) = torch.autograd.grad(loss, xg)
    assert torch.isfinite(g).all() and g.abs().sum() > 0
    opt = torch.optim.Adam(det.parameters(), lr=3e-3)
    first = None
    for _ in range(40):
        loss, parts = yolo_loss(det.net.heads(x), t)
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 0.5 * first
    det.eval()
    b, s, c = det.detect(x[:1], score_threshold=0.05)[0]
    assert len(b) and int(c[0]) == 0
    assert float(giou(b[:1], torch.tensor([[16.0, 16, 40, 40]]))[0]) > 0.3


def test_models_lists_both_detector_families_as_detectors(capsys):
    """``patchsim models`` names sign-yolo as a detector; untrained, it says so instead of a figure, and
    loading it names the command that trains it."""
    from patchsim.cli import main
    from patchsim.errors import PatchsimError
    from patchsim.models import get_model_spec
    from patchsim.models.registry import WEIGHTS_DIR

    assert main(["models"]) == 0
    lines = {ln.split()[0]: ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("sign-")}
    assert set(lines) == {"sign-det", "sign-yolo"} and all("detector" in ln for ln in lines.values())
    assert get_model_spec("sign-yolo").kind == "detector"
    if not (WEIGHTS_DIR / "sign-yolo.safetensors").is_file():
        assert "not trained yet" in lines["sign-yolo"]
        with pytest.raises(PatchsimError, match="train-detector --model sign-yolo"):
            load_detector("sign-yolo")
    else:  # trained and shipped: the listing gives its card's street recall, the loader its card's threshold
        import json

        card = json.loads((WEIGHTS_DIR / "sign-yolo.json").read_text())
        recall = card["street"]["asadi"]["by_threshold"][f"{card['score_threshold']:.2f}"]["recall"]
        assert f"stop recall {100 * recall:.1f}%" in lines["sign-yolo"]
        assert load_detector("sign-yolo").score_threshold == card["score_threshold"]


def test_training_data_workers_leave_stop_signals_to_the_main_process():
    """SIGTERM / Ctrl-C sent to the whole process group must not kill the data worker before the main
    process saves its checkpoint: the worker's init ignores both."""
    import signal
    import subprocess
    import sys

    code = ("import signal; from patchsim.models.detectors.train import workers_ignore_stop_signals as f; f(0); "
            "print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN, signal.getsignal(signal.SIGTERM) is signal.SIG_IGN)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "True"]
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN  # this process is untouched
