import re
import zlib

import numpy as np
import pytest
import torch

from patchsim.attack import AttackConfig, EOTAttack
from patchsim.objectives.losses import load_palette, nps_loss, targeted_margin, tv_loss, untargeted_ce
from patchsim.printing.pdf import PAPERS_MM, Sheet, write_pieces_pdf
from patchsim.printing.pieces import find_pieces
from patchsim.errors import PatchsimError
from patchsim.records import from_data
from patchsim.models import freeze, load
from patchsim.signs import draw_face

from conftest import SHARED


def _model():
    lisa = SHARED / "rp2" / "lisa_cnn.npz"
    if lisa.exists():
        return freeze(load("lisa-cnn", weights=lisa)), 12, 14
    return freeze(load("gtsrb-cnn")), 5, 14


def _attack(scene, **kw):
    model, target, true = _model()
    cfg = AttackConfig(**{"target": target, "true_class": true, "steps": 30, "batch": 8, "val_size": 16,
                          "val_every": 10, "face_resolution": 64, "seed": 3, **kw})
    return EOTAttack(scene, model, cfg)


def test_sticker_never_changes_pixels_outside_mask(driveby_scene):
    a = _attack(driveby_scene)
    w = a.init_params(torch.Generator().manual_seed(0))
    face = a.renderer.textured_face(a.sticker_from_params(w))
    outside = a.mask[0, 0] == 0
    assert torch.equal(face[0, :, outside], a.renderer.face[0, :, outside])
    assert (face[0, :3, ~outside] - a.renderer.face[0, :3, ~outside]).abs().max() > 0.1


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_poster_respects_budget(driveby_scene, norm):
    a = _attack(driveby_scene, mode="poster", norm=norm, eps=0.05)
    w = torch.randn(1, 3, 64, 64) * 10
    poster = a.sticker_from_params(w)
    delta = (poster - a.clean) * a.mask
    if norm == "linf":
        assert float(delta.abs().max()) <= 0.05 + 1e-6
    else:
        rms = float(torch.sqrt((delta**2).sum() / (3 * a.mask.sum())))
        assert rms <= 0.05 + 1e-6
    assert torch.equal(poster[..., a.mask[0, 0] == 0], a.clean[..., a.mask[0, 0] == 0])


def test_a_poster_that_keeps_the_legend_never_touches_white(driveby_scene):
    """--keep-legend: the white legend and border print exactly as the clean face; the red field changes."""
    a = _attack(driveby_scene, mode="poster", keep_legend=True, eps=0.1)
    poster = a.sticker_from_params(torch.randn(1, 3, 64, 64) * 10)
    face = a.renderer.face
    white = (face[0, :3].amin(0) >= 0.75) & (face[0, 3] > 0)
    red = (face[0, 0] > 0.5) & (face[0, 1] < 0.3) & (face[0, 3] > 0)
    assert white.sum() > 50 and red.sum() > 500
    assert torch.equal(poster[0][:, white], a.clean[0][:, white])
    assert (poster[0][:, red] - a.clean[0][:, red]).abs().amax() > 0.05
    with pytest.raises(PatchsimError, match="keep_legend"):
        AttackConfig(keep_legend=True)  # sticker mode: nothing to keep


