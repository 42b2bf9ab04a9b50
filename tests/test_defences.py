"""patchsim.defences: wrappers keep the classifier interface, PatchCleanser's masks cover every patch
and its certificate is sound (checked exhaustively on a toy model), BPDA and EOT-over-masks give the
adaptive attack gradients, occlusion attacks stay inside their rectangle, and bad specs are one line."""

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from patchsim.defences import JpegDefence, MedianDefence, PatchCleanser, parse_defence, wrap
from patchsim.defences.occlusion import cutout, most_sensitive_place, rect_mask, roa_attack
from patchsim.defences.patchcleanser import mask_geometry, mask_set
from patchsim.defences.transforms import jpeg_uint8, median_filter
from patchsim.errors import PatchsimError
from conftest import needs_shared


class Linear(nn.Module):
    """A tiny differentiable classifier over 16x16 images (3 classes)."""

    def __init__(self, size=16):
        super().__init__()
        self.classes, self.input_size, self.name = ["a", "b", "c"], (size, size), "lin"
        torch.manual_seed(0)
        self.fc = nn.Linear(3 * size * size, 3)

    def forward(self, x):
        return self.fc(x.flatten(1))


class Bright(nn.Module):
    """Class 1 when any pixel is brighter than 0.9, else class 0 (a model whose answer under every
    possible patch is known: a patch can only add or hide bright pixels)."""

    def __init__(self, size=12):
        super().__init__()
        self.classes, self.input_size, self.name = ["dark", "bright"], (size, size), "bright"

    def forward(self, x):
        b = (x.amax((1, 2, 3)) > 0.9).float()
        return torch.stack([1 - b, b], 1) * 10


@pytest.mark.parametrize("spec", ["jpeg:60", "median:3", "patchcleanser:0.05:4"])
def test_wrappers_keep_the_interface(spec):
    m = Linear()
    d = wrap(m, spec)
    x = torch.rand(5, 3, 16, 16)
    out = d(x)
    assert out.shape == (5, 3) and d.classes == m.classes and d.input_size == m.input_size
    assert d.name == f"lin+{d.spec}" and parse_defence(d.spec)[0] == spec.split(":")[0]
    assert d.attack_forward(x).shape == (5, 3)
    assert not torch.allclose(out, m(x))  # the defence acts: an identity wrapper would fail here


@pytest.mark.parametrize("spec", ["median:3"])
def test_filtering_defences_remove_a_single_bright_pixel(spec):
    """A dark image with one bright pixel reads "bright" undefended; the median filter removes the pixel,
    so behind it the image reads "dark" (an identity "defence" would fail this)."""
    m = Bright(16)
    x = torch.full((1, 3, 16, 16), 0.2)
    x[..., 7, 9] = 1.0
    assert m(x).argmax(1).item() == 1
    assert wrap(m, spec)(x).argmax(1).item() == 0


def test_median_filter_matches_opencv_and_keeps_flat_images():
    import cv2

    x = torch.rand(2, 3, 16, 16)
    ours = median_filter(x, 3)
    a = (x[0].permute(1, 2, 0).numpy() * 255).astype(np.float32)
    ref = cv2.medianBlur(a, 3)  # float input: exact medians; interior pixels compared (borders differ)
    assert np.allclose(ours[0].permute(1, 2, 0).numpy()[1:-1, 1:-1] * 255, ref[1:-1, 1:-1], atol=1e-3)
    flat = torch.full((1, 3, 16, 16), 0.3)
    assert torch.equal(median_filter(flat, 5), flat)  # identity on a constant image


