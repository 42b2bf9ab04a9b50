"""The attack record (attack.json) and an attack's output folder read back: what ``patchsim evaluate DIR``,
``patchsim print DIR`` and ``--resume`` need, without naming the scene, from any working directory.

:class:`AttackRecord` round-trips: ``read_attack_record(p) == record`` for a record written by
:func:`write_attack_record`."""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patchsim.attack.config import AttackConfig
from patchsim.attack.eot import ValidationPoint
from patchsim.errors import PatchsimError
from patchsim.evaluate.records import SimToReal
from patchsim.printing.export import ExportInfo
from patchsim.printing.printer import PrinterProfile
from patchsim.records import Schema, from_versioned, versioned_bytes
from patchsim.scene import Scene, parse_scene
from patchsim.io.images import atomic_write_bytes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AttackPhotos:
    """The real photos the optimiser saw: ``attacker`` the source (None: renders only) and how many
    signs of it went into its batches. Never a scoring set."""

    attacker: str | None
    attacker_signs: int


@dataclass(frozen=True)
class AttackRecord:
    """attack.json. ``scene``: the scene file; ``scene_resolved``: the whole scene as scene-file data
    (:func:`patchsim.scene.scene_to_data`, what :meth:`scene_object` loads); the model by name, weights
    file and ``model_sha256`` (:func:`patchsim.models.fingerprint`); class indices and names; the
    configuration; the optimiser's run and validation curve; the printer profile; the attacker photos;
    the sim-to-real table (None when skipped); what exporting wrote; the wall time up to writing the
    record; the defence the model stood behind (``--defence``; the attack was adaptive through it)."""

    scene: str
    scene_resolved: dict[str, Any]
    model: str
    weights: str | None
    model_sha256: str
    classes: tuple[str, ...]
    true_class: int
    true_name: str
    target: int | None
    target_name: str | None
    config: AttackConfig
    seed: int
    steps_run: int
    stopped_early: bool
    stop_reason: str
    wall_s_optimise: float
    validation_size: int
    validation_clean_success: float
    validation_curve: tuple[ValidationPoint, ...]
    final_success: float
    printer_profile: PrinterProfile
    photos: AttackPhotos
    sim_to_real: SimToReal | None
    export: ExportInfo
    wall_s_total: float | None = None
    defence: str | None = None

    def scene_object(self) -> Scene:
        """The scene exactly as the attack used it."""
        return parse_scene(self.scene_resolved, self.scene)


def _from_v1(data: dict) -> dict:
    """attack.json before versions (up to main 364db8c, 2026-12-07) -> version 2. Version 1 spans three
    layouts, each recognised by what it lacks: records before stop reasons (``stop_reason`` missing:
    "success" when it stopped early, else "budget"), configurations before the plateau stop (it was
    off: ``plateau_patience`` 0) and records with the export fields at top level (moved under
    ``export``). Version 2 adds nothing else: the typed printer profile and photos keep their keys."""
    if "stop_reason" not in data and "stopped_early" in data:
        data = {**data, "stop_reason": "success" if data["stopped_early"] else "budget"}
    if isinstance(data.get("config"), dict):
        data = {**data, "config": {"plateau_patience": 0, **data["config"]}}
    flat = [f.name for f in dataclasses.fields(ExportInfo)]
    if "export" not in data and all(k in data for k in flat):
        data = {**{k: v for k, v in data.items() if k not in flat}, "export": {k: data[k] for k in flat}}
    return data


ATTACK_SCHEMA = Schema("attack.json", 2, {1: _from_v1})


def write_attack_record(path: str | Path, record: AttackRecord) -> None:
    """Write attack.json atomically, ``schema_version`` first (:data:`ATTACK_SCHEMA`)."""

    atomic_write_bytes(Path(path), versioned_bytes(record, ATTACK_SCHEMA))


def read_attack_record(path: str | Path) -> AttackRecord:
    """Load attack.json as an :class:`AttackRecord`, older versions upgraded through
    :data:`ATTACK_SCHEMA`'s migration table; unreadable, newer than this patchsim, or not a complete
    record: a one-line error naming the file and the field."""
    return from_versioned(AttackRecord, read_attack_json(Path(path)), ATTACK_SCHEMA, str(path))


@dataclass(frozen=True)
class AttackDir:
    """``scene`` exactly as the attack used it; ``sticker`` the path of sticker.png; ``model`` and
    ``weights`` as given to the attack; ``target`` its target class name (None: untargeted); ``printer``
    the printer spec to evaluate with (``inkjet``, ``identity`` or a profile path); ``record`` the whole
    attack record."""

    path: Path
    scene: Scene
    sticker: Path
    model: str
    weights: str | None
    target: str | None
    printer: str
    record: AttackRecord


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


def target_of_sticker(sticker_path: str | Path, classes: list[str]) -> str | None:
    """The target class name of the attack that made ``sticker_path``, read from the ``attack.json``
    beside it, said in the log; None when there is none, it was untargeted, or the model scoring the
    sticker has no such class (among ``classes``: the sticker is then scored untargeted)."""
    rec = record_beside(sticker_path)
    target = rec.target_name if rec is not None else None
    if target is None:
        return None
    if target not in classes:
        log.info("the sticker's attack targeted %s, not a class of this model: scoring untargeted", target)
        return None
    log.info("target %s: from the attack.json beside the sticker (--target to change)", target)
    return target


def record_beside(sticker_path: str | Path | None) -> AttackRecord | None:
    """The attack record in the folder of ``sticker_path`` (its attack.json), or None when there is
    none; an unreadable or incomplete one is a one-line error."""
    if not sticker_path:
        return None
    meta_path = Path(sticker_path).parent / "attack.json"
    return read_attack_record(meta_path) if meta_path.is_file() else None


def load_attack_dir(p: str | Path) -> AttackDir:
    """Read ``attack.json`` (:class:`AttackRecord`) and find ``sticker.png`` of an attack folder; a
    missing, unreadable or incomplete record is a one-line error."""
    d = Path(p)
    meta_path = d / "attack.json"
    if not meta_path.is_file():
        raise PatchsimError(f"{d} is not an attack output folder: attack.json missing")
    rec = read_attack_record(meta_path)
    sticker = d / "sticker.png"
    if not sticker.is_file():
        raise PatchsimError(f"{d}: sticker.png missing")
    name = rec.printer_profile.name
    printer = name if name in ("inkjet", "identity", "vinyl") or (name and Path(name).is_file()) else "inkjet"
    return AttackDir(d, rec.scene_object(), sticker, rec.model, rec.weights, rec.target_name, printer, rec)