def test_nps_zero_on_palette_and_grows_away():
    pal = load_palette()
    mask = torch.ones(1, 1, 2, 2)
    on = pal[7].view(1, 3, 1, 1).expand(1, 3, 2, 2)
    assert float(nps_loss(on, pal, mask)) < 1e-6
    away = [float(nps_loss((on + d).clamp(0, 1), pal, mask)) for d in (0.02, 0.05, 0.09)]
    assert 0 < away[0] < away[1] < away[2]
    neon = torch.tensor([0.0, 1.0, 0.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)  # saturated green: not printable
    assert float(nps_loss(neon, pal, mask)) > 0.1


def test_tv_and_objectives():
    m = torch.ones(1, 1, 8, 8)
    flat = torch.full((1, 3, 8, 8), 0.3)
    assert float(tv_loss(flat, m)) == 0.0 and float(tv_loss(torch.rand(1, 3, 8, 8), m)) > 0
    z = torch.tensor([[0.0, 10.0, 0.0]])
    assert float(targeted_margin(z, 1, kappa=5.0)) == -5.0 and float(targeted_margin(z, 0)) == 10.0
    assert float(untargeted_ce(z, 0)) < 1e-3 < float(untargeted_ce(z, 1))


def test_short_attack_raises_target_probability(driveby_scene):
    a = _attack(driveby_scene, steps=30, lr=0.5, early_stop=1.0)
    cond = a.val_cond
    _, before = a.score(None, cond)
    res = a.run(progress=False)
    _, after = a.score(res.sticker, cond)
    t = a.cfg.target
    gain = float(after[:, t].mean()) - float(before[:, t].mean())
    assert gain > 0.03 and float(after[:, t].mean()) > 2 * float(before[:, t].mean())
    assert len(res.history) == 3 and res.steps == 30


def test_resumed_run_matches_uninterrupted(driveby_scene, tmp_path):
    a = _attack(driveby_scene, steps=6, checkpoint_every=3, val_every=3)
    full = a.run(progress=False).sticker
    b = _attack(driveby_scene, steps=6, checkpoint_every=3, val_every=3)
    ck = tmp_path / "checkpoint.pt"
    part = b.run(checkpoint=ck, progress=False, stop_after=3)  # killed after step 3
    assert part.steps == 3 and ck.is_file()
    c = _attack(driveby_scene, steps=6, checkpoint_every=3, val_every=3)
    resumed = c.run(checkpoint=ck, resume=True, progress=False)
    assert torch.equal(resumed.sticker, full)
    assert [h.step for h in resumed.history] == [3, 6]
    again = _attack(driveby_scene, steps=6, checkpoint_every=3, val_every=3).run(checkpoint=ck, resume=True, progress=False)
    assert again.steps == 6 and torch.equal(again.sticker, full)  # resuming a finished run runs nothing more
    d = _attack(driveby_scene, steps=6, checkpoint_every=3, val_every=3, seed=4)
    with pytest.raises(PatchsimError, match="different settings: \\['seed'\\]"):
        d.run(checkpoint=ck, resume=True, progress=False)
    model, _, _ = _model()
    with torch.no_grad():
        next(model.parameters()).add_(0.01)  # another model: same architecture and classes, other weights
    other = EOTAttack(driveby_scene, model, c.cfg)
    assert other.model_sha256 != c.model_sha256
    with pytest.raises(PatchsimError, match="another model"):
        other.run(checkpoint=ck, resume=True, progress=False)


def test_config_rejects_bad_values():
    with pytest.raises(PatchsimError, match="mode = 'sticky'"):
        AttackConfig(mode="sticky")
    with pytest.raises(PatchsimError, match="unknown keys \\['stepz'\\]"):
        from_data(AttackConfig, {"stepz": 3}, "attack config")
    with pytest.raises(PatchsimError, match="must differ from the true class"):
        AttackConfig(target=14, true_class=14)


def _pdf_pages_and_images(data: bytes):
    boxes = [tuple(float(v) for v in m) for m in re.findall(rb"/MediaBox \[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)]
    draws = []
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            text = zlib.decompress(m.group(1))
        except zlib.error:
            continue
        # image placement: "w 0 0 -h 0 h cm /In Do" (flipped vertically by matplotlib)
        pat = rb"([\d.]+)\s+0\s+0\s+(-?[\d.]+)\s+-?[\d.]+\s+-?[\d.]+\s+cm\s*/I\d+ Do"
        draws += [(abs(float(w)), abs(float(h))) for w, h in re.findall(pat, text)]
    return boxes, draws


@pytest.mark.parametrize("paper", ["A4", "letter"])
def test_pdf_pages_and_pieces_at_true_size(tmp_path, paper):
    side = 750.0
    mask = np.zeros((750, 750), np.float32)
    mask[150:225, 165:585] = 1  # 420 x 75 mm
    mask[400:460, 300:360] = 1  # 60 x 60 mm
    pieces = find_pieces(mask, side)
    assert [(p.label, round(p.w_mm), round(p.h_mm)) for p in pieces] == [("A", 420, 75), ("B", 60, 60)]
    rgba = np.zeros((1500, 1500, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 255
    sheet = Sheet("locator", "a note", np.full((99, 89, 3), 255, np.uint8), 178.0, 198.0)
    pages = write_pieces_pdf(tmp_path / "s.pdf", rgba, side, pieces, paper, sheets=[sheet])
    boxes, draws = _pdf_pages_and_images((tmp_path / "s.pdf").read_bytes())
    w_mm, h_mm = PAPERS_MM[paper.lower()]
    assert len(boxes) == pages >= 4
    for bw, bh in boxes:
        assert abs(bw / 72 * 25.4 - w_mm) < 0.5 and abs(bh / 72 * 25.4 - h_mm) < 0.5
    mm = sorted((round(w / 72 * 25.4, 2), round(h / 72 * 25.4, 2)) for w, h in draws)
    # piece A (420 mm) is split into equal tiles that fit the page; B is one 60 x 60 mm image
    a_tiles = [d for d in mm if abs(d[1] - 75) < 0.5]
    assert abs(sum(w for w, _ in a_tiles) - 420) < 0.5
    assert any(abs(w - 60) < 0.5 and abs(h - 60) < 0.5 for w, h in mm)
    assert any(abs(w - 178) < 0.5 and abs(h - 198) < 0.5 for w, h in mm)  # the sheet at true size
    big = Sheet("poster", "", np.zeros((10, 10, 3), np.uint8), 300.0, 100.0)
    with pytest.raises(PatchsimError, match="'poster' \\(300 x 100 mm\\) does not fit"):
        write_pieces_pdf(tmp_path / "t.pdf", rgba, side, pieces, paper, sheets=[big])


def test_clean_face_palette_is_printable():
    face = draw_face("stop", 64)[None, :3]
    assert float(nps_loss(face, load_palette(), torch.ones(1, 1, 64, 64))) < 0.15


def test_attack_renderer_follows_the_config(driveby_scene):
    """The sticker's resolution is the config's alone; poster mode sticks the whole face."""
    from patchsim.models import freeze, load

    net = freeze(load("gtsrb-cnn"))
    poster = EOTAttack(driveby_scene, net, AttackConfig(mode="poster", target=5, steps=1, batch=2, val_size=2,
                                                        face_resolution=32))
    assert poster.renderer.face_resolution == 32 and poster.init_params(torch.Generator()).shape[-1] == 32
    assert torch.equal(poster.renderer.sticker_mask, (poster.renderer.face[:, 3:] > 0).float())
    sticker = EOTAttack(driveby_scene, net, AttackConfig(target=5, steps=1, batch=2, val_size=2, face_resolution=48))
    assert sticker.renderer.face_resolution == 48
    assert 0 < float(sticker.renderer.sticker_mask.mean()) < 0.5  # the scene's sticker region only


def test_attack_options_come_from_the_config_dataclass():
    import dataclasses

    from patchsim.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["attack"]
    flags = {a.dest: a for a in sub._actions}
    fields = {f.name for f in dataclasses.fields(AttackConfig)} - {"target", "true_class"}
    assert fields <= set(flags), fields - set(flags)
    for f in fields:
        assert flags[f].default is None  # the dataclass default applies
        assert f"(default {getattr(AttackConfig(), f) if getattr(AttackConfig(), f) is not None else 'none'})" \
            in flags[f].help
    args = parser.parse_args(["attack", "stop_driveby", "--kappa", "20", "--face-resolution", "64", "--mode", "poster"])
    assert (args.kappa, args.face_resolution, args.mode, args.steps) == (20.0, 64, "poster", None)


def test_ctrl_c_saves_a_checkpoint_and_says_how_to_resume(tmp_path, monkeypatch, capsys):
    """The first Ctrl-C ends the attack after the current step: checkpoint saved, exit 130, the exact
    command to continue printed; continuing finishes the run."""
    import os
    import signal

    from patchsim.cli import main

    real_step, calls = EOTAttack._step, []

    def step_then_ctrl_c(self, *a, **kw):
        out = real_step(self, *a, **kw)
        calls.append(out[0])
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(EOTAttack, "_step", step_then_ctrl_c)
    before = signal.getsignal(signal.SIGINT)  # Python's default, or SIG_IGN in a job started in the background
    out = tmp_path / "a"
    cmd = ["attack", "stop_driveby", "--steps", "5", "--batch", "2", "--val-size", "4", "--dpi", "30",
           "--no-sim-to-real", "--out", str(out)]
    assert main(cmd) == 130
    err = capsys.readouterr().err
    assert "attack stopped at step 2 of 5; checkpoint saved" in err
    assert "continue with: patchsim attack stop_driveby --steps 5" in err and err.rstrip().endswith("--resume")
    assert (out / "checkpoint.pt").is_file() and not (out / "attack.json").exists()
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 2
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back
    monkeypatch.setattr(EOTAttack, "_step", real_step)
    assert main(cmd) == 2  # the folder holds the interrupted run: not silently restarted
    assert main(cmd + ["--resume"]) == 0
    import json

    assert json.loads((out / "attack.json").read_text())["steps_run"] == 5


def test_stop_reason_known_answers():
    from patchsim.attack.eot import ValidationPoint, stop_reason

    def h(*pairs):
        return [ValidationPoint(s, v, 0.0, 0.0) for s, v in pairs]

    cfg = AttackConfig(early_stop=0.99, plateau_patience=75, plateau_delta=0.01)
    main_job = h((25, 0.8125), (50, 0.875), (75, 0.8906), (100, 0.875), (125, 0.8906))
    assert stop_reason(main_job, cfg) is None  # last gain at 75 (+1.6 points): 50 steps ago
    assert stop_reason(main_job + h((150, 0.8945)), cfg) == "plateau"  # +0.4 points is no gain: 75 steps
    assert stop_reason(main_job + h((150, 0.92)), cfg) is None  # a real gain restarts the wait
    assert stop_reason(h((25, 0.5), (50, 0.995)), cfg) == "success"
    assert stop_reason(main_job + h((150, 0.8945)), AttackConfig(plateau_patience=0)) is None  # disabled
    slow = h((25, 0.348), (50, 0.422), (75, 0.441), (100, 0.457), (125, 0.465), (150, 0.473), (175, 0.473))
    assert stop_reason(slow, cfg) is None  # under a point per validation, 1.6 points over 75 steps: progress
    assert stop_reason(slow + h((200, 0.470), (225, 0.474), (250, 0.476)), cfg) == "plateau"  # +0.3 over 75
    assert stop_reason([], cfg) is None


def test_attack_stops_on_a_plateau_and_says_why(driveby_scene):
    """A learning rate too small to move anything: validation success stays flat, the run stops after
    the patience instead of running its whole budget."""
    from patchsim.models import freeze, load

    cfg = AttackConfig(target=5, true_class=14, steps=40, batch=2, val_size=8, val_every=5, lr=1e-6,
                       plateau_patience=10, plateau_delta=0.01, face_resolution=32, seed=1)
    res = EOTAttack(driveby_scene, freeze(load("gtsrb-cnn")), cfg).run(progress=False)
    assert res.stop_reason == "plateau" and res.stopped_early and res.steps == 15
    assert [h.step for h in res.history] == [5, 10, 15]


def test_attack_can_start_from_a_sticker(tmp_path, driveby_scene):
    """--init-sticker: the optimiser's first sticker is the PNG's colours (identity printer: exactly, up
    to the clamp that keeps parameters finite; the inkjet printer: as near as its gamut allows); a missing
    file is a one-line error before any work."""
    import cv2

    from patchsim.attack.config import AttackConfig
    from patchsim.attack.eot import EOTAttack
    from patchsim.cli import main
    from patchsim.models import freeze, load
    from patchsim.printing.printer import inkjet_printer
    from patchsim.signs import draw_face_array

    png = tmp_path / "s.png"
    cv2.imwrite(str(png), cv2.cvtColor(draw_face_array("no_entry", 64)[..., :3], cv2.COLOR_RGB2BGR))
    model = freeze(load("gtsrb-cnn"))
    cfg = AttackConfig(target=5, true_class=14, val_size=2, face_resolution=32, init_sticker=str(png))
    from patchsim.io.stickers import load_sticker

    want = load_sticker(str(png), 32)[None]
    a = EOTAttack(driveby_scene, model, cfg, device="cpu")
    got = a.sticker_from_params(a.init_params(torch.Generator().manual_seed(0)))
    assert (got - want.clamp(0.02, 0.98)).abs().max() < 1e-5
    b = EOTAttack(driveby_scene, model, cfg, printer=inkjet_printer(), device="cpu")
    got = b.sticker_from_params(b.init_params(torch.Generator().manual_seed(0)))
    assert (got - want).abs().mean() < 0.08
    with pytest.raises(PatchsimError, match="init_sticker"):
        AttackConfig(mode="poster", init_sticker=str(png))
    assert main(["attack", "stop_driveby", "--init-sticker", str(tmp_path / "none.png"), "--out", str(tmp_path / "o")]) == 2
    assert not any((tmp_path / "o").glob("*"))


def test_resume_refuses_a_damaged_checkpoint(driveby_scene, tmp_path):
    """A checkpoint whose sticker parameters are NaN or of another shape, or whose step is not a count, is
    a one-line error, never a run that exits 0 with success 0."""
    from patchsim.io.interrupts import read_checkpoint, write_checkpoint

    ck = tmp_path / "checkpoint.pt"
    _attack(driveby_scene, steps=4, checkpoint_every=2, val_every=2).run(checkpoint=ck, progress=False, stop_after=2)
    good = read_checkpoint(ck)
    for change, said in ((lambda s: {**s, "params": torch.full_like(s["params"], float("nan"))}, "NaN"),
                         (lambda s: {**s, "params": s["params"][..., :5]}, "this attack's are"),
                         (lambda s: {**s, "step": "2"}, "step '2' is invalid")):
        write_checkpoint(ck, change(good))
        with pytest.raises(PatchsimError, match=said):
            _attack(driveby_scene, steps=4, checkpoint_every=2, val_every=2).run(checkpoint=ck, resume=True, progress=False)