def test_jpeg_forward_is_the_real_codec_and_bpda_passes_gradients():
    import cv2

    m = Linear()
    d = JpegDefence(m, 50)
    x = torch.rand(2, 3, 16, 16)
    a = (x[1].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    _, buf = cv2.imencode(".jpg", np.ascontiguousarray(a[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 50])
    ref = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    assert np.array_equal((jpeg_uint8(x, 50)[1].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), ref)
    assert torch.allclose(d(x), m(jpeg_uint8(x, 50)))
    xs = x.clone().requires_grad_(True)
    out = d.attack_forward(xs)
    assert torch.allclose(out, d(x), atol=1e-5)  # BPDA: the forward value is the real defence
    out[:, 0].sum().backward()
    assert xs.grad is not None and xs.grad.abs().sum() > 0
    xi = x.clone().requires_grad_(True)
    JpegDefence(m, 50, backward="identity").attack_forward(xi)[:, 0].sum().backward()
    w = m.fc.weight[0].view(3, 16, 16)
    assert torch.allclose(xi.grad, w.expand(2, -1, -1, -1))  # straight-through: the model's own gradient


@pytest.mark.parametrize("n,p,k", [(32, 10, 6), (32, 11, 6), (12, 3, 3), (16, 16, 2), (20, 1, 4)])
def test_masks_cover_every_patch_position(n, p, k):
    side, offsets = mask_geometry(n, p, k)
    assert len(offsets) <= k and all(0 <= o and o + min(side, n) <= n or o == 0 for o in offsets)
    for a in range(n - p + 1):
        assert any(o <= a and a + p <= o + side for o in offsets), (a, side, offsets)
    masks = mask_set((n, n), (p, p), k)
    assert masks.shape == (len(offsets) ** 2, 1, n, n)


def patched(x, top, left, p, value):
    y = x.clone()
    y[:, :, top:top + p, left:left + p] = value
    return y


def test_certificate_is_sound_exhaustively_on_a_toy_model():
    """Every input certified for its label keeps that decision under every 3x3 patch at every place
    (for this model, all-dark and all-bright patches are every possible outcome of any patch)."""
    g = torch.Generator().manual_seed(0)
    pc = PatchCleanser(Bright(), patch_frac=(3 / 12) ** 2, per_axis=3)
    assert pc.patch_px == (3, 3)
    x = torch.rand(24, 3, 12, 12, generator=g) * 0.8
    for i in range(12, 24):  # bright pixels: 1, 2 or 3 of them
        for _ in range(1 + i % 3):
            r, c = torch.randint(12, (2,), generator=g).tolist()
            x[i, :, r, c] = 1.0
    y = Bright()(x).argmax(1)
    cert = pc.certify(x, y)
    assert cert.any() and not cert.all()  # the check below is about something
    for i in torch.nonzero(cert).flatten().tolist():
        for top, left, value in itertools.product(range(10), range(10), (0.0, 1.0)):
            assert int(pc.decide(patched(x[i:i + 1], top, left, 3, value))[0]) == int(y[i]), (i, top, left, value)
    # a dark image is certified: a bright patch is caught by the mask that covers it
    dark = torch.full((1, 3, 12, 12), 0.2)
    assert bool(pc.certify(dark, torch.tensor([0]))[0])
    assert int(pc.decide(patched(dark, 4, 5, 3, 1.0))[0]) == 0 and int(Bright()(patched(dark, 4, 5, 3, 1.0)).argmax()) == 1


def test_patchcleanser_attack_path_is_differentiable_and_seeded():
    m = Linear()
    x = torch.rand(2, 3, 16, 16, requires_grad=True)
    a, b = PatchCleanser(m, 0.05, 4, seed=3), PatchCleanser(m, 0.05, 4, seed=3)
    out = a.attack_forward(x)
    assert torch.equal(out, b.attack_forward(x))  # the masks drawn come from the wrapper's own seed
    out[:, 1].sum().backward()
    assert x.grad.abs().sum() > 0


def test_occlusion_attack_stays_in_its_rectangle_and_finds_the_sensitive_place():
    grad = torch.zeros(2, 3, 16, 16)
    grad[0, :, 9:12, 2:5] = 1.0
    grad[1, :, 0:3, 12:15] = 1.0
    top, left = most_sensitive_place(grad, 3, 3, stride=1)
    assert top.tolist() == [9, 0] and left.tolist() == [2, 12]
    m = rect_mask(top, left, 3, 3, (16, 16))
    assert m.sum().item() == 18 and m[0, 0, 9:12, 2:5].all()
    model = Linear()
    x = torch.rand(4, 3, 16, 16)
    y = model(x).argmax(1)
    adv, mask = roa_attack(model, x, y, 4, 5, steps=5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(adv * (1 - mask), x * (1 - mask)) and mask.sum((1, 2, 3)).tolist() == [20.0] * 4
    assert nn.functional.cross_entropy(model(adv), y) > nn.functional.cross_entropy(model(x), y)
    assert torch.equal(cutout(x, 2, (3, 5), 0.0, torch.Generator().manual_seed(0)), x)  # p = 0: identity


@pytest.mark.parametrize("spec", ["jpg", "jpeg:x", "median:4", "median:1:2", "patchcleanser:0.7", "patchcleanser:a",
                                  "jpeg:0"])
def test_bad_defence_specs_are_one_line_errors(spec):
    with pytest.raises(PatchsimError) as e:
        wrap(Linear(), spec)
    assert "--defence" in str(e.value) and "\n" not in str(e.value)


def test_cli_rejects_bad_defence_before_work(capsys, tmp_path):
    from patchsim.cli import main

    assert main(["attack", "stop_driveby", "--defence", "blur", "--out", "/nonexistent/x"]) == 2
    err = capsys.readouterr().err
    assert "--defence" in err and "jpeg" in err and err.count("\n") == 1
    for cmd in (["attack", "stop_driveby", "--steps", "1"], ["evaluate", "stop_driveby"]):
        out = tmp_path / cmd[0]
        assert main([*cmd, "--model", "sign-det", "--defence", "jpeg", "--out", str(out)]) != 0
        assert "defences wrap classifiers" in capsys.readouterr().err and not any(out.glob("*"))


def fixed_square_accuracy(model, x, y, side=10):
    """Accuracy with a black ``side`` px square over the middle of every image: a fixed rectangle attack."""
    xb = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255
    lo = (xb.shape[-1] - side) // 2
    xb[:, :, lo:lo + side, lo:lo + side] = 0.0
    with torch.no_grad():
        return float((model(xb).argmax(1).numpy() == y).mean())


@needs_shared("gtsrb", "train.npz")
def test_harden_improves_robustness_to_a_fixed_rectangle_attack(tmp_path):
    """A short hardening run (a GTSRB subset, occlusion rectangles only) raises accuracy under a fixed
    rectangle (a black 10 px square over the middle of the sign) on held-out test images, writes a card,
    and says when there is no checkpoint to resume."""
    from patchsim.jobs.harden import HardenRecipe, harden
    from patchsim.models import load
    from patchsim.models.train import default_data_dir, load_gtsrb

    test = load_gtsrb(default_data_dir(), "test")
    x, y = test["x"][::20], test["y"][::20]
    before = fixed_square_accuracy(load("gtsrb-cnn"), x, y)
    recipe = HardenRecipe(steps=60, batch=64, lr=2e-3, render_entries=0, roa_steps=2, roa_area=(0.06, 0.12))
    out = tmp_path / "h.safetensors"
    card = harden("gtsrb-cnn", out, recipe=recipe, limit=4000, progress=False, card_every=20)
    after = fixed_square_accuracy(load("gtsrb-cnn", weights=out), x, y)
    assert after >= before + 0.05, (before, after)  # 10.1% -> 17.1% on this machine; the full recipe: 27.6%
    assert card["test_acc"] > 0.8, card["test_acc"]
    assert out.with_suffix(".json").is_file() and card["recipe"]["steps"] == 60 and card["base_model"] == "gtsrb-cnn"
    with pytest.raises(PatchsimError, match="no checkpoint"):
        harden("gtsrb-cnn", out, recipe=recipe, limit=4000, resume=True, progress=False)


def test_sticker_bank_steps_make_the_sticker_stronger(driveby_scene):
    """A bank entry's attack steps through the renderer lower the model's margin on the same conditions;
    its sticker lies on the sign, within the area asked."""
    from patchsim.objectives import losses
    from patchsim.defences.sticker_bank import StickerBank
    from patchsim.models import freeze, load

    model = freeze(load("gtsrb-cnn"))
    g = torch.Generator().manual_seed(5)
    bank = StickerBank(driveby_scene, model.classes, 3, 0.12, g, face_resolution=32, min_area=0.08)
    e = bank.entries[0]
    area = float(bank.mask(e).mean())
    assert 0.0 < area <= 0.12 + 1e-6 and bank.mask(e).max() <= 1
    state = g.get_state()
    adv0, clean0, lab = bank.crops(model, 0, 6, 0, 0.25, g)
    g.set_state(state)
    adv, clean, _ = bank.crops(model, 0, 6, 12, 0.25, g)
    assert torch.equal(clean, clean0) and lab.tolist() == [e.true_class] * 6
    loss = (lambda z: losses.targeted_margin(z, e.target, 5.0)) if e.target is not None else \
        (lambda z: losses.untargeted_margin(z, e.true_class, 5.0))
    with torch.no_grad():
        assert loss(model(adv)) < loss(model(adv0))


def test_semantic_bank_stickers_start_as_another_signs_face_and_random_banks_are_unchanged(driveby_scene):
    """With ``semantic_fraction`` 1 every new entry starts from another catalogue sign's face: under its
    rectangle the printed sticker is that face's colours (through the printer); with 0 the draws and the
    entries are exactly those of a bank built without the option."""
    from patchsim.defences.sticker_bank import StickerBank
    from patchsim.errors import PatchsimError
    from patchsim.signs import draw_face

    classes = [f"c{i}" for i in range(3)] + ["stop", "no_entry", "yield"]
    sem = StickerBank(driveby_scene, classes, 4, 0.12, torch.Generator().manual_seed(1), face_resolution=32,
                      semantic_fraction=1.0)
    for e in sem.entries:
        assert e.start is not None and e.start != e.sign
        face = draw_face(e.start, 32)
        want = (face[:3] * face[3:] + 1 - face[3:]).clamp(0.02, 0.98)
        assert torch.allclose(torch.sigmoid(e.params[0]), want, atol=1e-5)
    plain = StickerBank(driveby_scene, classes, 4, 0.12, torch.Generator().manual_seed(1), face_resolution=32)
    zero = StickerBank(driveby_scene, classes, 4, 0.12, torch.Generator().manual_seed(1), face_resolution=32,
                       semantic_fraction=0.0)
    for a, b in zip(plain.entries, zero.entries):
        assert a.start is None and b.start is None and a.rect == b.rect and torch.equal(a.params, b.params)
    with pytest.raises(PatchsimError, match="semantic_fraction"):
        StickerBank(driveby_scene, classes, 1, 0.12, torch.Generator(), face_resolution=32, semantic_fraction=1.5)


@needs_shared("gtsrb", "test.npz")
def test_certify_command_writes_its_record(tmp_path, capsys):
    import json

    from patchsim.cli import main

    out = tmp_path / "c.json"
    assert main(["certify", "gtsrb-cnn", "--patch-frac", "0.0977", "--every", "1500", "--scene", "none",
                 "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    g = r["gtsrb_test"]
    assert r["patch_px"] == [10, 10] and r["masks"] == 36 and g["images"] == 9
    assert 0 <= g["certified_accuracy"] <= g["defended_accuracy"] <= 1 and "certified" in capsys.readouterr().out
    assert main(["certify", "gtsrb-cnn", "--every", "1500", "--scene", "none", "--out", str(out)]) == 2  # exists
    assert main(["certify", "gtsrb-cnn", "--patch-frac", "0.7", "--out", str(tmp_path / "d.json")]) == 2


def test_evaluate_through_a_defence_records_it(tmp_path, driveby_scene):
    """``patchsim evaluate --defence``: the crops go through the defence and metrics.json says which."""
    from patchsim.jobs.evaluate import EvaluateRequest, run_evaluate
    from patchsim.evaluate.records import read_evaluation
    from patchsim.evaluate.runner import EvalSettings

    req = EvaluateRequest(driveby_scene, None, "gtsrb-cnn", video=False, defence="median:3",
                          settings=EvalSettings(spatial_k=0, flow=False))
    rec = run_evaluate(req, tmp_path / "e", progress=False)
    assert rec.defence == "median:3" and read_evaluation(tmp_path / "e" / "metrics.json") == rec
    assert rec.metrics["clean"].success < 0.05  # the median-filtered model still reads the clean sign as stop


def test_sticker_bank_survives_a_checkpoint(tmp_path):
    """A hardening checkpoint holds the bank as plain data that the safe loader (weights_only) reads back."""
    from dataclasses import asdict

    from patchsim.defences.sticker_bank import BankEntry
    from patchsim.io.interrupts import read_checkpoint, write_checkpoint

    e = BankEntry("stop", 14, 5, (0.1, 0.2, 0.4, 0.5), torch.randn(1, 3, 8, 8), uses=3)
    write_checkpoint(tmp_path / "c.pt", {"bank": [asdict(e)], "run": {"recipe": {"roa_area": (0.02, 0.12)}}})
    back = read_checkpoint(tmp_path / "c.pt")
    e2 = BankEntry(**{**back["bank"][0], "rect": tuple(back["bank"][0]["rect"])})
    assert e2.rect == e.rect and torch.equal(e2.params, e.params) and (e2.sign, e2.target, e2.uses) == ("stop", 5, 3)


@pytest.mark.parametrize("argv", [
    ["harden", "gtsrb-cnn", "--steps", "0"],
    ["harden", "gtsrb-cnn", "--printer", "nope"],
    ["harden", "nope-model"],
    ["harden", "gtsrb-cnn", "--scene", "no_such_scene"],
    ["harden", "gtsrb-cnn", "--resume"],
    ["certify", "gtsrb-cnn", "--every", "0"],
    ["certify", "gtsrb-cnn", "--masks-per-axis", "1"],
    ["certify", "gtsrb-cnn", "--scene", "no_such_scene"],
])
def test_defence_commands_reject_bad_input_in_one_line(argv, tmp_path, capsys):
    from patchsim.cli import main

    out = tmp_path / "o.safetensors"
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err and "Traceback" not in err and not out.exists()


def test_poison_detectors_find_a_planted_cluster():
    """Spectral signatures and activation clustering on features whose answer is known: 3 classes of
    Gaussian features, 5% of class 1 shifted along one direction (the trigger's feature)."""
    from patchsim.defences.data_inspection import activation_cluster_flags, precision_recall, spectral_flags

    g = torch.Generator().manual_seed(0)
    feats = torch.randn(1200, 32, generator=g)
    labels = torch.arange(1200) % 3
    poisoned = (labels == 1) & (torch.arange(1200) < 120)  # 40 of class 1's 400
    feats[poisoned] += 6.0 * torch.nn.functional.normalize(torch.randn(32, generator=g), dim=0)
    s = precision_recall(spectral_flags(feats, labels, eps=0.1), poisoned)
    assert s["recall"] >= 0.95 and s["flagged"] == 3 * 60  # 1.5 x 10% of each class
    a = precision_recall(activation_cluster_flags(feats, labels), poisoned)
    assert a["recall"] >= 0.95 and a["precision"] >= 0.9
    clean = precision_recall(activation_cluster_flags(torch.randn(600, 32, generator=g), torch.arange(600) % 3),
                             torch.zeros(600, dtype=torch.bool))
    assert clean["flagged"] <= 30  # no planted cluster: little or nothing flagged
    with pytest.raises(PatchsimError, match="eps"):
        spectral_flags(feats, labels, eps=0.7)


@pytest.mark.parametrize("spec", ["jpeg:75", "median:3", "patchcleanser:0.0977:4"])
def test_adaptive_attack_gradient_reaches_the_sticker_through_each_defence(spec, driveby_scene):
    """The EOT optimiser's loss through a defence (its attack_forward: BPDA, the median itself, EOT over
    masks) sends a gradient to the sticker parameters; validation scores the deployed defence."""
    from patchsim.attack.config import AttackConfig
    from patchsim.attack.eot import EOTAttack
    from patchsim.defences import load_defended
    from patchsim.render import sample_eot

    model = load_defended("gtsrb-cnn", defence=spec)
    cfg = AttackConfig(target=5, true_class=14, batch=4, val_size=4, face_resolution=32)
    attack = EOTAttack(driveby_scene, model, cfg, device="cpu")
    w = attack.init_params(torch.Generator().manual_seed(0))
    loss, _ = attack.loss(w, sample_eot(driveby_scene, 4, torch.Generator().manual_seed(1)))
    loss.backward()
    assert w.grad is not None and float(w.grad.abs().sum()) > 0
    rate, probs = attack.score(attack.sticker_from_params(w.detach()), attack.val_cond)
    assert probs.shape == (4, 43) and rate == float((probs.argmax(1) == 5).float().mean())
    clean_rate, clean = attack.score(None, attack.val_cond)  # behind the defence the clean sign still reads stop
    assert clean_rate == 0.0 and (clean.argmax(1) == 14).all()
