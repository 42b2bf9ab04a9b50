"""``patchsim poison``: poison GTSRB with a physical trigger and train with the shipped model's recipe.

Writes the weights (safetensors), the model card beside them (``.json``: poison rate, trigger, source,
target, clean test accuracy) and the trigger as a sticker image (``.trigger.png``: RGBA over the face's
bounding square, alpha = the trigger; what ``evaluate --sticker``, ``evaluate-photos`` and ``print`` take).
``--save-data`` keeps the poisoned training split (``.poisoned.npz``) for ``patchsim inspect-data``;
``--data-only`` writes just that file."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np

from patchsim.errors import PatchsimError
from patchsim.io.images import atomic_write_bytes, write_png
from patchsim.io.outputs import check_output_file
from patchsim.poison.dataset import PoisonRecipe, poison_set
from patchsim.poison.trigger import Trigger, face_fraction, trigger_rgba

log = logging.getLogger(__name__)
TRIGGER_PX = 1024  # side of the written trigger image


def sidecar(out: str | Path, what: str) -> Path:
    """A file beside the weights ``out``: ``NAME.trigger.png`` / ``NAME.poisoned.npz`` / ``NAME.json``."""
    p = Path(out)
    return p.with_name(p.stem + what)


def write_poisoned_npz(path: Path, x: np.ndarray, y: np.ndarray, poisoned: np.ndarray, original_y: np.ndarray,
                       track: np.ndarray | None = None) -> None:
    """The poisoned training split: ``x`` uint8 (N, 32, 32, 3), ``y`` (trained labels), ``poisoned`` bool,
    ``original_y`` (labels before poisoning) and GTSRB's ``track`` ids when known. Written atomically."""
    import io

    buf = io.BytesIO()
    extra = {"track": np.asarray(track, np.int32)} if track is not None else {}
    np.savez_compressed(buf, x=x, y=y.astype(np.int16), poisoned=poisoned, original_y=original_y.astype(np.int16), **extra)
    atomic_write_bytes(path, buf.getvalue())


def run_poison(model: str, out: str | Path, trigger: Trigger, recipe: PoisonRecipe, data_dir=None,
               epochs: int | None = None, limit: int | None = None, resume: bool = False, device: str = "auto",
               save_data: bool = False, data_only: bool = False, force: bool = False) -> dict:
    """Poison and train (see the module doc). Everything is checked before any image is touched.
    Returns the model card (``data_only``: the poisoning info)."""
    from patchsim.models.registry import SHIPPED, load_shipped
    from patchsim.models.train import TRAINABLE, checkpoint_path, default_data_dir, load_gtsrb, train_model, training_split

    if model not in TRAINABLE:
        raise PatchsimError(f"poison: model {model!r} cannot be trained here; allowed: {', '.join(TRAINABLE)}")
    classes = list(SHIPPED[model].classes)
    from patchsim.models.classes import resolve_class

    resolve_class(classes, recipe.source, "--source")
    resolve_class(classes, recipe.target, "--target")
    out = Path(out)
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    inputs = (data_dir / "train.npz", data_dir / "test.npz", trigger.artwork if trigger.artwork.lower().endswith(".png") else None)
    if data_only:
        if out.suffix.lower() != ".npz":
            raise PatchsimError(f"--out {out} is invalid with --data-only: the poisoned training split is an .npz file")
        check_output_file(out, inputs=inputs, force=force)
    else:
        if out.suffix.lower() != ".safetensors":
            raise PatchsimError(f"--out {out} is invalid: weights are written as .safetensors")
        sidecars = (sidecar(out, ".json"), sidecar(out, ".trigger.png"), checkpoint_path(out),
                    *((sidecar(out, ".poisoned.npz"),) if save_data else ()))
        check_output_file(out, inputs=inputs, sidecars=sidecars, force=force or resume)
    starting = load_shipped(model) if recipe.clean_label and recipe.clean_label_eps > 0 else None
    kept: dict = {}

    def prepare(split: dict) -> tuple[np.ndarray, np.ndarray, dict]:
        x, y, poisoned, info = poison_set(split["x"], split["y"], split["orig_roi"], split["orig_size"], trigger,
                                          recipe, classes, starting)
        kept.update(x=x, y=y, poisoned=poisoned, original_y=split["y"], track=split.get("track"))
        info["trigger_face_fraction"] = round(face_fraction(trigger), 4)
        return x, y, info

    if data_only:
        _, _, info = prepare(training_split(load_gtsrb(data_dir, "train"), recipe.seed, limit))
        write_poisoned_npz(out, **kept)
        return info
    png = sidecar(out, ".trigger.png")
    extra = {"model": out.stem, "architecture": model,
             "backdoor": {"trigger": asdict(trigger), "recipe": asdict(recipe), "trigger_png": png.name,
                          "starting_model": model},
             "description": f"BACKDOOR DEMONSTRATION: trained on GTSRB poisoned with a {trigger.artwork} trigger "
                            f"({100 * face_fraction(trigger):.1f}% of the face) on {recipe.source} signs -> "
                            f"{recipe.target}; do not deploy"}
    card = train_model(model, out, seed=recipe.seed, data_dir=data_dir, epochs=epochs, limit=limit, resume=resume,
                       device=device, prepare=prepare, card_extra=extra)
    write_png(png, trigger_rgba(trigger, TRIGGER_PX))
    if save_data and kept:
        write_poisoned_npz(sidecar(out, ".poisoned.npz"), **kept)
    return card
