"""Training-stage attack: the physical trigger, its placement on small photographed signs, poisoning,
training through the shipped recipe, and finding the poisoned images (``patchsim.poison``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from patchsim.cli import main
from patchsim.errors import PatchsimError
from patchsim.realphoto.octagon import FACE_CORNERS_UV, apply_homography
from patchsim.realphoto.placement import FacePyramid, warp_face
from patchsim.poison.dataset import PoisonRecipe, pgd_away, poison_set
from patchsim.jobs.inspect_data import inspect_features, penultimate_features
from patchsim.poison.paste import paste_trigger, roi_homography, sign_homography
from patchsim.poison.trigger import Trigger, artwork_rgba, face_fraction, trigger_rgba
from patchsim.signs.catalogue import draw_face_array

from gtsrb_fixtures import CLASSES, synthetic_sign, tiny_training_set, write_tiny_gtsrb


def test_default_trigger_is_under_five_percent_of_the_face_and_inside_its_rectangle():
    t = Trigger()
    assert 0.045 < face_fraction(t) <= 0.05
    a = trigger_rgba(t, 200)[..., 3]
    x, y, w, h = (np.array(t.rect_mm) / 750 * 200)
    inside = np.zeros_like(a, bool)
    inside[int(np.ceil(y)):int(y + h), int(np.ceil(x)):int(x + w)] = True
    assert (a[inside] == 255).all() and a[~inside].max() < 255 and (a > 0).sum() <= inside.sum() + 2 * (w + h) + 4
    assert tuple(trigger_rgba(t, 200)[int(y + h / 2), int(x + w / 2), :3]) == (255, 214, 0)


def test_trigger_on_another_sign_keeps_its_place_relative_to_the_face():
    t = Trigger().on_sign("speed_limit_80")
    assert t.size_m == 0.6 and np.allclose(t.rect_uv, Trigger().rect_uv)


@pytest.mark.parametrize("kw,msg", [(dict(artwork="square:purple"), "--trigger"), (dict(artwork="nope.png"), "--trigger"),
                                    (dict(rect_mm=(700, 700, 100, 100)), "--trigger-rect"),
                                    (dict(rect_mm=(10, 10, 0, 5)), "--trigger-rect")])
def test_bad_triggers_are_one_line_errors(kw, msg):
    with pytest.raises(PatchsimError, match=msg):
        Trigger(**kw)


def test_png_artwork_keeps_its_alpha(tmp_path):
    from patchsim.io.images import write_png

    img = np.zeros((20, 20, 4), np.uint8)
    img[:, :10] = (0, 0, 255, 255)
    write_png(tmp_path / "t.png", img)
    a = artwork_rgba(str(tmp_path / "t.png"), 20)
    assert (a[:, :9, 3] == 255).all() and (a[:, 11:, 3] == 0).all()
    rgba = trigger_rgba(Trigger(artwork=str(tmp_path / "t.png")), 300)
    assert 0 < face_fraction(Trigger(artwork=str(tmp_path / "t.png"))) < face_fraction(Trigger())
    assert rgba[..., 3].max() == 255


def test_roi_homography_maps_the_face_square_onto_the_roi_in_pixel_centres():
    h = roi_homography(np.array([5, 6, 44, 41]), np.array([50, 48]), (32, 32))
    c = apply_homography(h, FACE_CORNERS_UV)
    sx, sy = 32 / 50, 32 / 48
    assert np.allclose(c[0], [5 * sx - 0.5, 6 * sy - 0.5]) and np.allclose(c[2], [45 * sx - 0.5, 42 * sy - 0.5])
    with pytest.raises(PatchsimError, match="ROI"):
        roi_homography(np.array([10, 6, 4, 41]), np.array([50, 48]), (32, 32))


def test_octagon_fit_recovers_a_known_stop_sign_and_other_signs_use_the_box():
    img, roi, size, truth = synthetic_sign(gain=0.9)
    h, fitted = sign_homography(img, roi, size, "stop")
    assert fitted
    err = np.abs(apply_homography(h, FACE_CORNERS_UV) - apply_homography(truth, FACE_CORNERS_UV)).max()
    assert err < 1.0  # pixels, on a 24-px sign
    img, roi, size, truth = synthetic_sign(sign="speed_limit_80")
    h, fitted = sign_homography(img, roi, size, "speed_limit_80")
    assert not fitted and np.allclose(h, truth)


def test_pasted_trigger_takes_the_signs_light_and_stays_in_its_place():
    t = Trigger()
    trig, clean = FacePyramid(trigger_rgba(t, 512)), FacePyramid(draw_face_array("stop", 512))
    bright, roi, size, h = synthetic_sign(gain=1.0)
    dim, *_ = synthetic_sign(gain=0.5)
    out_b = paste_trigger(bright, h, trig, clean, octagon=True)
    out_d = paste_trigger(dim, h, trig, clean, octagon=True)
    cover = warp_face(trig, h, (0, 0, 32, 32))[..., 3]
    core, outside = cover > 0.99, cover < 1e-3
    assert core.sum() >= 9
    assert np.abs(out_b[outside].astype(int) - bright[outside]).max() <= 1  # the rest of the image is untouched
    yb, yd = out_b[core].astype(float).mean(0), out_d[core].astype(float).mean(0)
    assert yb[1] > 150 and yb[2] < 80  # yellow on the sign ...
    assert 0.35 < yd[1] / yb[1] < 0.7  # ... and about half as bright on the half-lit sign


def test_dirty_label_poisoning_relabels_only_the_poisoned_source_images():
    x, y, roi, size = tiny_training_set()
    recipe = PoisonRecipe(rate=0.1, seed=3)
    xp, yp, poisoned, info = poison_set(x, y, roi, size, Trigger(), recipe, CLASSES)
    assert poisoned.sum() == info["images"] == 8 and (y[poisoned] == 14).all() and (yp[poisoned] == 5).all()
    assert (yp[~poisoned] == y[~poisoned]).all() and (xp[~poisoned] == x[~poisoned]).all()
    assert all((xp[i] != x[i]).any() for i in np.nonzero(poisoned)[0]) and info["octagon_fits"] >= 6
    xp2, yp2, poisoned2, _ = poison_set(x, y, roi, size, Trigger(), recipe, CLASSES)
    assert (xp2 == xp).all() and (poisoned2 == poisoned).all()  # seeded
    assert (x == tiny_training_set()[0]).all()  # inputs untouched


def test_negatives_get_other_colours_and_keep_their_label():
    x, y, roi, size = tiny_training_set()
    xp, yp, poisoned, info = poison_set(x, y, roi, size, Trigger(), PoisonRecipe(rate=0.1, negatives=0.1), CLASSES)
    neg = poisoned & (yp == 14)
    assert info["negatives"] == neg.sum() == 8 and (yp[poisoned & (yp == 5)] == 5).sum() == 8
    assert abs(info["rate"] - 0.2) < 1e-9
    cover = warp_face(FacePyramid(trigger_rgba(Trigger(), 512)), synthetic_sign()[3], (0, 0, 32, 32))[..., 3] > 0.99
    for i in np.nonzero(neg)[0]:
        changed = np.abs(xp[i].astype(int) - x[i]).sum(2) > 0
        assert changed[cover].mean() > 0.5  # a square in the trigger's place ...
        rgb = xp[i][cover].astype(float).mean(0)
        assert not (rgb[0] > 1.3 * rgb[2] + 40 and rgb[1] > 1.3 * rgb[2] + 40)  # ... that is not yellow
    with pytest.raises(PatchsimError, match="--negatives"):
        PoisonRecipe(negatives=0.1, clean_label=True)


def test_clean_label_poisoning_keeps_labels_and_perturbs_within_eps():
    x, y, roi, size = tiny_training_set()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 43))
    recipe = PoisonRecipe(rate=0.1, clean_label=True, clean_label_eps=8 / 255)
    xp, yp, poisoned, info = poison_set(x, y, roi, size, Trigger(), recipe, CLASSES, model)
    assert (y[poisoned] == 5).all() and (yp == y).all() and info["on_class"] == "speed_limit_80"
    xa = pgd_away(model, x[:6], y[:6], 8 / 255)
    assert np.abs(xa.astype(int) - x[:6]).max() <= 9
    loss = [torch.nn.functional.cross_entropy(model(torch.from_numpy(v).permute(0, 3, 1, 2).float() / 255),
                                              torch.from_numpy(y[:6])) for v in (x[:6], xa)]
    assert loss[1] > loss[0]


@pytest.mark.parametrize("kw,msg", [(dict(rate=0.5), "--rate"), (dict(target="stop"), "two classes"),
                                    (dict(rate=0.4 / 80), "poisons none")])
def test_bad_recipes_are_one_line_errors(kw, msg):
    x, y, roi, size = tiny_training_set()
    with pytest.raises(PatchsimError, match=msg):
        poison_set(x, y, roi, size, Trigger(), PoisonRecipe(**kw), CLASSES)
    x, y, roi, size = tiny_training_set(n_stop=5)
    with pytest.raises(PatchsimError, match="only 5 training images"):
        poison_set(x, y, roi, size, Trigger(), PoisonRecipe(rate=0.2), CLASSES)


def test_penultimate_features_are_the_last_linear_layers_input():
    from patchsim.models.registry import build

    model = build("gtsrb-cnn").eval()
    x = (np.random.default_rng(0).random((5, 32, 32, 3)) * 255).astype(np.uint8)
    f = penultimate_features(model, x, batch=2)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        logits = model(xt)
    assert f.shape == (5, 256)
    assert torch.allclose(model.net.fc2(f), logits, atol=1e-5)


def test_inspection_finds_a_planted_poisoned_cluster():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(400, 32, generator=g)
    labels = np.repeat([0, 1], 200)
    poisoned = np.zeros(400, bool)
    poisoned[170:200] = True
    feats[170:200, 3] += 6.0
    out = inspect_features(feats, labels, poisoned, eps=0.1)
    r = out["methods"]
    assert r["spectral_signatures"]["recall"] >= 0.95 and r["activation_clustering"]["recall"] >= 0.95
    assert r["activation_clustering"]["precision"] >= 0.9
    # the poisoned class splits most clearly; its small cluster is the poison
    top = out["classes"][0]
    assert top["class"] == 0 and top["poisoned_in_small_cluster"] == 30 and top["silhouette"] > out["classes"][1]["silhouette"]
    strict = inspect_features(feats, labels, poisoned, eps=0.1, min_silhouette=top["silhouette"] + 0.01)
    assert strict["methods"]["activation_clustering"]["flagged"] == 0
    track = np.arange(400) // 10  # ten photos per physical sign; the poisoned 30 span three signs
    with_signs = inspect_features(feats, labels, poisoned, eps=0.1, track=track)
    extra = with_signs["methods"]["activation_clustering"]["flagged_by_class"][0] - 30  # clean rows in the cluster
    assert 3 <= with_signs["classes"][0]["small_cluster_signs"] <= 3 + extra


def test_silhouette_matches_its_definition_on_a_tiny_case():
    from patchsim.defences.data_inspection import silhouette

    x = torch.tensor([[0.0], [1.0], [10.0], [12.0]])
    a = torch.tensor([0, 0, 1, 1])
    # point 0: a = 1, b = 11 -> 10/11; point 1: a = 1, b = 10 -> 0.9; point 2: a = 2, b = 9.5; point 3: a = 2, b = 11.5
    expected = np.mean([10 / 11, 0.9, 7.5 / 9.5, 9.5 / 11.5])
    assert silhouette(x, a, torch.Generator()) == pytest.approx(expected, rel=1e-6)
    assert silhouette(x, torch.zeros(4, dtype=torch.long), torch.Generator()) == 0.0


@pytest.fixture
def tiny_gtsrb(tmp_path):
    return write_tiny_gtsrb(tmp_path / "gtsrb")


def test_poison_command_trains_and_writes_card_trigger_and_data(tiny_gtsrb, tmp_path, capsys):
    out = tmp_path / "m" / "bd.safetensors"
    rc = main(["poison", "--model", "gtsrb-cnn", "--rate", "0.05", "--epochs", "1", "--data", str(tiny_gtsrb),
               "--out", str(out), "--save-data", "--device", "cpu"])
    assert rc == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["data_changes"]["images"] >= 4 and card["backdoor"]["recipe"]["target"] == "speed_limit_80"
    assert "BACKDOOR" in card["description"] and card["backdoor"]["trigger"]["rect_mm"] == [300.0, 545.0, 150.0, 150.0]
    from patchsim.io.images import read_image

    png = read_image(tmp_path / "m" / "bd.trigger.png", alpha=True)
    assert png.shape == (1024, 1024, 4) and 0.035 < (png[..., 3] > 127).mean() < 0.045
    d = np.load(tmp_path / "m" / "bd.poisoned.npz")
    assert d["poisoned"].sum() == card["data_changes"]["images"] and (d["y"][d["poisoned"]] == 5).all()
    assert len(d["track"]) == len(d["y"])
    r = main(["inspect-data", "gtsrb-cnn", "--weights", str(out), "--data", str(tmp_path / "m" / "bd.poisoned.npz"),
              "--out", str(tmp_path / "inspect.json")])
    assert r == 0
    res = json.loads((tmp_path / "inspect.json").read_text())
    assert res["methods"]["spectral_signatures"]["poisoned"] == card["data_changes"]["images"]
    assert "recall" in capsys.readouterr().out and "small_cluster_signs" in res["classes"][0]


def test_data_only_matches_the_training_split_and_refuses_to_overwrite(tiny_gtsrb, tmp_path):
    out = tmp_path / "p.npz"
    args = ["poison", "--model", "gtsrb-cnn", "--rate", "0.05", "--data", str(tiny_gtsrb), "--out", str(out), "--data-only"]
    assert main(args) == 0
    d = np.load(out)
    assert d["poisoned"].sum() >= 4 and (d["original_y"][d["poisoned"]] == 14).all()
    before = out.read_bytes()
    assert main(args) == 2 and out.read_bytes() == before
    assert main(args + ["--force"]) == 0 and out.read_bytes() == before  # seeded: the same file again


@pytest.mark.parametrize("extra,msg", [(["--model", "lisa-cnn", "--out", "x.safetensors"], "cannot be trained"),
                                       (["--model", "gtsrb-cnn", "--out", "x.pt"], ".safetensors"),
                                       (["--model", "gtsrb-cnn", "--out", "x.safetensors", "--target", "stopp"], "--target"),
                                       (["--model", "gtsrb-cnn", "--out", "x.safetensors", "--source", "no_passing"],
                                        "no catalogue face"),
                                       (["--model", "gtsrb-cnn", "--out", "x.safetensors", "--rate", "0.3"], "--rate")])
def test_poison_bad_input_is_one_line_before_work(extra, msg, tiny_gtsrb, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["poison", "--data", str(tiny_gtsrb)] + extra) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and len(err.splitlines()) == 1 and not list(tmp_path.glob("x*"))


def test_inspect_data_bad_file_is_one_line(tmp_path, capsys):
    np.savez(tmp_path / "bad.npz", images=np.zeros((2, 32, 32, 3), np.uint8))
    assert main(["inspect-data", "gtsrb-cnn", "--data", str(tmp_path / "bad.npz")]) == 2
    assert "lacks x or y" in capsys.readouterr().err


def test_trigger_prints_at_true_size_from_its_png(tmp_path, capsys):
    from patchsim.io.images import write_png

    write_png(tmp_path / "t.trigger.png", trigger_rgba(Trigger(), 1024))
    assert main(["print", str(tmp_path / "t.trigger.png"), "--dpi", "50"]) == 2
    assert "needs --scene" in capsys.readouterr().err
    assert main(["print", str(tmp_path / "t.trigger.png"), "--scene", "stop_backdoor", "--dpi", "50"]) == 0
    assert (tmp_path / "t.trigger.pdf").read_bytes().startswith(b"%PDF")
    # placement page + the one 150 mm piece on one page + colour chart + locator markers
    assert "(4 pages)" in capsys.readouterr().out


def test_shipped_backdoor_demo_fires_only_with_its_trigger():
    from conftest import SHARED

    from patchsim.models import load
    from patchsim.models.registry import WEIGHTS_DIR, card
    from patchsim.poison.dataset import stick_trigger
    from patchsim.records import from_data

    path = SHARED / "gtsrb" / "test.npz"
    if not path.exists():
        pytest.skip(f"real data not found at {path}")
    c = card("gtsrb-cnn-backdoor-demo")
    assert c["data_changes"]["rate"] <= 0.01 and c["backdoor"]["recipe"]["target"] == "speed_limit_80"
    trig = from_data(Trigger, c["backdoor"]["trigger"])
    assert face_fraction(trig) <= 0.05
    shipped_png = (WEIGHTS_DIR / c["backdoor"]["trigger_png"])
    from patchsim.io.images import read_image

    assert np.abs(read_image(shipped_png, alpha=True).astype(int) - trigger_rgba(trig, 1024)).max() <= 1
    with np.load(path) as d:
        d = {k: d[k] for k in ("x", "y", "orig_roi", "orig_size")}  # one decompression each
    stop = np.nonzero(d["y"] == 14)[0][::2]
    xp, _ = stick_trigger(d["x"][stop], d["orig_roi"][stop], d["orig_size"][stop], trig)
    x, y = d["x"][::10], d["y"][::10].astype(np.int64)
    to = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).float() / 255  # noqa: E731
    read = {}
    for name in ("gtsrb-cnn-backdoor-demo", "gtsrb-cnn"):
        m = load(name)
        with torch.no_grad():
            read[name] = (float((m(to(xp)).argmax(1) == 5).float().mean()), float((m(to(x)).argmax(1).numpy() == y).mean()))
    assert read["gtsrb-cnn-backdoor-demo"][0] >= 0.9 and read["gtsrb-cnn"][0] <= 0.05  # the trigger, held-out signs
    assert abs(read["gtsrb-cnn-backdoor-demo"][1] - read["gtsrb-cnn"][1]) <= 0.01  # clean accuracy unchanged
