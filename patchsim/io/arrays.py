"""Array files a user hands patchsim (``.npz`` training data, poisoned splits): read safely (no pickles),
refused before reading when they would expand past a size cap, and checked for meaning (dtype, shape,
label range) so training or inspecting nonsense fails in one line instead of exiting 0."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from patchsim.checks import env_limit
from patchsim.errors import PatchsimError

DEFAULT_MAX_NPZ_BYTES = 4 << 30  # uncompressed; raise with PATCHSIM_MAX_NPZ_BYTES


def max_npz_bytes() -> int:
    """The largest uncompressed size of an ``.npz`` patchsim reads (``PATCHSIM_MAX_NPZ_BYTES``, default 4 GiB)."""
    return env_limit("PATCHSIM_MAX_NPZ_BYTES", DEFAULT_MAX_NPZ_BYTES)


def load_npz(path: str | Path, what: str) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path`` (``what`` names it in errors): a regular file, a readable
    zip whose arrays expand to at most :func:`max_npz_bytes`, no pickled objects. One-line errors."""
    p = Path(path)
    if not p.is_file():
        raise PatchsimError(f"{what} {p} not found (or not a regular file)")
    try:
        with zipfile.ZipFile(p) as z:
            size = sum(i.file_size for i in z.infolist())
    except (zipfile.BadZipFile, OSError) as e:
        raise PatchsimError(f"{what} {p} is not a readable .npz ({e})") from None
    limit = max_npz_bytes()
    if size > limit:
        raise PatchsimError(f"{what} {p} expands to {size} bytes, over the limit of {limit} "
                            "(raise it with PATCHSIM_MAX_NPZ_BYTES)")
    try:
        with np.load(p, allow_pickle=False) as d:
            return {k: d[k] for k in d.files}
    except (ValueError, OSError, zipfile.BadZipFile) as e:
        raise PatchsimError(f"{what} {p} cannot be read as arrays ({e}); pickled objects are refused") from None


def check_labelled_images(d: dict[str, np.ndarray], what: str, classes: int | None,
                          size: tuple[int, int] | None = None) -> None:
    """``d["x"]`` uint8 images ``(N, H, W, 3)`` (``size`` = (H, W) when given), ``d["y"]`` N integer labels in
    ``[0, classes)`` (any non-negative when ``classes`` is None), and any ``track`` / ``poisoned`` one per image: a one-line error naming ``what``
    and the first problem otherwise."""
    if "x" not in d or "y" not in d:
        raise PatchsimError(f"{what} lacks x or y (has: {', '.join(sorted(d)) or 'no arrays'})")
    x, y = d["x"], d["y"]
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[3] != 3 or (size is not None and tuple(x.shape[1:3]) != tuple(size)):
        want = f"(N, {size[0]}, {size[1]}, 3)" if size else "(N, H, W, 3)"
        raise PatchsimError(f"{what}: x must be uint8 images {want}, got {x.dtype} {x.shape}")
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise PatchsimError(f"{what}: y must be one integer label per image ({len(x)}), got {y.dtype} {y.shape}")
    if len(y) and (int(y.min()) < 0 or (classes is not None and int(y.max()) >= classes)):
        allowed = f"[0, {classes - 1}]" if classes is not None else "0 or more"
        raise PatchsimError(f"{what}: labels must lie in {allowed}, got {int(y.min())}..{int(y.max())}")
    for k in ("track", "poisoned"):
        if k in d and (d[k].ndim != 1 or len(d[k]) != len(x)):
            raise PatchsimError(f"{what}: {k} must hold one value per image ({len(x)}), got shape {d[k].shape}")
