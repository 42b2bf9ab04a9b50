"""Real photos in the optimiser: the differentiable placement matches the scoring path, gradients reach
the sticker, scoring sets are refused; the realism camera fields; the sim-to-real table."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from patchsim.realphoto.batches import composite_real, prepare_real_photos, relight_colours
from patchsim.errors import PatchsimError
from patchsim.io.images import write_png

from identity import identity_conditions
from test_realphoto_placement import PERSPECTIVE, perspective_photo


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("attacker")
    write_png(d / "a.png", perspective_photo(PERSPECTIVE))
    write_png(d / "b.png", perspective_photo([[150, 80], [300, 80], [300, 230], [150, 230]], background=(180, 190, 200)))
    (d / "corners.json").write_text(json.dumps({"a.png": PERSPECTIVE}))
    return d


def test_scoring_sets_are_refused_as_attacker_photos():
    with pytest.raises(PatchsimError, match="scoring set"):
        prepare_real_photos("rp2", 32, 0.1)


def test_empty_sticker_leaves_the_clean_crop(photo_folder):
    b = prepare_real_photos(str(photo_folder), 32, 0.1, relight="tone")
    assert len(b) == 2
    out = composite_real(b, torch.arange(2), torch.rand(1, 3, 64, 64), torch.zeros(1, 1, 64, 64))
    assert torch.allclose(out, torch.nn.functional.avg_pool2d(b.clean, 2), atol=1e-6)


def test_validated_relighting_gives_every_sign_once_per_model(photo_folder):
    """The optimiser aims at every relighting model that passed validation: each sign comes once per
    per-channel survivor, with that model's light."""
    from patchsim.realphoto.batches import real_relight_models

    models = real_relight_models("validated")
    b = prepare_real_photos(str(photo_folder), 32, 0.1)
    assert len(b) == 2 * len(models) and b.names[0].endswith("@" + models[0])
    assert "reap_lab" not in models and real_relight_models("affine") == ("affine",)
    if len(models) > 1:  # different models, different lights for the same sign
        assert not torch.allclose(b.relight[0], b.relight[1])


def test_gradient_reaches_the_sticker_only_inside_the_mask(photo_folder):
    b = prepare_real_photos(str(photo_folder), 32, 0.1, relight="tone")
    printed = torch.full((1, 3, 64, 64), 0.5, requires_grad=True)
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 20:40, 20:44] = 1
    composite_real(b, torch.tensor([0, 1, 0]), printed, mask).sum().backward()
    g = printed.grad.abs().sum(1)[0]
    assert g[20:40, 20:44].sum() > 0 and g[mask[0, 0] == 0].abs().max() == 0


def test_differentiable_placement_matches_the_scoring_path(photo_folder):
    """The optimiser's torch placement and evaluate-photos' OpenCV placement of the same printed sticker
    on the same photo give nearly the same 32-px detector crop."""
    from patchsim.objectives.goals import Goal
    from patchsim.models import load
    from patchsim.evaluate.photos import PhotoScorer
    from patchsim.realphoto.sources import photo_source

    n = 256
    st = np.zeros((n, n, 4), np.uint8)
    st[60:180, 40:200] = (20, 200, 60, 255)
    st[100:140, 80:160] = (240, 220, 30, 255)
    sp = photo_source(str(photo_folder))[0]
    scorer = PhotoScorer(st, st, load("gtsrb-cnn"), Goal(14), "stop", "tone", 0.1)
    _, crops = scorer.crops(sp)
    b = prepare_real_photos(str(photo_folder), 32, 0.1, supersample=4, relight="tone")
    t = torch.from_numpy(st).permute(2, 0, 1)[None].float() / 255
    mine = composite_real(b, torch.tensor([0]), t[:, :3], t[:, 3:])[0].permute(1, 2, 0).numpy()
    ref = crops["relit"].astype(np.float32) / 255
    assert np.abs(mine - ref).mean() < 0.02, np.abs(mine - ref).mean()
    assert np.abs(ref - crops["clean"] / 255).mean() > 0.05  # the sticker does show


