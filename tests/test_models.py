import os
import pickle

import numpy as np
import pytest
import torch

from patchsim.cli import main
from patchsim.errors import PatchsimError, ShapeError
from patchsim.io.images import read_image, to_tensor
from patchsim.models import SHIPPED, load, resolve_class
from patchsim.models.classes import GTSRB_CLASSES, LISA_CLASSES
from patchsim.models.registry import WEIGHTS_DIR, load_state

from conftest import SHARED, needs_shared

LISA_NPZ = SHARED / "rp2" / "lisa_cnn.npz"
TRAINED = [n for n in SHIPPED if SHIPPED[n].weights]


def test_class_lists_match_shared_files():
    if (SHARED / "gtsrb" / "classes.txt").exists():
        assert (SHARED / "gtsrb" / "classes.txt").read_text().split() == GTSRB_CLASSES
    if (SHARED / "rp2" / "lisa_classes.txt").exists():
        assert (SHARED / "rp2" / "lisa_classes.txt").read_text().split() == LISA_CLASSES


@pytest.mark.parametrize("name", TRAINED)
def test_shipped_model_loads_with_classes(name):
    m = load(name)
    assert m.classes == GTSRB_CLASSES and m.input_size == (32, 32) and not m.training
    assert m.card["test_acc"] > 0.9 and m.card["model"] == name
    assert (WEIGHTS_DIR / SHIPPED[name].weights).stat().st_size < 8e6
    out = m(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 43) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", TRAINED)
def test_shipped_model_reads_real_gtsrb(name):
    path = SHARED / "gtsrb" / "test.npz"
    if not path.exists():
        pytest.skip(f"real data not found at {path}")
    with np.load(path) as d:
        x, y = d["x"][:500], d["y"][:500]
    m = load(name)
    with torch.no_grad():
        pred = m(torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255).argmax(1).numpy()
    assert (pred == y).mean() > 0.95


@pytest.mark.parametrize("name", TRAINED)
@pytest.mark.parametrize("scene_name", ["stop_driveby", "stop_lab"])
def test_shipped_model_reads_clean_renders_as_stop(name, scene_name):
    # renderer and model agree before any attack: >= 97% of sampled conditions read stop
    from patchsim.render import Renderer, sample_eot
    from patchsim.scene import load_scene

    scene = load_scene(scene_name)
    cond = sample_eot(scene, 192, torch.Generator().manual_seed(7))
    m = load(name)
    with torch.no_grad():
        pred = m(Renderer.from_scene(scene).render_crops(cond).images).argmax(1)
    assert float((pred == m.classes.index("stop")).float().mean()) >= 0.97


def test_wrong_input_shape_is_a_clear_error():
    m = load("lisa-cnn", weights=LISA_NPZ) if LISA_NPZ.exists() else load(TRAINED[0])
    with pytest.raises(ShapeError, match=r"input: expected shape \(B, 3, 32, 32\), got \(1, 3, 64, 64\)"):
        m(torch.rand(1, 3, 64, 64))
    with pytest.raises(ShapeError, match="expected shape"):
        m(torch.rand(3, 32, 32))
    with pytest.raises(ShapeError, match="float"):
        m(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))


@needs_shared("rp2", "lisa_cnn.npz")
def test_lisa_cnn_with_rp2_weights_calls_victims_stop():
    m = load("lisa-cnn", weights=LISA_NPZ)
    assert m.classes[14] == "stop" and m.classes[12] == "speedLimit45" and len(m.classes) == 18
    files = sorted((SHARED / "rp2" / "victims_32").glob("*.png"))
    assert len(files) == 40
    x = torch.stack([to_tensor(read_image(f)) for f in files])
    with torch.no_grad():
        pred = m(x).argmax(1)
    assert (pred == 14).all()


def test_lisa_cnn_needs_weights():
    with pytest.raises(PatchsimError, match="ships without weights"):
        load("lisa-cnn")


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/patchsim_pwned_marker",))


def test_pickle_that_runs_code_is_refused(tmp_path):
    marker = "/tmp/patchsim_pwned_marker"
    if os.path.exists(marker):
        os.unlink(marker)
    bad = tmp_path / "evil.pth"
    with open(bad, "wb") as f:
        pickle.dump({"conv1.weight": _Evil()}, f)
    with pytest.raises(PatchsimError, match="cannot load weights .* safely"):
        load_state(bad)
    with pytest.raises(PatchsimError, match="safely"):
        load("gtsrb-cnn", weights=bad)
    assert not os.path.exists(marker)


def test_weights_that_do_not_fit(tmp_path):
    p = tmp_path / "w.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, p)
    with pytest.raises(PatchsimError, match="do not fit gtsrb-cnn"):
        load("gtsrb-cnn", weights=p)
    with pytest.raises(PatchsimError, match="not found"):
        load("gtsrb-cnn", weights=tmp_path / "none.safetensors")


def test_resolve_class_by_name_or_id():
    assert resolve_class(GTSRB_CLASSES, "stop") == 14
    assert resolve_class(GTSRB_CLASSES, 5) == 5 and resolve_class(GTSRB_CLASSES, "5") == 5
    with pytest.raises(PatchsimError, match=r"class 'stopp' is not among the model's classes \(did you mean stop\?\); "
                                            r"valid classes: speed_limit_20, .*\.\.\. \(43 in all\)$"):
        resolve_class(GTSRB_CLASSES, "stopp")
    with pytest.raises(PatchsimError, match="out of range 0..42"):
        resolve_class(GTSRB_CLASSES, 43)


def _labels(tmp_path):
    p = tmp_path / "labels.txt"
    p.write_text("stop\nyield\n# comment\nother\n")
    return p


