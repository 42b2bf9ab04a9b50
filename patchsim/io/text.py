"""Text files a user hands patchsim (labels, corners, printer profiles, palettes, annotations): read only
when they are regular files of a sane size, so a FIFO or a device never hangs a command and a huge file
is refused before it is read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from patchsim.errors import PatchsimError

MAX_TEXT_BYTES = 64 << 20  # labels, corners and profiles are kilobytes; 64 MiB allows any real annotation file


def read_user_text(path: str | Path, what: str, limit: int = MAX_TEXT_BYTES) -> str:
    """The UTF-8 text of ``path``; a missing file, a special file (FIFO, device, folder), one over
    ``limit`` bytes or one that is not UTF-8 is a one-line PatchsimError naming ``what`` and the file."""
    p = Path(path)
    if not p.exists():
        raise PatchsimError(f"{what} {p} not found")
    if not p.is_file():
        raise PatchsimError(f"{what} {p} is not a regular file (a folder, FIFO or device); give a file")
    size = p.stat().st_size
    if size > limit:
        raise PatchsimError(f"{what} {p} is {size} bytes, over the limit of {limit}")
    try:
        return p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PatchsimError(f"cannot read {what} {p}: {e}") from None


def read_user_json(path: str | Path, what: str, limit: int = MAX_TEXT_BYTES) -> Any:
    """:func:`read_user_text` parsed as JSON; invalid JSON is a one-line error naming the line."""
    try:
        return json.loads(read_user_text(path, what, limit))
    except json.JSONDecodeError as e:
        raise PatchsimError(f"{what} {path} is not valid JSON: {e}") from None
