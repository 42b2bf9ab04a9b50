"""Real photos' colour responses, drawn whole inside the EOT distribution.

Each attacker photo's stop sign was fitted a `tone` map (:mod:`patchsim.realphoto.relight`) from the designed
face to the photographed sign: ``obs_c = black + gain_c * design_c ** exponent``. Clean renders were
fitted the same way (the renderer's median map ``R``). A condition with ``response_id = k`` turns the
rendered crop ``y`` into what photo ``k``'s camera and light would have made of it:
``M_k(R^-1(y))``, so the sticker's colours go through the same map that scores it on real photos.
The table is packaged data (``patchsim/data/photo_responses.json``, written by
``bench/fit_realism.py`` from attacker photos only); ``response_id = -1`` leaves a frame unchanged.

Parameters are rows ``(black, gain_r, gain_g, gain_b, exponent)``; images ``(B, 3, H, W)`` sRGB in [0, 1]."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import torch

from patchsim.checks import check_shape
from patchsim.errors import PatchsimError

RESPONSES_FILE = Path(__file__).resolve().parents[1] / "data" / "photo_responses.json"


@functools.lru_cache(maxsize=4)
def load_responses(path: str | None = None) -> tuple[tuple[float, ...], tuple[tuple[float, ...], ...]]:
    """(renderer row, photo rows) from the table (default: the packaged one)."""
    p = Path(path) if path else RESPONSES_FILE
    try:
        d = json.loads(p.read_text())
        renderer = tuple(float(v) for v in d["renderer"])
        photos = tuple(tuple(float(v) for v in r) for r in d["photos"])
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise PatchsimError(f"cannot read photo responses {p}: {e}") from e
    if len(renderer) != 5 or not photos or any(len(r) != 5 for r in photos):
        raise PatchsimError(f"photo responses {p}: rows must be (black, gain_r, gain_g, gain_b, exponent)")
    return renderer, photos


def tone_map(x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``black + gain_c * x ** exponent`` per image: ``x`` ``(B, 3, H, W)`` in [0, 1], ``rows`` ``(B, 5)``."""
    b, g, e = rows[:, 0, None, None, None], rows[:, 1:4, None, None], rows[:, 4, None, None, None]
    return b + g * x.clamp(min=1e-4) ** e


def inverse_tone_map(y: torch.Tensor, row: torch.Tensor) -> torch.Tensor:
    """The design colour a tone map ``row`` ``(5,)`` sends to ``y``, clipped to [0, 1]."""
    b, g, e = row[0], row[1:4].view(1, 3, 1, 1), row[4]
    return ((y - b) / g).clamp(1e-4, 1.0) ** (1.0 / e)


def apply_photo_response(y: torch.Tensor, response_id: torch.Tensor, path: str | None = None) -> torch.Tensor:
    """Give each image ``y`` ``(B, 3, H, W)`` the colour response of attacker photo ``response_id[i]``
    (``(B,)`` int64; -1: unchanged). Differentiable in ``y``."""
    check_shape(y, ["B", 3, "H", "W"], "image")
    check_shape(response_id, [y.shape[0]], "response_id")
    use = response_id >= 0
    if not bool(use.any()):
        return y
    renderer, photos = load_responses(path)
    table = torch.tensor(photos, dtype=y.dtype, device=y.device)
    if int(response_id.max()) >= len(table):
        raise PatchsimError(f"response_id {int(response_id.max())} is beyond the {len(table)} photo responses")
    design = inverse_tone_map(y, torch.tensor(renderer, dtype=y.dtype, device=y.device))
    out = tone_map(design, table[response_id.clamp(min=0).to(y.device)]).clamp(0.0, 1.0)
    return torch.where(use.to(y.device).view(-1, 1, 1, 1), out, y)
