"""A disk cache of what a photographed sign is, independent of any sticker: where it is (the homography
and how it was found) and its light (relighting map and blur). Every attack scores its sticker on the
same 248 scoring photos; fitting their light is most of that cost, and it never changes.

An entry is keyed by the photo file (absolute path, size, modification time), its annotation, the sign,
the relighting method, and a fingerprint of the code that computes it (the source of the modules
involved), so an edited photo or an edited fitter is recomputed, never served stale. The cache lives in
``PATCHSIM_CACHE`` (default ``~/.cache/patchsim``); ``PATCHSIM_CACHE=off`` disables it. Unreadable
entries are ignored and recomputed; entries are written atomically."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from patchsim.errors import PatchsimError
from patchsim.realphoto.placement import SignLight
from patchsim.realphoto.relight import Relight
from patchsim.records import from_data, json_bytes
from patchsim.io.images import atomic_write_bytes

# the modules whose code decides the cached values
_SOURCES = ("realphoto/placement.py", "realphoto/relight.py", "realphoto/octagon.py", "realphoto/find_sign.py", "realphoto/views.py",
            "realphoto/view_cache.py", "realphoto/relight_physical.py", "realphoto/colour.py", "io/images.py", "signs/catalogue.py", "signs/raster.py")


def cache_dir() -> Path | None:
    """The cache folder, or None when ``PATCHSIM_CACHE=off``."""
    raw = os.environ.get("PATCHSIM_CACHE", "")
    if raw.strip().lower() in ("off", "0", "none", "false"):
        return None
    return (Path(raw).expanduser() if raw else Path.home() / ".cache" / "patchsim") / "sign_views"


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """SHA-256 of the source of the modules that compute a sign's view."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for rel in _SOURCES:
        h.update((root / rel).read_bytes())
    return h.hexdigest()


def view_key(sp, sign: str, relight: str) -> str:
    """The cache key of sign photo ``sp`` (a :class:`patchsim.realphoto.sources.SignPhoto`)."""
    p = Path(sp.path).resolve()
    st = p.stat()
    ident = [str(p), st.st_size, st.st_mtime_ns, sp.box, sp.corners, sign, relight, code_fingerprint()]
    return hashlib.sha256(json.dumps(ident, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class CachedView:
    """One cache entry: a skip reason, or the sign's ``img_from_face`` homography (9 numbers, row
    major), how it was located, its blur (Gaussian sigma, photo pixels) and its light."""

    skip: str | None = None
    img_from_face: tuple[float, ...] = ()
    located_by: str = ""
    blur_px: float = 0.0
    relight: Relight | None = None


def load_view(key: str):
    """(img_from_face (3, 3), located_by, SignLight) or a skip reason (str) stored under ``key``; None
    when absent, unreadable or the cache is off."""
    d = cache_dir()
    if d is None:
        return None
    try:
        v = from_data(CachedView, json.loads((d / f"{key}.json").read_text()), key)
        if v.skip is not None:
            return v.skip
        light = SignLight(v.relight, v.blur_px)
        return np.asarray(v.img_from_face, np.float64).reshape(3, 3), v.located_by, light
    except (OSError, ValueError, PatchsimError):
        return None


def store_view(key: str, view) -> None:
    """Store (img_from_face, located_by, SignLight) or a skip reason; a full disk or a read-only home
    only costs the next run the time to recompute."""

    d = cache_dir()
    if d is None:
        return
    if isinstance(view, str):
        data = CachedView(skip=view)
    else:
        h, how, light = view
        data = CachedView(None, tuple(np.asarray(h, np.float64).ravel().tolist()), how, float(light.blur_px),
                          light.relight)
    try:
        d.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(d / f"{key}.json", json_bytes(data, None))
    except OSError:
        pass
