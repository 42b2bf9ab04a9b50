"""The device option: resolution and errors, and the device code path run on the CPU (an explicit
``device="cpu"`` gives what the default gives; the model and renderer end up where they were sent)."""

import numpy as np
import pytest
import torch

from patchsim.attack.config import AttackConfig
from patchsim.attack.eot import EOTAttack
from patchsim.device import model_device, resolve_device
from patchsim.errors import PatchsimError
from patchsim.models import freeze, load


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu") and resolve_device(None) == resolve_device("auto")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(PatchsimError, match="--device 'tpu' is invalid: must be auto"):
        resolve_device("tpu")
    with pytest.raises(PatchsimError, match="invalid"):
        resolve_device("cuda:x")
    if not torch.cuda.is_available():
        with pytest.raises(PatchsimError, match="no CUDA device here"):
            resolve_device("cuda")


def test_attack_on_an_explicit_device_matches_the_default(driveby_scene):
    cfg = AttackConfig(target=5, true_class=14, steps=3, batch=2, val_size=4, val_every=3, face_resolution=32, seed=2)
    a = EOTAttack(driveby_scene, freeze(load("gtsrb-cnn")), cfg, device="cpu")
    assert a.device == torch.device("cpu") and a.renderer.face.device == a.device
    assert model_device(a.model) == a.device and a.palette.device == a.device
    ra = a.run(progress=False)
    rb = EOTAttack(driveby_scene, freeze(load("gtsrb-cnn")), cfg).run(progress=False)
    assert ra.sticker.device == torch.device("cpu") and torch.equal(ra.sticker, rb.sticker)


def test_classify_crops_runs_on_the_models_device():
    from patchsim.objectives.goals import classify_crops

    model = freeze(load("gtsrb-cnn")).to(resolve_device("auto"))
    crops = [np.full((32, 32, 3), v, np.uint8) for v in (0, 128, 255)]
    p = classify_crops(model, crops)
    assert p.shape == (3, 43) and p.dtype == np.float32 and np.allclose(p.sum(1), 1, atol=1e-5)


def test_every_model_command_takes_a_device():
    from patchsim.cli import build_parser

    sub = build_parser()._subparsers._group_actions[0].choices
    for cmd in ("attack", "evaluate", "render", "train", "classify", "score", "sweep", "evaluate-photos",
                "evaluate-real"):
        assert "--device" in sub[cmd]._option_string_actions, cmd


def test_mixed_precision_keeps_float32_and_reaches_the_sticker(driveby_scene):
    """--amp runs the model under autocast: logits come back float32, the loss is finite, the gradient
    reaches the sticker parameters, and the switch is a command-line flag."""
    from patchsim.cli import build_parser
    from patchsim.render import sample_eot

    cfg = AttackConfig(target=5, true_class=14, steps=1, batch=4, val_size=4, face_resolution=32, amp=True)
    a = EOTAttack(driveby_scene, freeze(load("gtsrb-cnn")), cfg, device="cpu")
    w = a.init_params(torch.Generator().manual_seed(0))
    loss, logits = a.loss(w, sample_eot(driveby_scene, 4, torch.Generator().manual_seed(1)))
    loss.backward()
    assert logits.dtype == torch.float32 and torch.isfinite(loss) and float(w.grad.abs().sum()) > 0
    args = build_parser().parse_args(["attack", "stop_driveby", "--amp"])
    assert args.amp is True and build_parser().parse_args(["attack", "stop_driveby"]).amp is None
    with pytest.raises(PatchsimError, match="amp"):
        AttackConfig(amp="yes")
