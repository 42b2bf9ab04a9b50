"""A complete attack record for tests that need an attack folder without running an attack."""

from pathlib import Path

import numpy as np

from patchsim.attack.config import AttackConfig
from patchsim.attack.eot import ValidationPoint
from patchsim.jobs.attack_record import AttackPhotos, AttackRecord, write_attack_record
from patchsim.printing.printer import inkjet_printer
from patchsim.printing.export import ExportInfo, PieceRecord
from patchsim.io.images import write_png
from patchsim.scene import scene_to_data


def attack_record(scene, model: str = "gtsrb-cnn", target: str | None = None, scene_file: str | None = None) -> AttackRecord:
    """A record as ``patchsim attack`` writes it, for ``scene`` (stored whole) and ``model``."""
    return AttackRecord(
        scene=scene_file or str(scene.path), scene_resolved=scene_to_data(scene), model=model, weights=None,
        model_sha256="0" * 64, classes=("other", "stop"), true_class=1, true_name="stop", target=None,
        target_name=target, config=AttackConfig(steps=2, true_class=1), seed=0, steps_run=2, stopped_early=False,
        stop_reason="budget",
        wall_s_optimise=0.5, validation_size=256, validation_clean_success=0.0,
        validation_curve=(ValidationPoint(2, 0.25, -0.1, 0.5),), final_success=0.25,
        printer_profile=inkjet_printer().profile(), photos=AttackPhotos(None, 0), sim_to_real=None,
        export=ExportInfo("inkjet", 1.0, 300.0, "A4", 2, 0.1, (PieceRecord("A", 10.0, 20.0, 100.0, 50.0),)),
        wall_s_total=1.0)


def write_attack_dir(d: Path, scene, sticker_rgba: np.ndarray, **kw) -> Path:
    """An attack folder: sticker.png and attack.json (:func:`attack_record` with ``kw``)."""
    d.mkdir(parents=True, exist_ok=True)
    write_png(d / "sticker.png", sticker_rgba)
    write_attack_record(d / "attack.json", attack_record(scene, **kw))
    return d
