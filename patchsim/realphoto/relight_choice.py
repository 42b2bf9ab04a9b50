"""Which relighting models a relit figure is reported over: the default and the models that survived
validation on real pixels (``bench/relight_validation.py`` writes ``patchsim/data/relight_choice.json``
from the attacker photos). A relit figure is the band worst / default / best over the survivors."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from patchsim.errors import PatchsimError
from patchsim.realphoto.relight import METHODS

CHOICE_FILE = Path(__file__).resolve().parents[1] / "data" / "relight_choice.json"


@functools.lru_cache(maxsize=1)
def relight_choice() -> tuple[str, tuple[str, ...]]:
    """(default model, surviving models with the default first)."""
    try:
        d = json.loads(CHOICE_FILE.read_text())
        default, survivors = str(d["default"]), tuple(str(m) for m in d["survivors"])
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise PatchsimError(f"cannot read the relighting choice {CHOICE_FILE}: {e}") from e
    if default not in METHODS or any(m not in METHODS for m in survivors):
        raise PatchsimError(f"relighting choice {CHOICE_FILE}: models must be among {', '.join(METHODS)}")
    return default, (default,) + tuple(m for m in survivors if m != default)


def band_models(relight: str | None) -> tuple[str, tuple[str, ...]]:
    """(the model a figure's point value uses, the models its band spans): ``relight`` None or
    ``"validated"`` gives the validated default and survivors; a named model gives that model alone."""
    if relight in (None, "validated"):
        return relight_choice()
    if relight not in METHODS:
        raise PatchsimError(f"--relight {relight!r} is unknown; allowed: validated (default), {', '.join(METHODS)}")
    return relight, (relight,)