def test_relight_colours_is_the_fitted_map():
    from patchsim.realphoto.relight import fit_relight

    rng = np.random.default_rng(2)
    ref = rng.random((500, 3))
    for method in ("tone", "physical", "affine"):
        fit = fit_relight(ref, 0.05 + 0.8 * ref**1.3, method)
        x = torch.rand(1, 3, 4, 4, requires_grad=True)
        lut = fit(np.linspace(0, 1, 129)[:, None].repeat(3, 1)).T
        got = relight_colours(x, torch.tensor(lut, dtype=torch.float32)[None])
        want = fit(x[0].detach().permute(1, 2, 0).numpy())
        assert np.abs(got[0].detach().permute(1, 2, 0).numpy() - want).max() < 2e-3, method
        got.sum().backward()
        live = (got > 0.02) & (got < 0.98)  # where the map is not clipped it rises: the gradient reaches x
        assert (x.grad[live] > 0).all() and live.sum() > 20, method


def test_realism_fields_identity_and_black_level():
    from functools import partial

    from patchsim.effects import black_level, white_balance
    from patchsim.render.camera import tone

    img = torch.rand(2, 3, 8, 8)
    cond = identity_conditions(2)
    base = tone(img, cond.exposure_ev, cond.gamma)
    wb = [partial(white_balance.render, wb_red=cond.wb_red, wb_blue=cond.wb_blue)]
    def black(b):
        return [partial(black_level.render, black_level=b)]

    assert torch.equal(tone(img, cond.exposure_ev, cond.gamma, wb, black(cond.black_level)), base)
    lifted = tone(img, cond.exposure_ev, cond.gamma, wb, black(torch.full((2,), 0.1)))
    assert torch.allclose(lifted, 0.1 + 0.9 * base)
    stretched = tone(img, cond.exposure_ev, cond.gamma, wb, black(torch.full((2,), -0.4)))
    assert stretched.min() >= 0 and stretched.max() <= 1 and torch.allclose(stretched, (1.4 * base - 0.4).clamp(0, 1))
    red = tone(img, cond.exposure_ev, cond.gamma,
               [partial(white_balance.render, wb_red=torch.full((2,), 1.5), wb_blue=torch.ones(2))])
    assert (red[:, 0] >= base[:, 0] - 1e-6).all() and torch.equal(red[:, 1:], base[:, 1:])


def test_independent_simulator_applies_the_realism_fields(driveby_scene):
    from patchsim.simulator.camera_sim import _tone

    lin = np.full((4, 4, 3), 0.2, np.float32)
    c = {"exposure_ev": 0.0, "gamma": 1.0, "black_level": 0.0, "wb_red": 1.0, "wb_blue": 1.0}
    plain = _tone(lin, c).astype(int)
    lifted = _tone(lin, {**c, "black_level": 0.2}).astype(int)
    assert np.abs(lifted - np.round(0.2 * 255 + 0.8 * plain)).max() <= 1
    crushed = _tone(np.full((2, 2, 3), 0.01, np.float32), {**c, "black_level": -0.5})
    assert (crushed == 0).all()  # a negative black level (contrast stretch) clips, never wraps around
    warm = _tone(lin, {**c, "wb_red": 1.5, "wb_blue": 0.7}).astype(int)
    assert warm[0, 0, 0] > plain[0, 0, 0] and warm[0, 0, 2] < plain[0, 0, 2] and warm[0, 0, 1] == plain[0, 0, 1]


def test_config_checks_real_fraction():
    from patchsim.attack.config import AttackConfig

    with pytest.raises(PatchsimError, match="real_fraction"):
        AttackConfig(real_fraction=0.3)
    with pytest.raises(PatchsimError, match="real_fraction"):
        AttackConfig(real_photos="x", real_fraction=1.0)


