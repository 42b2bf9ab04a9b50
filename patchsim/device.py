"""Where models and the renderer run: ``--device auto|cpu|cuda|cuda:N``.

Everything random is drawn on the CPU from explicit ``torch.Generator``s (conditions, sticker
initialisation, augmentation, sensor noise) and then moved, so the sampled conditions and the
optimiser's starting point are bit-identical on every device; rendered images, losses and therefore
optimised stickers agree across devices to float precision, not bit for bit (GPU kernels sum in other
orders)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

from patchsim.errors import PatchsimError

DEVICE_HELP = "auto (CUDA when available, else CPU), cpu, cuda or cuda:N"


def device_problem(spec: str) -> str | None:
    """What is wrong with the device ``spec`` (one phrase), or None when it can be used here."""
    spec = str(spec).strip().lower()
    if spec in ("auto", "cpu"):
        return None
    if spec == "cuda" or spec.startswith("cuda:"):
        index = spec.partition(":")[2] or "0"
        if not index.isdigit():
            return f"{spec!r} is invalid: must be {DEVICE_HELP}"
        if not torch.cuda.is_available():
            return f"{spec}: no CUDA device here (torch.cuda.is_available() is False); use cpu or auto"
        if int(index) >= torch.cuda.device_count():
            return f"{spec}: only {torch.cuda.device_count()} CUDA device(s) here"
        return None
    return f"{spec!r} is invalid: must be {DEVICE_HELP}"


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """The torch device for ``spec``: ``auto``/None (CUDA device 0 when available, else CPU), ``cpu``,
    ``cuda`` or ``cuda:N``; one that cannot be used here is a one-line PatchsimError."""
    spec = "auto" if spec is None else str(spec).strip().lower()
    problem = device_problem(spec)
    if problem:
        raise PatchsimError(f"--device {problem}")
    if spec == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    return torch.device(f"cuda:{int(spec.partition(':')[2] or 0)}")


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's first parameter or buffer (CPU for a model with neither)."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


@contextmanager
def deterministic(device: torch.device) -> Iterator[dict]:
    """Within the block torch uses only deterministic algorithms (``torch.use_deterministic_algorithms``;
    an operation without one raises on the CPU, warns on CUDA), restored after. Training under it gives
    bit-identical weights for the same seed, data, torch version, device and intra-op thread count;
    yields those conditions (a dict for the model card), since a change of any of them may change the
    last bits of the weights."""
    import os

    was, warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS's deterministic workspace
    torch.use_deterministic_algorithms(True, warn_only=device.type != "cpu")
    try:
        yield {"torch": torch.__version__, "device": str(device), "threads": torch.get_num_threads()}
    finally:
        torch.use_deterministic_algorithms(was, warn_only=warn)
