"""--style vinyl / graffiti: stickers of flat vinyl colours, optimised through the straight-through
assignment, exported with SVG cut files at true size."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest
import torch

from patchsim.attack import AttackConfig, EOTAttack
from patchsim.cli import main
from patchsim.errors import PatchsimError
from patchsim.models import freeze, load
from patchsim.printing.vinyl import REGISTRATION_MM, style_palette


def test_a_vinyl_sticker_is_k_vinyl_colours_and_its_gradient_reaches_every_colour(driveby_scene):
    model = freeze(load("gtsrb-cnn"))
    cfg = AttackConfig(target=5, true_class=14, batch=4, val_size=2, face_resolution=32, style="vinyl:3")
    a = EOTAttack(driveby_scene, model, cfg, device="cpu")
    w = a.init_params(torch.Generator().manual_seed(0))
    assert w.shape == (1, 9, 32, 32)  # a logit per palette colour
    sticker = a.sticker_from_params(w)
    inside = a.mask[0, 0] > 0
    from patchsim.signs import cut_pixels, sticker_mask

    soft = sticker_mask(driveby_scene, 32)[0]
    assert ((soft > 0) & (soft < 1)).any()  # the layout's edges cut through pixels at this size
    assert torch.equal(a.mask[0, 0], cut_pixels(soft).float())  # what is rendered is what is cut: whole pixels
    assert torch.equal(a.renderer.sticker_mask, a.mask)
    px = sticker[0][:, inside].T.detach()
    palette = style_palette("vinyl").tensor()
    assert float((px[:, None] - palette[None]).abs().amax(-1).min(1).values.max()) < 1e-6
    assert len({tuple(v) for v in px.numpy().round(5).tolist()}) <= 3
    from patchsim.render import sample_eot

    loss, _ = a.loss(w, sample_eot(driveby_scene, 4, torch.Generator().manual_seed(1)))
    loss.backward()
    g = w.grad[0][:, inside]
    assert torch.isfinite(g).all() and (g.abs().sum(1) > 0).sum() >= 3  # the kept colours all get a gradient
    graffiti = EOTAttack(driveby_scene, model, AttackConfig(target=5, true_class=14, val_size=2, face_resolution=32,
                                                            style="graffiti"), device="cpu")
    s = graffiti.sticker_from_params(graffiti.init_params(torch.Generator().manual_seed(0)))[0][:, inside]
    bw = style_palette("graffiti").tensor()
    assert float((s.T[:, None] - bw[None]).abs().amax(-1).min(1).values.max()) < 1e-6


def test_config_refuses_styles_that_do_not_fit():
    for kw, field in ((dict(style="paint"), "style"), (dict(style="vinyl", mode="poster"), "style"),
                      (dict(style="vinyl", init_sticker="a.png"), "init_sticker"),
                      (dict(vinyl_palette="p.json"), "vinyl_palette")):
        with pytest.raises(PatchsimError, match=field):
            AttackConfig(**kw)


def test_vinyl_attack_writes_true_size_cut_files_that_cover_the_sticker(tmp_path):
    out = tmp_path / "v"
    assert main(["attack", "stop_driveby", "--style", "vinyl:3", "--steps", "2", "--batch", "4", "--val-size", "4",
                 "--face-resolution", "32", "--no-sim-to-real", "--dpi", "50", "--out", str(out)]) == 0
    rec = json.loads((out / "attack.json").read_text())
    assert rec["config"]["style"] == "vinyl:3" and rec["printer_profile"]["name"] == "vinyl"
    cuts = sorted(out.glob("cut_*.svg"))
    palette = style_palette("vinyl")
    assert 1 <= len(cuts) <= 3
    side = 750.0  # stop_driveby's sign, mm
    sticker = cv2.cvtColor(cv2.imread(str(out / "sticker.png"), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)
    n = sticker.shape[0]
    centres = ((np.arange(32) + 0.5) * n / 32).astype(int)
    at_centres = sticker[centres][:, centres, :3].astype(int)  # each sticker pixel's colour at print size
    covered = np.zeros((32, 32), int)
    for f in cuts:
        root = ET.parse(f).getroot()
        assert root.get("width") == f"{side + 2 * REGISTRATION_MM:.3f}mm"
        name = f.stem[4:]
        colour = np.round(np.asarray(palette.srgb[palette.names.index(name)]) * 255).astype(int)
        d = root.find("{http://www.w3.org/2000/svg}path[@id='cut-%s']" % name).get("d")
        m = np.zeros((32 * 8, 32 * 8), np.uint8)  # rasterise the outlines at 8 px per sticker pixel
        for loop in d.split(" Z"):
            if loop.strip():
                pts = np.array([[float(v) for v in p.split()] for p in loop.strip()[2:].split(" L ")])
                pts = np.round((pts - REGISTRATION_MM) * 8 * 32 / side).astype(np.int32)
                m ^= cv2.fillPoly(np.zeros_like(m), [pts], 1)  # even-odd
        mine = m[4::8, 4::8] > 0  # the sticker pixels' centres inside this colour's outlines
        assert mine.any() and (at_centres[mine] == colour).all()  # cut in the colour the sticker has there
        covered += mine
    from patchsim.scene import load_scene
    from patchsim.signs import cut_pixels, sticker_mask

    want = cut_pixels(sticker_mask(load_scene("stop_driveby"), 32)[0]).numpy()  # the pixels the attack rendered
    assert np.array_equal(covered > 0, want) and covered.max() == 1  # every one in exactly one colour
    rgb = sticker[..., :3][sticker[..., 3] > 0].reshape(-1, 3).astype(float)
    colours = np.round(np.asarray(palette.srgb) * 255)
    assert np.abs(rgb[:, None] - colours[None]).max(-1).min(1).max() == 0  # flat colours at print resolution


def test_vinyl_attack_refuses_an_inkjet_printer(tmp_path, capsys):
    assert main(["attack", "stop_driveby", "--style", "graffiti", "--printer", "inkjet", "--out", str(tmp_path / "o")]) == 2
    assert "--printer: inkjet prints inkjet stickers" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