def test_attack_mixes_real_photos_and_reports_sim_to_real(driveby_scene, photo_folder):
    """A two-step attack with half of each batch on attacker photos, then the sim-to-real table scored
    on a (scoring) folder: every row is filled and in [0, 1]."""
    from patchsim.attack.config import AttackConfig
    from patchsim.attack.eot import EOTAttack, held_out_success
    from patchsim.objectives.goals import Goal
    from patchsim.printing.export import print_images
    from patchsim.evaluate.sim_to_real import sim_to_real
    from patchsim.models import freeze, load
    from patchsim.printing.printer import inkjet_printer

    cfg = AttackConfig(target=5, steps=2, batch=4, val_size=4, face_resolution=32, real_photos=str(photo_folder),
                       real_fraction=0.5)
    real = prepare_real_photos(str(photo_folder), 32, driveby_scene.crop.margin)
    att = EOTAttack(driveby_scene, freeze(load("gtsrb-cnn")), cfg, printer=inkjet_printer(), real=real)
    assert att.n_real == 2
    res = att.run(progress=False)
    rgba = print_images(driveby_scene, res.sticker, att.clean, "sticker", 60.0)[0]
    t = sim_to_real(driveby_scene, att.model, Goal(cfg.true_class, cfg.target), held_out_success(att, res.sticker), rgba,
                    inkjet_printer(), sources=[str(photo_folder)])
    assert 0 <= t.held_out_renders <= 1 and 0 <= t.independent_simulator <= 1
    assert t.independent_protocol == "driveby"
    row = t.photos[str(photo_folder)]
    assert row.signs == 2 and 0 <= row.relit <= 1 and 0 <= row.raw <= 1


def test_photo_response_none_is_identity_and_sim_agrees():
    """response_id -1 changes nothing; the optimiser's torch map and the simulator's numpy table agree
    for every 8-bit level."""
    from patchsim.simulator.camera_sim import _photo_response_lut
    from patchsim.render.photo_response import apply_photo_response, load_responses

    y = torch.rand(3, 3, 5, 5)
    assert torch.equal(apply_photo_response(y, torch.full((3,), -1)), y)
    k = len(load_responses()[1]) - 1
    levels = torch.arange(256, dtype=torch.float32).div(255).view(1, 1, 1, 256).expand(1, 3, 1, 256)
    mine = apply_photo_response(levels.contiguous(), torch.tensor([k]))[0, :, 0].mul(255).round().numpy()
    assert np.abs(mine - _photo_response_lut(k).astype(np.float32)).max() <= 1
    with pytest.raises(PatchsimError, match="beyond"):
        apply_photo_response(y, torch.tensor([0, 10**6, -1]))


def test_photo_responses_sampled_only_when_asked(driveby_scene, gen):
    import dataclasses

    from patchsim.render import sample_eot
    from patchsim.scene import RealismConfig

    plain = sample_eot(driveby_scene, 64, torch.Generator().manual_seed(5))
    assert (plain.response_id == -1).all()
    half = sample_eot(dataclasses.replace(driveby_scene, realism=RealismConfig(0.5)), 64, torch.Generator().manual_seed(5))
    took = half.response_id >= 0
    assert 10 < int(took.sum()) < 54
    assert (half.black_level[took] == 0).all() and (half.wb_red[took] == 1).all()
    # everything drawn before the realism fields is the same stream
    assert torch.equal(half.distance_m, plain.distance_m) and torch.equal(half.noise_seed, plain.noise_seed)


def test_scene_realism_section_is_checked(tmp_path):
    from patchsim.errors import SceneError
    from patchsim.scene import load_scene

    src = (Path(__file__).resolve().parents[1] / "scenes" / "stop_driveby.yaml").read_text()
    bad = tmp_path / "s.yaml"
    bad.write_text(src + "\nrealism:\n  photo_responses: 1.5\n")
    with pytest.raises(SceneError, match="realism.photo_responses"):
        load_scene(bad)
    bad.write_text(src + "\nrealism:\n  photo_response: 0.5\n")
    with pytest.raises(SceneError, match="photo_response"):
        load_scene(bad)
