"""--model a,b: classifiers sharing a class list as one target."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from patchsim.cli import main
from patchsim.errors import PatchsimError
from patchsim.models import Classifier, freeze, load, load_model
from patchsim.models.ensemble import Ensemble, ensemble_names


def test_ensemble_is_the_mean_of_its_members_log_probabilities():
    a, b = freeze(load("gtsrb-cnn")), freeze(load("gtsrb-resnet"))
    e = freeze(load_model("gtsrb-cnn,gtsrb-resnet"))
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    want = (F.log_softmax(a(x), 1) + F.log_softmax(b(x), 1)) / 2
    assert torch.allclose(e(x), want, atol=1e-6) and torch.allclose(e.attack_forward(x), want, atol=1e-6)
    assert e.classes == a.classes and e.input_size == (32, 32) and not e.is_detector and e.name == "gtsrb-cnn,gtsrb-resnet"
    x.requires_grad_(True)
    e(x)[:, 5].sum().backward()
    assert x.grad.abs().sum() > 0


def test_ensembles_that_cannot_be_one_target_are_refused():
    with pytest.raises(PatchsimError, match="detector"):
        load_model("gtsrb-cnn,sign-det")
    other = Classifier(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 2)), ["a", "b"])
    with pytest.raises(PatchsimError, match="classes differ"):
        Ensemble([freeze(load("gtsrb-cnn")), other], ["gtsrb-cnn", "mine"])
    for spec in ("gtsrb-cnn,", "gtsrb-cnn,gtsrb-cnn", ",gtsrb-cnn"):
        with pytest.raises(PatchsimError, match="invalid"):
            ensemble_names(spec)
    with pytest.raises(PatchsimError, match="ensemble"):
        load_model("gtsrb-cnn,gtsrb-resnet", weights="w.safetensors")
    with pytest.raises(PatchsimError, match="at least 2"):
        Ensemble([freeze(load("gtsrb-cnn"))], ["gtsrb-cnn"])


def test_an_ensemble_attack_runs_and_its_record_names_the_members(tmp_path):
    out = tmp_path / "e"
    assert main(["attack", "stop_driveby", "--model", "gtsrb-cnn,gtsrb-resnet", "--steps", "2", "--batch", "4",
                 "--val-size", "4", "--face-resolution", "32", "--no-sim-to-real", "--dpi", "50", "--out", str(out)]) == 0
    rec = json.loads((out / "attack.json").read_text())
    assert rec["model"] == "gtsrb-cnn,gtsrb-resnet" and rec["target_name"] == "speed_limit_80"
    ev = tmp_path / "held_out"  # scored on a model left out of the ensemble
    assert main(["evaluate", "stop_driveby", "--sticker", str(out / "sticker.png"), "--model", "gtsrb-cnn-hardened",
                 "--target", "speed_limit_80", "--no-video", "--out", str(ev)]) == 0
    assert json.loads((ev / "metrics.json").read_text())["header"]["model"] == "gtsrb-cnn-hardened"
