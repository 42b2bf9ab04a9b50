"""--mask auto[:AREA]: RP2's mask discovery, its cut into pieces and the attack that uses it."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from patchsim.attack.config import AttackConfig, parse_mask
from patchsim.attack.mask_search import mask_from_saliency
from patchsim.cli import main
from patchsim.errors import PatchsimError


@pytest.mark.parametrize("spec, area", [("scene", None), ("auto", 0.10), ("auto:0.035", 0.035), ("auto:3.5%", 0.035),
                                        ("auto:.5", 0.5)])
def test_mask_specs_parse(spec, area):
    assert parse_mask(spec) == pytest.approx(area) if area else parse_mask(spec) is None


@pytest.mark.parametrize("spec", ["auto:0", "auto:0.6", "auto:60%", "rp2", "auto:", "auto:x"])
def test_bad_mask_specs_are_refused(spec):
    with pytest.raises(PatchsimError, match="mask"):
        AttackConfig(mask=spec)


def test_mask_follows_the_saliency_in_at_most_k_pieces_within_the_area():
    """Three bumps of saliency over weak noise: two pieces take the two strongest bumps, never the weak
    one, and stay within the area; one piece takes the strongest alone."""
    n = 64
    yy, xx = np.mgrid[0:n, 0:n]
    bump = lambda cy, cx, h: h * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 4.0**2))  # noqa: E731
    sal = bump(16, 16, 3.0) + bump(44, 40, 2.0) + bump(16, 50, 0.5) + np.random.default_rng(0).random((n, n)) * 0.05
    face = np.ones((n, n), bool)
    face[:4] = False  # the face need not fill the square
    m = mask_from_saliency(sal, face, 0.05, pieces=2)
    assert m.sum() <= 0.05 * face.sum() and m.sum() >= 0.03 * face.sum()  # as near the area as it comes
    assert m[16, 16] and m[44, 40] and not m[16, 50] and not (m & ~face).any()
    assert cv2.connectedComponents(m.astype(np.uint8), connectivity=8)[0] - 1 <= 2
    one = mask_from_saliency(sal, face, 0.05, pieces=1)
    assert one[16, 16] and not one[44, 40]
    with pytest.raises(PatchsimError, match="too small"):
        mask_from_saliency(sal, face, 1e-6, pieces=1)


def test_attack_with_an_auto_mask_writes_it_and_optimises_inside_it(tmp_path):
    out = tmp_path / "m"
    argv = ["attack", "stop_driveby", "--mask", "auto:0.05", "--mask-steps", "2", "--mask-pieces", "2", "--steps", "2",
            "--batch", "4", "--val-size", "4", "--face-resolution", "32", "--no-sim-to-real", "--dpi", "50", "--out", str(out)]
    assert main(argv) == 0
    rec = json.loads((out / "attack.json").read_text())
    assert rec["config"]["mask"] == "auto:0.05"
    assert rec["scene_resolved"]["sticker"]["mask"] == str((out / "mask.png").resolve())
    assert rec["scene_resolved"]["sticker"].get("regions", []) == []
    mask = cv2.imread(str(out / "mask.png"), cv2.IMREAD_GRAYSCALE) >= 128
    assert 0 < cv2.connectedComponents(mask.astype(np.uint8))[0] - 1 <= 2
    assert 0.02 <= rec["export"]["sticker_area_fraction"] <= 0.06  # the asked 5% of the face, at 32 px
    sticker = cv2.imread(str(out / "sticker.png"), cv2.IMREAD_UNCHANGED)
    on = cv2.resize(mask.astype(np.uint8), sticker.shape[:2][::-1], interpolation=cv2.INTER_NEAREST) > 0
    assert (sticker[..., 3][~on] == 0).mean() > 0.99  # the sticker lies in the mask found
    assert (out / "mask_outline.png").is_file()
