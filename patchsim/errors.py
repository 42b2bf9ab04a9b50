"""Exception types raised by patchsim. Every user-facing failure is one of these, with a message
naming the offending input (file, field, value, what is allowed)."""


class PatchsimError(Exception):
    """Base class of all patchsim errors."""


class ShapeError(PatchsimError, ValueError):
    """A tensor has the wrong shape, dtype or contents (for example NaN)."""


class SceneError(PatchsimError, ValueError):
    """A scene file is missing, unreadable or has an invalid field."""


class SignNotVisibleError(PatchsimError):
    """The sign cannot be rendered for some conditions: it is behind the camera or wholly outside
    the frame. ``reasons`` maps batch index -> reason string."""

    def __init__(self, reasons: dict):
        self.reasons = dict(reasons)
        shown = ", ".join(f"#{i}: {r}" for i, r in list(self.reasons.items())[:8])
        more = "" if len(self.reasons) <= 8 else f" (and {len(self.reasons) - 8} more)"
        super().__init__(f"sign not visible in {len(self.reasons)} condition(s): {shown}{more}")


class Interrupted(PatchsimError):
    """A run stopped by Ctrl-C; ``resume``: it saved what it needs to continue with ``--resume``."""

    def __init__(self, message: str, resume: bool = False):
        super().__init__(message)
        self.resume = resume


class Terminated(BaseException):
    """SIGTERM outside a run's safe-stop points: unwinds like Ctrl-C (locks released, manifests written)
    and leaves with exit code 143. Not an Exception, so no handler swallows it."""


def failure_line(e: BaseException) -> str:
    """One line for a failure while running: what kind (file system, decoder, memory, JSON), the reason,
    and for anything unexpected the exception's type (``--verbose`` shows the traceback)."""
    import json

    text = " ".join(str(e).split()) or type(e).__name__
    if len(text) > 300:
        text = text[:297] + "..."
    if isinstance(e, OSError):
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        return f"file system: {e.strerror or text}{where}"
    if isinstance(e, MemoryError):
        return "out of memory"
    if isinstance(e, json.JSONDecodeError):
        return f"invalid JSON: {text}"
    if isinstance(e, UnicodeError):
        return f"cannot decode text: {text}"
    kind = type(e).__module__.split(".")[0]
    if kind in ("cv2", "av"):
        return f"{'OpenCV' if kind == 'cv2' else 'video codec'}: {text}"
    return f"unexpected {type(e).__name__}: {text} (run with --verbose for the traceback)"
