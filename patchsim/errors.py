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