def test_byo_torchscript_and_factory(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(os.path.dirname(__file__))
    from byo_factory import tiny_net

    net = tiny_net().eval()
    x = torch.rand(2, 3, 32, 32)
    ts = tmp_path / "net.pt"
    torch.jit.script(net).save(str(ts))
    m = load(ts, labels=_labels(tmp_path))
    assert m.classes == ["stop", "yield", "other"]
    assert torch.allclose(m(x), net(x), atol=1e-6)
    w = tmp_path / "w.pth"
    torch.save(net.state_dict(), w)
    f = load("byo_factory:tiny_net", weights=w, labels=_labels(tmp_path))
    assert torch.allclose(f(x), net(x), atol=1e-6)
    with pytest.raises(PatchsimError, match="labels file is required"):
        load(ts)
    bad = tmp_path / "two.txt"
    bad.write_text("a\nb\n")
    with pytest.raises(PatchsimError, match="lists 2 classes"):
        load(ts, labels=bad)
    with pytest.raises(PatchsimError, match="cannot import factory"):
        load("no_such_pkg.mod:make", labels=_labels(tmp_path))
    with pytest.raises(PatchsimError, match="unknown model"):
        load("resnet9000")


def test_byo_onnx(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed (optional extra 'onnx')")
    pytest.importorskip("onnx", reason="onnx exporter not installed")
    monkeypatch.syspath_prepend(os.path.dirname(__file__))
    from byo_factory import tiny_net

    net = tiny_net().eval()
    path = tmp_path / "net.onnx"
    torch.onnx.export(net, (torch.rand(1, 3, 32, 32),), str(path), input_names=["x"], dynamic_axes={"x": {0: "b"}},
                      dynamo=False)
    m = load(path, labels=_labels(tmp_path))
    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(m(x), net(x), atol=1e-4)
    with pytest.raises(PatchsimError, match="evaluation only"):
        m(x.requires_grad_())


@needs_shared("rp2", "victims_256", "1.png")
def test_classify_cli_prints_top3(capsys):
    img = str(SHARED / "rp2" / "victims_256" / "1.png")
    assert main(["classify", "lisa-cnn", "--weights", str(LISA_NPZ), img]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(img + ": stop ") and line.count(",") == 2


@needs_shared("gtsrb", "train.npz")
def test_training_ctrl_c_checkpoint_and_resume_match_an_uninterrupted_run(tmp_path, monkeypatch):
    """Ctrl-C in the middle of an epoch saves a checkpoint; resuming gives the very weights an
    uninterrupted run gives (300 images, 3 batches an epoch, 2 epochs: a smoke run)."""
    import os
    import signal

    from safetensors.torch import load_file

    from patchsim.errors import Interrupted
    from patchsim.models import train

    whole = tmp_path / "whole.safetensors"
    train.train_model("gtsrb-cnn", whole, epochs=2, limit=300)
    real_aug, calls = train.augmentation, []

    def aug_then_ctrl_c(seed):
        pipeline = real_aug(seed)

        def run(x):
            calls.append(1)
            if len(calls) == 5:  # the second of epoch 2's three batches
                os.kill(os.getpid(), signal.SIGINT)
            return pipeline(x)

        return run

    monkeypatch.setattr(train, "augmentation", aug_then_ctrl_c)
    cut = tmp_path / "cut.safetensors"
    with pytest.raises(Interrupted, match="training stopped in epoch 2 of 2"):
        train.train_model("gtsrb-cnn", cut, epochs=2, limit=300)
    assert train.checkpoint_path(cut).is_file() and not cut.exists()
    monkeypatch.setattr(train, "augmentation", real_aug)
    with pytest.raises(PatchsimError, match="another training run"):
        train.train_model("gtsrb-cnn", cut, epochs=3, limit=300, resume=True)
    train.train_model("gtsrb-cnn", cut, epochs=2, limit=300, resume=True)
    assert not train.checkpoint_path(cut).exists()
    a, b = load_file(whole), load_file(cut)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.are_deterministic_algorithms_enabled()  # the training's setting restored after it


def test_training_gives_the_same_weights_in_every_process(tmp_path):
    """Two processes (different hash seeds and memory layouts) train the same seed on the same data: the
    weights are bit-identical, and the card says under which conditions that holds."""
    import json
    import os
    import subprocess
    import sys

    from gtsrb_fixtures import write_tiny_gtsrb

    data = write_tiny_gtsrb(tmp_path / "gtsrb", 16)
    outs = []
    for i, hash_seed in enumerate(("0", "12345")):
        out = tmp_path / f"w{i}.safetensors"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        r = subprocess.run([sys.executable, "-m", "patchsim.cli", "train", "gtsrb-cnn", "--data", str(data), "--epochs",
                            "2", "--out", str(out)], env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        outs.append(out)
    assert outs[0].read_bytes() == outs[1].read_bytes()
    card = json.loads(outs[0].with_suffix(".json").read_text())
    assert card["reproducible_on"]["device"] == "cpu" and card["reproducible_on"]["threads"] >= 1


def test_weights_files_are_the_same_bytes_in_every_process():
    """safetensors orders a metadata map differently in each process; weights_bytes packs the metadata in
    one key, so the same weights always make the same file (six processes, three metadata fields)."""
    import subprocess
    import sys

    code = ("import sys, torch; from patchsim.models.registry import weights_bytes; "
            "sys.stdout.buffer.write(weights_bytes({'b': torch.ones(3), 'a': torch.arange(4.0)}, model='m', base='x', seed='0'))")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120, check=True).stdout
            for _ in range(6)}
    assert len(outs) == 1
    from safetensors.torch import load

    loaded = load(outs.pop())
    assert torch.equal(loaded["a"], torch.arange(4.0)) and torch.equal(loaded["b"], torch.ones(3))
