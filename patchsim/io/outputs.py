"""Output folders that runs cannot mix: checked before work, locked while a command writes, refused when
they hold something already (unless ``--force`` replaces it or ``--resume`` continues it), cleared of
the command's stale outputs and orphaned temporary files.

Every job that writes a folder is wrapped by :func:`writes_folder`; single output files are checked by
:func:`check_output_file`."""

from __future__ import annotations

import functools
import inspect
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from patchsim.errors import PatchsimError

LOCK = ".patchsim.lock"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_temporary(p: Path) -> bool:
    """The atomic writers' temporary files: ``.NAME.tmp`` or ``.NAME.tmp.EXT`` (see imageio)."""
    return p.name.startswith(".") and ".tmp" in p.name and p.name != LOCK


def _writable_folder(folder: Path, said: str) -> None:
    """Create ``folder`` if needed and check it is writable; ``said`` names it in the error."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PatchsimError(f"{said}: cannot create the folder: {e.strerror or e}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PatchsimError(f"{said} is not writable")


def check_output_file(path: str | Path, option: str = "--out") -> Path:
    """``path`` as a file a command may write: not a folder, its folder existing (or creatable) and
    writable. A one-line PatchsimError naming ``option`` otherwise."""
    p = Path(path)
    if p.is_dir():
        raise PatchsimError(f"{option} {p} is a folder; give a file name")
    _writable_folder(p.parent if str(p.parent) else Path("."), f"{option} {p}: its folder")
    return p


def _lock(p: Path, command: str, option: str) -> Path:
    lock = p / LOCK
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid, other = lock.read_text().split(maxsplit=1)
                alive = _pid_alive(int(pid))
            except (OSError, ValueError):
                pid, other, alive = "?", "command", False
            if alive:
                raise PatchsimError(f"{option} {p} is being written by another patchsim {other.strip()} (pid {pid}); "
                                    "wait for it to finish or choose another folder") from None
            lock.unlink(missing_ok=True)  # left by a run that died: take it over
            continue
        except OSError as e:
            raise PatchsimError(f"{option} {p} is not writable: {e.strerror or e}") from None
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()} {command}\n")
        return lock
    raise PatchsimError(f"{option} {p}: cannot take the folder's lock {lock}")


@contextmanager
def output_folder(path: str | Path, command: str, owned: tuple[str, ...], option: str = "--out",
                  resume: bool = False, force: bool = False, resumable: bool = False) -> Iterator[Path]:
    """Claim the folder ``path`` for ``command`` while the block runs.

    ``owned``: glob patterns of what the command writes there. A folder holding anything (orphaned
    temporary files aside, which are removed) is refused unless ``force`` (the command's own outputs
    matching ``owned`` are then removed first; other files are left alone) or, for a ``resumable``
    command, ``resume`` (kept as it is). The lock file ``.patchsim.lock`` (pid and command) keeps a second
    run out while this one writes; a lock left by a dead process is taken over."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise PatchsimError(f"{option} {p} is an existing file; give a folder")
    if resume and not resumable:
        raise PatchsimError(f"--resume: patchsim {command} cannot continue a run")
    created = not p.exists()
    _writable_folder(p, f"{option} {p}")
    lock = _lock(p, command, option)
    try:
        for q in p.iterdir():
            if _is_temporary(q):
                q.unlink(missing_ok=True) if not q.is_dir() else shutil.rmtree(q, ignore_errors=True)
        held = sorted(q.name for q in p.iterdir() if q.name != LOCK)
        if held and not (force or resume):
            hint = "--resume to continue it or --force to replace it" if resumable else "--force to replace it"
            raise PatchsimError(f"{option} {p} is not empty ({len(held)} entries: {', '.join(held[:3])}"
                                f"{', ...' if len(held) > 3 else ''}); pass {hint}, or choose another folder")
        if force and not resume:
            for pattern in owned:
                for q in p.glob(pattern):
                    shutil.rmtree(q) if q.is_dir() else q.unlink()
        yield p
    finally:
        lock.unlink(missing_ok=True)
        if created and not any(p.iterdir()):
            p.rmdir()  # a run that failed before writing anything leaves no folder behind


def writes_folder(command: str, owned: tuple[str, ...], resumable: bool = False, out_arg: str = "out"):
    """Decorator for a job function with an ``out`` folder argument (and optional ``force`` and
    ``resume`` arguments): the folder is claimed by :func:`output_folder` for the whole call."""

    def wrap(fn):
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def run(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            a = bound.arguments
            with output_folder(a[out_arg], command, owned, resume=bool(a.get("resume", False)),
                               force=bool(a.get("force", False)), resumable=resumable):
                return fn(*args, **kwargs)

        return run

    return wrap
