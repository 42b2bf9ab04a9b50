"""An attack's output folder read back as one record: what ``patchsim evaluate DIR`` and ``patchsim print
DIR`` need, without naming the scene, from any working directory."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from patchsim.errors import PatchsimError
from patchsim.scene import Scene, load_scene, parse_scene


@dataclass(frozen=True)
class AttackDir:
    """``scene`` exactly as the attack used it; ``sticker`` the path of sticker.png; ``model`` and
    ``weights`` as given to the attack; ``target`` its target class name (None: untargeted); ``printer``
    the printer spec to evaluate with (``inkjet``, ``identity`` or a profile path)."""

    path: Path
    scene: Scene
    sticker: Path
    model: str
    weights: str | None
    target: str | None
    printer: str


def is_attack_dir(p: str | Path) -> bool:
    return Path(p).is_dir() and (Path(p) / "attack.json").is_file()


def read_attack_json(meta_path: Path) -> dict:
    """The attack record at ``meta_path`` as a dict; unreadable or not an object: a one-line error."""
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PatchsimError(f"{meta_path}: cannot read the attack record: {e}") from e
    if not isinstance(meta, dict):
        raise PatchsimError(f"{meta_path}: the attack record must be a JSON object")
    return meta


def target_of_sticker(sticker_path: str | Path) -> str | None:
    """The target class name of the attack that made ``sticker_path``, read from the ``attack.json``
    beside it; None when there is none or it was untargeted."""
    meta_path = Path(sticker_path).parent / "attack.json"
    if not meta_path.is_file():
        return None
    target = read_attack_json(meta_path).get("target_name")
    return target if isinstance(target, str) else None


def load_attack_dir(p: str | Path) -> AttackDir:
    """Read ``attack.json`` and ``sticker.png`` of an attack folder; a missing or unreadable record is a
    one-line error."""
    d = Path(p)
    meta_path = d / "attack.json"
    if not meta_path.is_file():
        raise PatchsimError(f"{d} is not an attack output folder: attack.json missing")
    meta = read_attack_json(meta_path)
    resolved = meta.get("scene_resolved")
    if isinstance(resolved, dict) and "sign" in resolved:
        scene = parse_scene(resolved, str(meta.get("scene") or meta_path))
    elif meta.get("scene"):
        scene = load_scene(meta["scene"])
    else:
        raise PatchsimError(f"{meta_path}: the attack record names no scene")
    sticker = d / "sticker.png"
    if not sticker.is_file():
        raise PatchsimError(f"{d}: sticker.png missing")
    prof = meta.get("printer_profile")
    name = prof.get("name") if isinstance(prof, dict) else None
    printer = name if name in ("inkjet", "identity") or (name and Path(name).is_file()) else "inkjet"
    return AttackDir(d, scene, sticker, str(meta.get("model") or "gtsrb-cnn"), meta.get("weights"),
                     meta.get("target_name"), printer)
