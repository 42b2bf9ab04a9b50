"""The printer model: realistic default, gamut, spec parsing, and what the attack and exports do with it."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from patchsim.errors import PatchsimError
from patchsim.records import from_versioned, json_bytes
from patchsim.printing.printer import (INKJET_INK_BLACK, INKJET_PAPER_WHITE, PrinterModel, inkjet_printer,
                                     printer_from_spec)
from patchsim.io.stickers import printed_rgba


def colours(rows):
    return torch.tensor(rows, dtype=torch.float32).T.reshape(1, 3, -1, 1)


def test_inkjet_has_paper_white_ink_black_and_keeps_greys_grey():
    p = inkjet_printer()
    for printed in (p.device, p):  # sent without colour management, and through a colour-managed driver
        out = printed(colours([[0, 0, 0], [1, 1, 1], [0.5, 0.5, 0.5]])).reshape(3, -1).T
        assert torch.allclose(out[0], torch.tensor(INKJET_INK_BLACK), atol=1e-4)
        assert torch.allclose(out[1], torch.tensor(INKJET_PAPER_WHITE), atol=1e-4)
        assert (out[2].max() - out[2].min()) < 0.02  # grey stays neutral
    assert p.device(colours([[0.5, 0.5, 0.5]])).mean() < 0.5  # dot gain darkens mid-tones
    assert torch.allclose(p(colours([[0.5, 0.5, 0.5]])), colours([[0.5, 0.5, 0.5]]))  # managed: in gamut, kept


def test_managed_print_keeps_printable_colours_and_is_idempotent():
    p = inkjet_printer()
    x = torch.rand(1, 3, 30, 30, generator=torch.Generator().manual_seed(1))
    printable = p.parametrise(x)
    assert p.in_gamut(printable).all()
    assert torch.allclose(p(printable), printable, atol=1e-5)
    once = p(x)
    assert p.in_gamut(once).all() and torch.allclose(p(once), once, atol=1e-5)


def test_inkjet_pulls_saturated_colours_into_its_gamut():
    p = inkjet_printer()
    screen = colours([[0, 1, 0], [0, 0, 1], [0, 1, 1], [1, 0, 0]])
    assert not p.in_gamut(screen).any()  # a screen's primaries cannot be printed
    printed = p(screen)
    assert p.in_gamut(printed).all() and p.in_gamut(p.device(screen)).all()
    sat = lambda x: (x.max(1).values - x.min(1).values)  # noqa: E731
    assert (sat(printed) < sat(screen) - 0.3).all()


def test_gamut_of_random_prints_and_outside_colours():
    p = inkjet_printer()
    x = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    assert p.in_gamut(p.device(x)).all()
    assert not p.in_gamut(torch.zeros(1, 3, 1, 1)).any()


def test_printer_specs(tmp_path):
    assert printer_from_spec(None).name == "inkjet" and printer_from_spec("inkjet").name == "inkjet"
    assert printer_from_spec("identity").is_identity
    prof = tmp_path / "p.json"
    prof.write_bytes(json_bytes(inkjet_printer().profile()))
    assert torch.allclose(printer_from_spec(str(prof)).matrix, inkjet_printer().matrix)
    with pytest.raises(PatchsimError, match="--printer 'laser'.*identity"):
        printer_from_spec("laser")
    prof.write_text(json.dumps({"matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 0]]}))
    with pytest.raises(PatchsimError, match="invertible"):
        printer_from_spec(str(prof))
    prof.write_text("[1, 2]")
    with pytest.raises(PatchsimError, match="JSON object"):
        printer_from_spec(str(prof))


def test_printed_rgba_matches_the_model_and_keeps_alpha():
    rng = np.random.default_rng(0)
    st = rng.integers(0, 256, (50, 50, 4), dtype=np.uint8)
    out = printed_rgba(st, inkjet_printer())
    assert np.array_equal(out[..., 3], st[..., 3])
    want = inkjet_printer()(torch.from_numpy(st[..., :3]).permute(2, 0, 1)[None].float() / 255)
    assert np.abs(out[..., :3].astype(np.float32) / 255 - want[0].permute(1, 2, 0).numpy()).max() <= 0.5 / 255 + 1e-6
    assert printed_rgba(st, PrinterModel()) is st


def test_attack_sticker_is_inside_the_printer_gamut(driveby_scene):
    """The optimiser's sticker colours (sent to the printer) lie inside the gamut, the renderer applies
    the printer to them, and the gradient still reaches the parameters."""
    from patchsim.attack.config import AttackConfig
    from patchsim.attack.eot import EOTAttack
    from patchsim.models import freeze, load

    cfg = AttackConfig(target=5, steps=1, batch=2, val_size=2, face_resolution=32)
    att = EOTAttack(driveby_scene, freeze(load("gtsrb-cnn")), cfg, printer=inkjet_printer())
    r = att.renderer
    w = (torch.randn(1, 3, 32, 32) * 3).requires_grad_()
    st = att.sticker_from_params(w)
    assert r.printer.in_gamut(st).all()
    loss, _ = att.loss(w, att.val_cond)
    loss.backward()
    assert w.grad is not None and w.grad.abs().sum() > 0


def test_attack_command_writes_printable_sticker(tmp_path, capsys):
    """A two-step attack end to end: sticker.png inside the gamut, sticker_as_printed.png beside it, the
    printer in attack.json; bad printer and scoring-set photos refused with one line each."""
    from patchsim.cli import main
    from patchsim.io.images import read_image

    out = tmp_path / "a"
    assert main(["attack", "stop_driveby", "--steps", "2", "--batch", "4", "--dpi", "30", "--no-sim-to-real",
                 "--out", str(out)]) == 0
    rec = json.loads((out / "attack.json").read_text())
    assert rec["export"]["printer"] == "inkjet" and rec["export"]["sticker_in_gamut"] >= 0.99 and rec["sim_to_real"] is None
    st, printed = read_image(out / "sticker.png", alpha=True), read_image(out / "sticker_as_printed.png", alpha=True)
    assert st.shape == printed.shape and np.array_equal(st[..., 3], printed[..., 3])
    a = st[..., 3] > 0
    assert np.abs(st[..., :3][a].astype(int) - printed[..., :3][a].astype(int)).max() <= 2  # in gamut: prints as is
    assert main(["attack", "stop_driveby", "--steps", "2", "--printer", "laser", "--out", str(tmp_path / "b")]) == 2
    assert "--printer 'laser'" in capsys.readouterr().err
    assert main(["attack", "stop_driveby", "--steps", "2", "--real-photos", "rp2", "--real-fraction", "0.5",
                 "--out", str(tmp_path / "c")]) == 2
    assert "scoring set" in capsys.readouterr().err
    assert not (tmp_path / "b").exists() and not (tmp_path / "c" / "sticker.png").exists()


def test_evaluate_and_print_an_attack_folder_from_anywhere(tmp_path, monkeypatch):
    """`patchsim evaluate DIR` and `patchsim print DIR` need nothing but the attack folder: its scene,
    sticker, model, target and printer, from another working directory."""
    from patchsim.cli import main

    out = tmp_path / "a"
    assert main(["attack", "stop_driveby", "--steps", "2", "--batch", "4", "--dpi", "30", "--no-sim-to-real",
                 "--out", str(out)]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["evaluate", str(out), "--no-video", "--out", "ev"]) == 0
    m = json.loads((elsewhere / "ev" / "metrics.json").read_text())["header"]
    assert m["target"] == "speed_limit_80" and m["printer"] == "inkjet" and m["model"] == "gtsrb-cnn"
    assert m["sticker"] == str(out / "sticker.png") and m["frames"] == 106
    assert main(["print", str(out), "--dpi", "30"]) == 0 and (out / "print.pdf").is_file()
    # the attack record round-trips, and carries everything evaluate used: the scene whole, the model's hash
    from patchsim.jobs.attack_record import read_attack_record, write_attack_record
    from patchsim.scene import load_scene

    rec = read_attack_record(out / "attack.json")
    write_attack_record(tmp_path / "again.json", rec)
    assert read_attack_record(tmp_path / "again.json") == rec
    assert (tmp_path / "again.json").read_text() == (out / "attack.json").read_text()
    assert rec.scene_object() == load_scene("stop_driveby") and len(rec.model_sha256) == 64
    assert rec.config.steps == 2 and [p.step for p in rec.validation_curve] == [2]
    flat = json.loads((out / "attack.json").read_text())  # version 1's oldest layout still loads
    assert flat.pop("schema_version") == 2
    flat.update(flat.pop("export"))
    (tmp_path / "flat.json").write_text(json.dumps(flat))
    assert read_attack_record(tmp_path / "flat.json") == rec


def test_printed_rgba_prints_only_where_the_sticker_is():
    st = np.zeros((40, 60, 4), np.uint8)
    st[..., :3] = (0, 255, 0)  # a screen green, outside the gamut everywhere
    st[10:20, 30:50, 3] = 255
    out = printed_rgba(st, inkjet_printer())
    assert np.array_equal(out[st[..., 3] == 0], st[st[..., 3] == 0])  # nothing stuck there: left alone
    inside = out[10:20, 30:50, :3].reshape(-1, 3).astype(np.float32) / 255
    assert inkjet_printer().in_gamut(torch.from_numpy(inside).T.reshape(1, 3, -1, 1)).all()
    assert np.abs(inside - [0, 1, 0]).max() > 0.1
    assert np.array_equal(printed_rgba(np.zeros((8, 8, 4), np.uint8), inkjet_printer()), np.zeros((8, 8, 4), np.uint8))


def test_an_attack_json_of_main_before_versions_loads_through_the_migration_table():
    """tests/data/attack_v1_main_364db8c.json: the main job's attack.json written by main 364db8c
    (2026-12-07, no schema_version): read as version 1 and upgraded, every figure kept."""
    from patchsim.jobs.attack_record import ATTACK_SCHEMA, read_attack_record

    path = Path(__file__).parent / "data" / "attack_v1_main_364db8c.json"
    raw = json.loads(path.read_text())
    assert "schema_version" not in raw and ATTACK_SCHEMA.version == 2
    rec = read_attack_record(path)
    assert rec.final_success == raw["final_success"] == 0.89453125
    assert rec.sim_to_real.photos["rp2"].relit_worst == raw["sim_to_real"]["photos"]["rp2"]["relit_worst"] == 0.725
    assert rec.printer_profile.name == "inkjet" and rec.photos.attacker is None
    assert [p.step for p in rec.validation_curve] == [p["step"] for p in raw["validation_curve"]]
    newer = {**raw, "schema_version": 3}
    with pytest.raises(PatchsimError, match="schema_version 3 was written by a newer patchsim"):
        from_versioned(type(rec), newer, ATTACK_SCHEMA, "x.json")
