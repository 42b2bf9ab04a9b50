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
MANIFEST = ".patchsim.manifest"  # "#patchsim COMMAND", then one relative path per line: the files its runs wrote
LEGACY_SUFFIXES = (".png", ".jpg", ".jpeg", ".json", ".csv", ".webm", ".mp4", ".pdf", ".pt", ".safetensors", ".html")


def _snapshot(p: Path) -> dict[str, tuple[int, int]]:
    """Every file below ``p`` (its own lock and manifest aside; a nested run's are files like any other)
    -> (modification time in ns, size)."""
    out = {}
    for q in p.rglob("*"):
        own = q.parent == p and q.name in (LOCK, MANIFEST)
        if q.is_file() and not own and not _is_temporary(q):
            st = q.stat()
            out[q.relative_to(p).as_posix()] = (st.st_mtime_ns, st.st_size)
    return out


def _manifest(p: Path, command: str) -> list[str] | None:
    """The files ``command``'s runs wrote below ``p`` by its manifest; None when there is none (a folder
    written before manifests, or by another command)."""
    try:
        lines = (p / MANIFEST).read_text().splitlines()
    except OSError:
        return None
    if not lines or lines[0] != f"#patchsim {command}":
        return None
    return [line for line in lines[1:] if line and ".." not in Path(line).parts and not Path(line).is_absolute()]


def _write_manifest(p: Path, command: str, before: dict[str, tuple[int, int]], kept: list[str]) -> None:
    """Record the files this run wrote below ``p`` (new or changed since ``before``) with those of an
    earlier run it continued (``kept``), so a later ``--force`` removes exactly these. A full disk only
    loses the record (a later ``--force`` then falls back to the command's own file names)."""
    after = _snapshot(p)
    wrote = sorted({f for f, st in after.items() if before.get(f) != st} | {f for f in kept if f in after})
    try:
        if wrote:
            (p / MANIFEST).write_text(f"#patchsim {command}\n" + "".join(f + "\n" for f in wrote))
        else:
            (p / MANIFEST).unlink(missing_ok=True)
    except OSError:
        pass


def _remove_own_outputs(p: Path, command: str, owned: tuple[str, ...]) -> None:
    """``--force``: remove what the folder's manifest lists (the files an earlier run of this command
    wrote; folders left empty by that go too). A folder written before manifests: the files matching
    ``owned`` at the top level, and inside owned folders only files with an output suffix
    (:data:`LEGACY_SUFFIXES`). Nothing else is ever removed."""
    listed = _manifest(p, command)
    if listed is not None:
        files = [p / line for line in listed]
    else:
        files = []
        for pattern in owned:
            for q in p.glob(pattern):
                files += [q] if q.is_file() else [f for f in q.rglob("*") if f.is_file()
                                                  and f.suffix.lower() in LEGACY_SUFFIXES]
    _remove_files(p, files)
    (p / MANIFEST).unlink(missing_ok=True)


def _remove_new_files(p: Path, before: dict[str, tuple[int, int]]) -> None:
    """Remove the files below ``p`` that were not there at ``before`` (and folders they leave empty)."""
    _remove_files(p, [p / f for f in _snapshot(p) if f not in before])


def _remove_files(p: Path, files: list[Path]) -> None:
    """Remove ``files`` (all below ``p``), then the folders below ``p`` they leave empty."""
    for f in files:
        if f.is_file() or f.is_symlink():
            f.unlink()
    for d in sorted({f.parent for f in files}, key=lambda d: -len(d.parts)):
        while d != p and d.is_dir() and not any(d.iterdir()):
            d.rmdir()
            d = d.parent


def _inside_outputs(p: Path, command: str, inputs: tuple, owned: tuple[str, ...]) -> str | None:
    """The first of ``inputs`` (paths, or None) that is one of the folder's outputs (listed in its
    manifest, or matching ``owned``): ``--force`` would delete it before it is read."""
    listed = {(p / line).resolve() for line in _manifest(p, command) or []}
    for raw in inputs:
        if raw is None:
            continue
        q = Path(raw).resolve()
        if q in listed or any(q == o.resolve() or o.resolve() in q.parents for pat in owned for o in p.glob(pat)):
            return str(raw)
    return None


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


PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the installed patchsim package: never an output


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: equal once resolved (symlinks followed), or hard links of it."""
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output_file(path: str | Path, option: str = "--out", inputs=(), sidecars=(), force: bool | None = None) -> Path:
    """``path`` as a file a command may write: not a folder or a special file (a FIFO, a device), not
    inside the installed patchsim package, and neither it nor its ``sidecars`` (files written beside
    it, e.g. a model card) one of the run's ``inputs`` (paths or None; symlinks and hard links
    included); its folder existing (or creatable) and writable; an existing file only with ``force``
    (``--force``; None: the caller decides). A one-line PatchsimError naming ``option`` otherwise,
    before any work."""
    p = Path(path)
    if p.is_dir():
        raise PatchsimError(f"{option} {p} is a folder; give a file name")
    if p.exists() and not p.is_file():
        raise PatchsimError(f"{option} {p} is not a regular file (a FIFO or a device); give a file name")
    if p.resolve() == PACKAGE_ROOT or PACKAGE_ROOT in p.resolve().parents:
        raise PatchsimError(f"{option} {p} lies inside the installed patchsim package ({PACKAGE_ROOT}); "
                            "write elsewhere (shipped files are never replaced by a run)")
    for s in sidecars:
        if Path(s).resolve() == p.resolve():
            raise PatchsimError(f"{option} {p}: the {Path(s).name} written beside it would replace it; give the file "
                                "another suffix")
    for out in (p, *(Path(s) for s in sidecars)):
        for raw in inputs:
            if raw is not None and _same_file(out, Path(raw)):
                what = "" if out == p else f" (its {out.name} beside it)"
                raise PatchsimError(f"{option} {p}{what} would overwrite {raw}, an input of this run; "
                                    "choose another output")
    if force is False and p.exists():
        raise PatchsimError(f"{option} {p} exists; pass --force to replace it, or choose another file")
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
                  resume: bool = False, force: bool = False, resumable: bool = False,
                  inputs: tuple = ()) -> Iterator[Path]:
    """Claim the folder ``path`` for ``command`` while the block runs.

    ``owned``: glob patterns of what the command writes there. A folder holding anything (orphaned
    temporary files aside, which are removed) is refused unless ``force`` (the files an earlier run of the
    command wrote, as its manifest ``.patchsim.manifest`` lists them, are then removed first; nothing
    else) or, for a ``resumable`` command, ``resume`` (kept as it is). ``inputs``: the run's input files;
    one that is among the folder's outputs is refused with ``force`` (it would be deleted before it is
    read). When the block ends the manifest records what this run wrote; when it fails, a resumable run
    keeps its files (and records them) while any other run removes the files it added, so a folder holds
    a complete run or none. The lock file
    ``.patchsim.lock`` (pid and command) keeps a second run out while this one writes; a lock left by a
    dead process is taken over."""
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
        held = sorted(q.name for q in p.iterdir() if q.name not in (LOCK, MANIFEST))
        if held and not (force or resume):
            hint = "--resume to continue it or --force to replace it" if resumable else "--force to replace it"
            raise PatchsimError(f"{option} {p} is not empty ({len(held)} entries: {', '.join(held[:3])}"
                                f"{', ...' if len(held) > 3 else ''}); pass {hint}, or choose another folder")
        if force and not resume:
            clash = _inside_outputs(p, command, inputs, owned)
            if clash is not None:
                raise PatchsimError(f"{clash} is an input of this run and one of the outputs {option} {p} --force "
                                    "would replace; copy it out of the folder first")
            _remove_own_outputs(p, command, owned)
        kept = (_manifest(p, command) or []) if resume else []
        before = _snapshot(p)
        try:
            yield p
        except BaseException:
            if resumable:  # a resumable run keeps what it wrote (its checkpoint) and says how to go on
                _write_manifest(p, command, before, kept)
            else:  # complete or nothing: a failed run takes back the files it added
                _remove_new_files(p, before)
            raise
        _write_manifest(p, command, before, kept)
    finally:
        lock.unlink(missing_ok=True)
        if created and not any(p.iterdir()):
            p.rmdir()  # a run that failed before writing anything leaves no folder behind


def writes_folder(command: str, owned: tuple[str, ...], resumable: bool = False, out_arg: str = "out", inputs=None):
    """Decorator for a job function with an ``out`` folder argument (and optional ``force`` and
    ``resume`` arguments): the folder is claimed by :func:`output_folder` for the whole call. ``inputs``:
    a function of the call's bound arguments (a dict) giving the run's input files, which ``--force``
    must not delete."""

    def wrap(fn):
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def run(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            a = bound.arguments
            with output_folder(a[out_arg], command, owned, resume=bool(a.get("resume", False)),
                               force=bool(a.get("force", False)), resumable=resumable,
                               inputs=tuple(inputs(a)) if inputs else ()):
                return fn(*args, **kwargs)

        return run

    return wrap
